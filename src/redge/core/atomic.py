"""Atomic file output for every layer: write a temporary sibling, rename it over the target when complete.

A reader never sees a half-written file, and an interrupted job leaves the previous version in place. The finished
file gets the permissions a plain `open()` would give (mkstemp's 0600 is widened by the umask).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from redge.core.errors import RedgeInputError


def _default_mode() -> int:
    return 0o666 & ~_umask()


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


def check_output_path(path: str | Path, directory: bool) -> Path:
    """Fail before any compute when `path` cannot become the output: a regular file on the way to it, a file where
    a folder is wanted (or the reverse), or a folder that cannot be written. Returns `path` as a Path."""
    path = Path(path)
    if path.exists() and path.is_dir() != directory:
        raise RedgeInputError("is a directory; give a file name" if path.is_dir() else
                              "is a file; give a folder name", path)
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RedgeInputError(f"cannot write here: {ancestor} is a file, not a folder", path)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RedgeInputError(f"cannot write here: {ancestor} is not writable", path)
    return path


@contextmanager
def atomic_dir(path: str | Path, replaces: str) -> Iterator[Path]:
    """Yield a new temporary folder beside `path`; when the block completes it becomes `path`, so a set of files
    appears all at once or not at all (on failure the temporary folder is removed).

    An existing `path` is replaced only when it is empty or holds `replaces` (the marker file of an earlier output of
    the same kind, e.g. `report.md`): a folder of other files is never deleted, it is an input error."""
    path = check_output_path(path, directory=True)
    if path.exists() and any(path.iterdir()) and not (path / replaces).exists():
        raise RedgeInputError(f"exists and is not an earlier output (no {replaces}); choose another --out", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as exc:
        raise RedgeInputError(f"cannot write here ({exc.strerror or type(exc).__name__})", path) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
