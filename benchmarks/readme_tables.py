"""Render the README's measured tables and numbers from the JSON the benchmarks wrote, or check that they agree.

    python benchmarks/readme_tables.py            # rewrite every marked block of README.md from its JSON
    python benchmarks/readme_tables.py --check    # README untouched; exit 1 listing the blocks that differ

A marked block names its renderer (KIND, one function of `readme_render.py`) and its JSON source (a path relative to the
repository root, or a glob such as `checkpoints/*/eval.json`, which hands the renderer {path: JSON}):

    <!-- table: KIND (SOURCE) -->         lines up to the closing marker are the table
    <!-- /table -->
    <!-- value: KIND (SOURCE) -->text<!-- /value -->        a number inside prose
    <!-- value: KIND ARG ARG (SOURCE) -->text<!-- /value -->  the same, the renderer called with the ARGs
    <!-- unverified: WHAT -->             numbers with no JSON behind them yet: listed by --check, not checked

Exit status: 0 all blocks agree (or were rewritten), 1 some differ (--check), 2 bad input (a missing or invalid
JSON file, an unknown KIND, a marker left open), one line naming the file.
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readme_render import RENDERERS

from redge.core.atomic import atomic_write
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json

ROOT = Path(__file__).resolve().parent.parent

_OPEN = r"<!-- (?P<what>table|value): (?P<kind>[\w-]+)(?P<args>(?: [^\s()]+)*) \((?P<source>[^)]+)\) -->"
BLOCK_RE = re.compile(_OPEN + r"(?P<body>.*?)<!-- /(?P=what) -->", re.S)
OPEN_RE = re.compile(_OPEN)
UNVERIFIED_RE = re.compile(r"<!-- unverified: (?P<what>.*?) -->", re.S)


@dataclass(frozen=True)
class Block:
    """One marked block of the README: where its body is, and what it should be."""

    what: str  # "table" or "value"
    kind: str
    args: str
    source: str
    line: int
    start: int  # body span in the text
    end: int
    rendered: str

    @property
    def label(self) -> str:
        return f"{self.what} {self.kind}{self.args} ({self.source}), line {self.line}"


def load_source(root: Path, source: str) -> Any:
    """The parsed JSON named by a marker: one file, or {relative path: JSON} for a glob."""
    if any(c in source for c in "*?["):
        paths = sorted(root.glob(source))
        if not paths:
            raise RedgeInputError("no file matches this source", root / source)
        return {p.relative_to(root).as_posix(): read_json(p) for p in paths}
    return read_json(root / source)


def _body(what: str, text: str) -> str:
    """A table sits on its own lines between the markers (blank lines around it); a value is inline."""
    return f"\n\n{text}\n\n" if what == "table" else text


def find_blocks(text: str, root: Path, readme: Path) -> list[Block]:
    """Every marked block of `text` with its rendering from the JSON under `root`."""
    blocks = []
    for m in BLOCK_RE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        render = RENDERERS.get(m["kind"])
        if render is None:
            raise RedgeInputError(f"line {line}: unknown renderer {m['kind']!r} (known: {', '.join(RENDERERS)})",
                                  readme)
        try:
            rendered = render(load_source(root, m["source"]), *m["args"].split())
        except RedgeInputError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, StopIteration) as exc:
            raise RedgeInputError(f"lacks what the {m['kind']}{m['args']} renderer reads "
                                  f"({type(exc).__name__}: {exc})",
                                  root / m["source"]) from None
        blocks.append(Block(m["what"], m["kind"], m["args"], m["source"], line, m.start("body"), m.end("body"),
                            _body(m["what"], rendered)))
    opened = sum(1 for _ in OPEN_RE.finditer(text))
    if opened != len(blocks):
        raise RedgeInputError(f"{opened - len(blocks)} marker(s) opened but not closed", readme)
    return blocks


def _same(what: str, a: str, b: str) -> bool:
    """Whether a block's text equals its rendering (a table's surrounding blank lines do not count)."""
    return a.strip() == b.strip() if what == "table" else a == b


def render_text(text: str, root: Path, readme: Path) -> tuple[str, list[Block], list[Block]]:
    """`text` with every marked block re-rendered, all the blocks, and those whose text differed."""
    blocks = find_blocks(text, root, readme)
    stale = [b for b in blocks if not _same(b.what, text[b.start:b.end], b.rendered)]
    for b in reversed(blocks):
        text = text[:b.start] + b.rendered + text[b.end:]
    return text, blocks, stale


def diff(current: str, rendered: str) -> str:
    """The README's text against the rendering, as indented unified-diff lines."""
    lines = difflib.unified_diff(current.strip().splitlines(), rendered.strip().splitlines(), "README", "JSON",
                                 n=0, lineterm="")
    return "\n".join("    " + line for line in lines if not line.startswith("@@"))


def unverified(text: str) -> list[str]:
    """What the README marks as measured without JSON behind it."""
    return [" ".join(m["what"].split()) for m in UNVERIFIED_RE.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    """Render or check the README's marked blocks; the exit status as in the module docstring."""
    ap = argparse.ArgumentParser(description="Render (or --check) the README's measured tables from their JSON.")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 listing the blocks that differ")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md", help="Markdown file with marked blocks")
    ap.add_argument("--root", type=Path, default=None, help="folder the sources are relative to (default: README's)")
    args = ap.parse_args(argv)
    root = args.root or args.readme.resolve().parent
    try:
        try:
            text = args.readme.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RedgeInputError(f"cannot read ({type(exc).__name__})", args.readme) from None
        new, blocks, stale = render_text(text, root, args.readme)
    except RedgeInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = len(blocks)
    if args.check:
        for b in stale:
            print(f"differs from its JSON: {b.label}")
            print(diff(text[b.start:b.end], b.rendered))
        print(f"{total - len(stale)} of {total} marked blocks agree with their JSON")
    elif stale:
        atomic_write(args.readme, lambda f: f.write(new.encode("utf-8")))
        print(f"rewrote {len(stale)} of {total} marked blocks: " + ", ".join(b.label for b in stale))
    else:
        print(f"all {total} marked blocks already agree with their JSON")
    for what in unverified(text):
        print(f"unverified (no JSON yet): {what}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
