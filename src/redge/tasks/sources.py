"""Where the raw task data lives (the fetch cache, then the shared folder), and the HRM CSV layout
(``source,question,answer,rating``) reader."""
from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redge.core.atomic import atomic_path, atomic_write
from redge.core.errors import RedgeInputError

ENV_SHARED_DATA = "REDGE_SHARED_DATA"
ENV_DATA = "REDGE_DATA"


def shared_data_dir() -> Path:
    """The shared raw-data folder: ``$REDGE_SHARED_DATA``, else ``../shared/data`` beside the repository root."""
    env = os.environ.get(ENV_SHARED_DATA)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def cache_dir() -> Path:
    """The folder ``redge data fetch`` fills: ``$REDGE_DATA``, else ``redge/data`` in the user cache folder
    (``$XDG_CACHE_HOME``, default ``~/.cache``)."""
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "redge" / "data"


def raw_data(name: str) -> Path:
    """The folder of raw source `name` (a ``redge data fetch`` name, e.g. ``arc-agi-1``): the fetch cache first,
    then the shared folder. Missing from both: RedgeInputError saying which ``redge data fetch`` to run."""
    places = (cache_dir() / name, shared_data_dir() / name)
    for place in places:
        if place.is_dir():
            return place
    raise RedgeInputError(f"raw data '{name}' is not in {places[0]} nor {places[1]}; "
                          f"get it with `redge data fetch {name}`")


@dataclass
class PuzzleCSV:
    """Rows of an HRM-layout CSV; ``questions``/``answers`` are [N, L] uint8 character codes."""

    sources: list[str]
    questions: np.ndarray
    answers: np.ndarray
    ratings: np.ndarray


def read_puzzle_csv(path: str | Path) -> PuzzleCSV:
    """Read an HRM-layout CSV (plain or ``.gz``): header, then ``source,question,answer,rating`` rows.

    Every question and answer must have the same length (81 for Sudoku, 900 for a 30x30 maze).
    """
    path = Path(path)
    if not path.is_file():
        raise RedgeInputError("no such CSV file", path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fb:
        text = io.TextIOWrapper(fb, encoding="ascii", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["source", "question", "answer"]:
            raise RedgeInputError(f"header {header!r} is not 'source,question,answer,rating'", path)
        sources, qs, ans, ratings = [], [], [], []
        for line, row in enumerate(reader, start=2):
            if len(row) != 4:
                raise RedgeInputError(f"line {line}: expected 4 columns, got {len(row)}", path)
            if qs and (len(row[1]) != len(qs[0]) or len(row[2]) != len(qs[0])):
                raise RedgeInputError(f"line {line}: question/answer length {len(row[1])}/{len(row[2])}, expected "
                                      f"{len(qs[0])}", path)
            try:
                ratings.append(int(float(row[3])))
            except ValueError:
                raise RedgeInputError(f"line {line}: rating {row[3]!r} is not a number", path) from None
            sources.append(row[0])
            qs.append(row[1])
            ans.append(row[2])
    if not qs:
        raise RedgeInputError("no puzzle rows", path)
    if len(qs[0]) != len(ans[0]):
        raise RedgeInputError(f"line 2: question/answer lengths differ ({len(qs[0])}/{len(ans[0])})", path)
    length = len(qs[0])

    def to_codes(strings: list[str]) -> np.ndarray:
        return np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(len(strings), length)

    return PuzzleCSV(sources, to_codes(qs), to_codes(ans), np.asarray(ratings, dtype=np.int64))


def write_puzzle_csv(path: str | Path, sources: list[str], questions: list[str], answers: list[str],
                     ratings: list[int]) -> None:
    """Atomically write an HRM-layout CSV (header ``source,question,answer,rating``); gzip when `path` ends in
    ``.gz`` (with no timestamp, so the same rows give the same bytes)."""
    def write(f: io.TextIOBase) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["source", "question", "answer", "rating"])
        w.writerows(zip(sources, questions, answers, ratings))

    if Path(path).suffix != ".gz":
        atomic_write(path, write, mode="w")
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="ascii", newline="") as text:
        write(text)
