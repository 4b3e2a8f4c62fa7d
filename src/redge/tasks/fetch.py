"""``redge data fetch NAME``: the raw task data from its public origins, pinned, checked and cached.

Sources are data (:data:`SOURCES`): each names the files it downloads (a URL at a pinned git commit or Hugging Face
dataset revision), the sha256 of those bytes where they are known, and how they are unpacked into the source's
folder in the cache (:func:`redge.tasks.sources.cache_dir`). GitHub's generated archives are not byte-stable, so an
archive is checked by the digest of what is kept from it (:func:`tree_sha256`). The GitHub hashes were computed
from the files at the pinned commits (the copies in ``../shared/data`` are byte-equal to them). The Hugging Face
revisions are the datasets' commits, but their bytes could not be read from here, so those files are reported as
"not checked" rather than trusted to an unverified hash.

A fetch streams each file to a temporary folder beside the cache entry (with a progress bar), checks it, unpacks it,
and renames the folder into place: a cache entry appears whole or not at all, and a failed or interrupted fetch
leaves nothing behind. ``$REDGE_FETCH_BASE_URL`` replaces every origin by ``BASE/NAME/FILE`` (a mirror, or a
local server in tests); ``from_dir`` takes the files from a local copy instead. Nothing downloads on its own: only
:func:`fetch` (the explicit command) touches the network.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from redge.core.atomic import atomic_dir
from redge.core.errors import RedgeInputError
from redge.core.jsonio import write_json
from redge.core.progress import progress_bar
from redge.tasks.sources import cache_dir
from redge.tasks.tdoku import solve_lists

ENV_BASE_URL = "REDGE_FETCH_BASE_URL"
MANIFEST = "redge-fetch.json"
CHUNK = 1 << 16
TIMEOUT_S = 60


class FetchError(RedgeInputError):
    """A download that failed (HTTP error, redirect loop, unreachable host, interrupted, wrong bytes): one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class Download:
    """One file of a source. ``unpack`` "file" keeps it as ``name``; "zip" and "tar" extract, from inside the
    archive's single top folder (as GitHub archives have), each ``(archive folder, cache folder)`` of ``keep``."""

    name: str
    url: str
    sha256: str | None
    unpack: str = "file"
    keep: tuple[tuple[str, str], ...] = ()
    content_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.unpack not in ("file", "zip", "tar"):
            raise ValueError(f"{self.name}: unpack rule {self.unpack!r} is not file, zip or tar")


@dataclass(frozen=True)
class Source:
    """A raw data source: its cache folder name, origin, licence, downloads and an optional step that derives the
    files the builders read from the downloaded ones (``finish(folder, progress)``)."""

    name: str
    title: str
    origin: str
    licence: str
    downloads: tuple[Download, ...]
    finish: Callable[[Path, bool], object] | None = None


def _github_raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _derive_tdoku(folder: Path, progress: bool) -> None:
    solve_lists({name: folder / name for name in TDOKU_LISTS}, folder / "solved_rated.csv.gz", progress)


ARC_COMMIT = "399030444e0ab0cc8b4e199870fb20b863846f34"
CONCEPT_COMMIT = "b22ef526b4656679816b7811e78f55cc24d736d7"
TRM_COMMIT = "e7b68717f0a6c4cbb4ce6fbef787b14f42083bd9"
TDOKU_COPY_COMMIT = "9c4391b1ea32bb7a9587f668fa51f35473e68e24"
SUDOKU_EXTREME_REVISION = "58942f96baeb572ca3127e2a9e9c70f330783d6b"
MAZE_HARD_REVISION = "549754de3d67eebe57b6b22c7d226b9412d55b07"
TRM_KAGGLE = {
    "concept_challenges": "4e60bd1de956c2519c3236ba9f2c352c971d5971bfc568ceafa716dd9b1a91fd",
    "concept_solutions": "3ec5e95e416e49c85dac28475fc5b73f6998d13b7e91ff0219eee48881c327ee",
    "evaluation2_challenges": "e7c62a4bd211867c6b538f66b8013b81f299663c82ca062f49a52bf439d6e4e8",
    "evaluation2_solutions": "84be4f4f39b79e82c36d565fc878830988b094917f052ee7069aef30b33ca8f1",
    "evaluation_challenges": "2b05f8f7d33b73fdbefd69914c399e9409d1949c7f16aabc78e677443a64b208",
    "evaluation_solutions": "629622b0eecf42c6cb4da628955ef76ec43214f0d00081f8cf63082ade496c52",
    "training2_challenges": "779eaba89790ebad9af02514a7efc0aefaf2cf8236f046a31bbf8b9ec48f20f5",
    "training2_solutions": "9f07a38bd25af5e83aa5bf85c5cb1a1fefdb30f6a755256fa65429e697ca97f9",
    "training_challenges": "5b02a4753e9088134744d952b048a03f6f23abf4eb6c04e3f27822cf3d439634",
    "training_solutions": "47212ad04ef4211221ac6141cba8c8d425e20e90da90ace575ef286c5f992534",
}
TDOKU_LISTS = {
    "puzzles2_17_clue": "2cf268735dfd40d32269b5f20ebbea067037e5976b4d016ce0b4d3c0a50deb30",
    "puzzles5_forum_hardest_1905_11+": "56236eaf6c7445ea244db3423ec44a102349dbedf6e457af0fcdd3d07cf39996",
}


