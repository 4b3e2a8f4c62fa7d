"""Atomic file output for every layer: write a temporary sibling, rename it over the target when complete.

A reader never sees a half-written file, and an interrupted job leaves the previous version in place. The finished
file gets the permissions a plain `open()` would give (mkstemp's 0600 is widened by the umask).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from redge.core.errors import RedgeInputError


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; whatever is written there replaces `path` if the block completes.

    For writers that take a file name (safetensors, matplotlib, numpy memmaps). An unwritable destination is bad
    user input: RedgeInputError naming the path.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise RedgeInputError(f"cannot write here ({exc.strerror or type(exc).__name__})", path) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file handle (`mode` "wb" or "w") whose content replaces `path` only if the block completes."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], mode: str = "wb") -> None:
    """Write `path` atomically through `write(file_handle)`."""
    with atomic_open(path, mode) as fh:
        write(fh)