def _github_archive(repo: str, commit: str, keep: tuple[tuple[str, str], ...], content_sha256: str) -> Download:
    return Download(f"{repo.split('/')[1]}-{commit}.tar.gz", f"https://codeload.github.com/{repo}/tar.gz/{commit}",
                    None, "tar", keep, content_sha256)


def _hf_csvs(repo: str, revision: str) -> tuple[Download, ...]:
    return tuple(Download(f, f"https://huggingface.co/datasets/{repo}/resolve/{revision}/{f}", None)
                 for f in ("train.csv", "test.csv"))


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("arc-agi-1", "ARC-AGI-1: 400 training + 400 evaluation tasks",
           f"github fchollet/ARC-AGI@{ARC_COMMIT}", "Apache-2.0",
           (_github_archive("fchollet/ARC-AGI", ARC_COMMIT,
                            (("data/training", "training"), ("data/evaluation", "evaluation")),
                            "76e2360f6673093730676345fd3db8bf289be3f58179c002980a4e91ae0d9cda"),)),
    Source("conceptarc", "ConceptARC: 160 corpus + 16 minimal tasks",
           f"github victorvikram/ConceptARC@{CONCEPT_COMMIT}", "MIT",
           (_github_archive("victorvikram/ConceptARC", CONCEPT_COMMIT,
                            (("corpus", "corpus"), ("MinimalTasks", "MinimalTasks")),
                            "e8196ecf155cbaec6493be1d8314d7839dbccf5fea172c37eb93520a0aa8e802"),)),
    Source("trm-kaggle-combined", "TRM's Kaggle-format ARC files (ARC-AGI-1/2, concept): `data build arc` input",
           f"github SamsungSAILMontreal/TinyRecursiveModels@{TRM_COMMIT}",
           "MIT (repo); tasks Apache-2.0 (ARC-AGI) and MIT (ConceptARC)",
           tuple(Download(f"arc-agi_{part}.json",
                          _github_raw("SamsungSAILMontreal/TinyRecursiveModels", TRM_COMMIT,
                                      f"kaggle/combined/arc-agi_{part}.json"), sha)
                 for part, sha in TRM_KAGGLE.items())),
    Source("sudoku-tdoku-benchmarks", "tdoku's 17-clue and forum-hardest Sudoku lists, solved into HRM's CSV layout",
           f"tdoku data.zip lists (t-dillon/tdoku@af42618) as copied in github balmerdx/sudoku_pytorch@"
           f"{TDOKU_COPY_COMMIT}", "none stated (community collections; research use with attribution)",
           tuple(Download(name, _github_raw("balmerdx/sudoku_pytorch", TDOKU_COPY_COMMIT,
                                            f"data/{name.replace('+', '%2B')}"), sha)
                 for name, sha in TDOKU_LISTS.items()),
           _derive_tdoku),
    Source("sudoku-extreme", "HRM's Sudoku-Extreme train/test CSVs (`data build sudoku --csv-dir`)",
           f"huggingface sapientinc/sudoku-extreme@{SUDOKU_EXTREME_REVISION}", "none stated on the hub",
           _hf_csvs("sapientinc/sudoku-extreme", SUDOKU_EXTREME_REVISION)),
    Source("maze-30x30-hard-1k", "HRM's Maze-Hard train/test CSVs (`data build maze --csv-dir`)",
           f"huggingface sapientinc/maze-30x30-hard-1k@{MAZE_HARD_REVISION}", "none stated on the hub",
           _hf_csvs("sapientinc/maze-30x30-hard-1k", MAZE_HARD_REVISION)),
)}


def get_source(name: str) -> Source:
    """The source called `name`; an unknown name is a one-line error listing the known ones."""
    if name not in SOURCES:
        raise RedgeInputError(f"unknown data source '{name}' (known: {', '.join(SOURCES)})")
    return SOURCES[name]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: Path, folders: list[str]) -> str:
    """Digest of the files under `folders` of `root`: sha256 of the ``sha256sum``-style lines ("HASH  PATH") of
    every file, sorted by path. The shell equivalent, in `root`:
    ``find FOLDERS -type f | LC_ALL=C sort | xargs sha256sum | sha256sum``."""
    files = sorted((p.relative_to(root).as_posix(), p) for f in folders for p in (root / f).rglob("*") if p.is_file())
    lines = "".join(f"{file_sha256(p)}  {rel}\n" for rel, p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def is_cached(name: str, cache: Path | None = None) -> bool:
    """Whether source `name` is in the cache (a cache folder only ever appears complete)."""
    return ((cache or cache_dir()) / name).is_dir()


def list_sources(cache: Path | None = None) -> list[dict[str, Any]]:
    """Every source with its origin, licence, cache path and whether it is cached."""
    cache = cache or cache_dir()
    return [{"name": s.name, "title": s.title, "origin": s.origin, "licence": s.licence, "path": str(cache / s.name),
             "cached": is_cached(s.name, cache),
             "checked": "sha256" if all(d.sha256 or d.content_sha256 for d in s.downloads) else "not checked"}
            for s in SOURCES.values()]


def fetch(source: str | Source, cache: Path | None = None, from_dir: Path | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Put `source` (a name or a :class:`Source`) into the cache and return what was done.

    Already cached: nothing is downloaded. Otherwise each download comes from ``from_dir`` (a local copy: the
    downloaded files, or for an archive its unpacked folders) or from its URL (``$REDGE_FETCH_BASE_URL`` replaces
    the origin), is checked against its sha256, unpacked, and the finished folder is renamed into the cache.
    """
    src = get_source(source) if isinstance(source, str) else source
    cache = cache or cache_dir()
    dest = cache / src.name
    result: dict[str, Any] = {"name": src.name, "path": str(dest), "origin": src.origin}
    if dest.is_dir():
        return {**result, "fetched": False, "cached": True}
    if from_dir is not None and not from_dir.is_dir():
        raise RedgeInputError("no such folder (--from takes a folder holding a local copy)", from_dir)
    with atomic_dir(dest, replaces=MANIFEST) as work:  # a cache entry appears whole or not at all
        checks = {d.name: _obtain(src, d, work, from_dir, progress) for d in src.downloads}
        shutil.rmtree(work / ".download", ignore_errors=True)
        if src.finish is not None:
            src.finish(work, progress)
        write_json(work / MANIFEST, {"name": src.name, "origin": src.origin, "licence": src.licence,
                                     "files": {d.name: {"url": d.url, "sha256": d.sha256, "check": checks[d.name]}
                                               for d in src.downloads},
                                     "from": str(from_dir) if from_dir else None,
                                     "mirror": None if from_dir else os.environ.get(ENV_BASE_URL) or None,
                                     "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2)
    return {**result, "fetched": True, "cached": True, "checks": checks}


def _obtain(src: Source, d: Download, work: Path, from_dir: Path | None, progress: bool) -> str:
    """Bring one download into `work` (unpacked) and return its check: "sha256 ok" or "not checked"."""
    folders = [to for _, to in d.keep]
    if from_dir is not None and d.unpack != "file" and not (from_dir / d.name).is_file():
        missing = [f for f in folders if not (from_dir / f).is_dir()]
        if missing:
            raise RedgeInputError(f"has neither {d.name} nor the folders {', '.join(folders)}", from_dir)
        for f in folders:
            _copy_files(from_dir / f, work / f)
        return _check_content(src, d, work)
    raw = work / ".download" / d.name
    raw.parent.mkdir(exist_ok=True)
    if from_dir is not None:
        if not (from_dir / d.name).is_file():
            raise RedgeInputError(f"no file {d.name} (a local copy of {src.name} holds the files as downloaded)",
                                  from_dir)
        shutil.copyfile(from_dir / d.name, raw)
        where = str(from_dir / d.name)
    else:
        where = source_url(src, d)
        download(where, raw, f"{src.name}: {d.name}", progress)
    check = "not checked"
    if d.sha256 is not None:
        actual = file_sha256(raw)
        if actual != d.sha256:
            raise FetchError(f"{src.name}: {d.name} from {where} has sha256 {actual}, expected {d.sha256}")
        check = "sha256 ok"
    if d.unpack == "file":
        os.replace(raw, work / d.name)
    else:
        _unpack(raw, d, work)
        raw.unlink()
        check = _check_content(src, d, work) if d.content_sha256 else check
    return check


def _copy_files(origin: Path, target: Path) -> None:
    """Copy the regular files under `origin` to `target` (contents only: a read-only copy stays writable here)."""
    for path in sorted(origin.rglob("*")):
        if path.is_file():
            to = target / path.relative_to(origin)
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, to)


def _check_content(src: Source, d: Download, work: Path) -> str:
    if d.content_sha256 is None:
        return "not checked"
    actual = tree_sha256(work, [to for _, to in d.keep])
    if actual != d.content_sha256:
        raise FetchError(f"{src.name}: the files kept from {d.name} have content sha256 {actual}, "
                         f"expected {d.content_sha256}")
    return "content sha256 ok"


def source_url(src: Source, d: Download) -> str:
    """Where `d` is downloaded from: its origin URL, or ``$REDGE_FETCH_BASE_URL/NAME/FILE`` when that is set."""
    base = os.environ.get(ENV_BASE_URL)
    if not base:
        return d.url
    return f"{base.rstrip('/')}/{src.name}/{urllib.request.quote(d.name)}"


def download(url: str, path: Path, label: str, progress: bool = True) -> int:
    """Stream `url` into `path` with a progress bar and return its size; every failure (HTTP status, redirect
    loop, unreachable host, a body shorter than its Content-Length) is a one-line FetchError naming the URL."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "redge"}),
                                    timeout=TIMEOUT_S) as response, open(path, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else 0
            done = _copy(response, out, total, label, progress)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise FetchError(f"HTTP {exc.code}: a redirect loop or too many redirects from {url}") from None
        raise FetchError(f"HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url} ({exc.reason})") from None
    except (http.client.HTTPException, OSError) as exc:
        raise FetchError(f"download from {url} interrupted ({type(exc).__name__}: {exc})") from None
    if total and done != total:
        raise FetchError(f"download from {url} interrupted after {done} of {total} bytes")
    return done


def _copy(response: IO[bytes], out: IO[bytes], total: int, label: str, progress: bool) -> int:
    done = 0
    with progress_bar(label, total, progress) as advance:
        while block := response.read(CHUNK):
            out.write(block)
            done += len(block)
            advance(len(block))
    return done


def _unpack(archive: Path, d: Download, work: Path) -> None:
    """Extract the regular files under each kept archive folder (paths relative to the archive's top folder) into
    its cache folder; a member path that leaves its folder, or a kept folder the archive lacks, is an error."""
    try:
        members = _zip_members(archive) if d.unpack == "zip" else _tar_members(archive)
        found = set()
        for rel, read in members:
            parts = PurePosixPath(rel).parts[1:]  # below the single top folder
            if ".." in parts or PurePosixPath(rel).is_absolute():
                raise FetchError(f"{d.name}: archive member {rel!r} leaves the archive")
            inner = "/".join(parts)
            for origin, target in d.keep:
                if inner.startswith(origin + "/"):
                    to = work / target / inner[len(origin) + 1:]
                    to.parent.mkdir(parents=True, exist_ok=True)
                    with read() as fin, open(to, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                    found.add(origin)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise FetchError(f"{d.name}: not a readable {d.unpack} archive ({exc})") from None
    missing = [origin for origin, _ in d.keep if origin not in found]
    if missing:
        raise FetchError(f"{d.name}: archive has no files under {', '.join(missing)}")


def _tar_members(archive: Path) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    with tarfile.open(archive) as tar:
        for m in tar:
            if m.isfile():
                yield m.name, lambda m=m: tar.extractfile(m)


def _zip_members(archive: Path) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if not info.is_dir():
                yield info.filename, lambda info=info: z.open(info)
