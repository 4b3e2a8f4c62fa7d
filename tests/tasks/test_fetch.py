"""`redge data fetch` against a local HTTP server on 127.0.0.1 serving files the tests make (and, where the shared
data is present, the real sources' pins checked over HTTP)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from redge.core.errors import RedgeInputError
from redge.tasks import fetch as fetcher
from redge.tasks.fetch import Download, FetchError, Source, tree_sha256
from redge.tasks.sources import raw_data


class _Handler(SimpleHTTPRequestHandler):
    """Serves `directory`; /redirect/X answers 302 to /X, /loop redirects to itself, /truncated/X announces more
    bytes than it sends and closes the connection."""

    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.requests.append(self.path)
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/redirect"):])
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path.startswith("/truncated/"):
            body = (Path(self.directory) / self.path[len("/truncated/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 2))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
        else:
            super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


class Server:
    """A local HTTP server over `root`; `url(path)` addresses a file, `requests` records every GET."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"requests": self.requests})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    s = Server(root)
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("REDGE_DATA", str(path))
    monkeypatch.delenv(fetcher.ENV_BASE_URL, raising=False)
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entries(cache: Path) -> list[str]:
    """Everything in the cache folder, temporary folders included."""
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def _files_source(server: Server, sha_a: str | None = None, url_a: str = "a.txt") -> Source:
    (server.root / "a.txt").write_bytes(b"alpha\n")
    (server.root / "b.csv").write_bytes(b"source,question,answer,rating\n")
    return Source("toy", "two files", "test server", "none",
                  (Download("a.txt", server.url(url_a), sha_a or _sha(b"alpha\n")),
                   Download("b.csv", server.url("b.csv"), None)))


def _archive_tree(root: Path) -> dict[str, bytes]:
    files = {"data/train/t1.json": b'{"train": []}', "data/train/sub/t2.json": b"[1, 2]",
             "data/eval/e1.json": b'{"test": []}', "README.md": b"not kept"}
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
    return files


def _archive_source(server: Server, tmp_path: Path, kind: str) -> tuple[Source, bytes]:
    """A tar.gz or zip with one top folder (as GitHub makes them) and the source that keeps two of its folders."""
    files = _archive_tree(tmp_path / "tree")
    expected = tmp_path / "expected"
    for rel, body in files.items():
        if rel.startswith("data/"):
            (expected / rel.replace("data/train", "training").replace("data/eval", "evaluation")).parent.mkdir(
                parents=True, exist_ok=True)
            (expected / rel.replace("data/train", "training").replace("data/eval", "evaluation")).write_bytes(body)
    buf = io.BytesIO()
    if kind == "tar":
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(tmp_path / "tree", arcname="repo-abc123")
    else:
        with zipfile.ZipFile(buf, "w") as z:
            for rel, body in files.items():
                z.writestr(f"repo-abc123/{rel}", body)
    name = f"repo.{'tar.gz' if kind == 'tar' else 'zip'}"
    (server.root / name).write_bytes(buf.getvalue())
    keep = (("data/train", "training"), ("data/eval", "evaluation"))
    return Source("arch", "an archive", "test server", "none",
                  (Download(name, server.url(name), _sha(buf.getvalue()), kind, keep,
                            tree_sha256(expected, ["training", "evaluation"])),)), buf.getvalue()


def test_fetch_files_streams_checks_and_caches(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars: list[tuple[str, int, bool, list[int]]] = []
    real_bar = fetcher.progress_bar

    @contextmanager
    def recording_bar(label: str, total: int, enabled: bool = True):  # noqa: ANN202
        steps: list[int] = []
        bars.append((label, total, enabled, steps))
        with real_bar(label, total, enabled) as advance:
            yield lambda n=1: (steps.append(n), advance(n))

    monkeypatch.setattr(fetcher, "progress_bar", recording_bar)
    out = fetcher.fetch(_files_source(server), progress=True)
    assert [(label, total, enabled, sum(steps)) for label, total, enabled, steps in bars] == [
        ("toy: a.txt", 6, True, 6), ("toy: b.csv", 30, True, 30)]
    entry = cache / "toy"
    assert out["fetched"] and out["checks"] == {"a.txt": "sha256 ok", "b.csv": "not checked"}
    assert (entry / "a.txt").read_bytes() == b"alpha\n" and (entry / "b.csv").is_file()
    manifest = json.loads((entry / fetcher.MANIFEST).read_text())
    assert manifest["files"]["b.csv"]["check"] == "not checked" and manifest["files"]["a.txt"]["sha256"]
    assert _entries(cache) == ["toy"]  # no temporary folder left
    assert sorted(p.name for p in entry.iterdir()) == ["a.txt", "b.csv", fetcher.MANIFEST]


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_fetch_archive_keeps_folders_and_checks_content(server: Server, cache: Path, tmp_path: Path,
                                                        kind: str) -> None:
    source, _ = _archive_source(server, tmp_path, kind)
    out = fetcher.fetch(source, progress=False)
    entry = cache / "arch"
    assert out["checks"] == {source.downloads[0].name: "content sha256 ok"}
    assert (entry / "training" / "sub" / "t2.json").read_bytes() == b"[1, 2]"
    assert (entry / "evaluation" / "e1.json").is_file() and not (entry / "README.md").exists()
    assert sorted(p.name for p in entry.iterdir()) == ["evaluation", fetcher.MANIFEST, "training"]


def test_archive_content_mismatch_leaves_nothing(server: Server, cache: Path, tmp_path: Path) -> None:
    source, _ = _archive_source(server, tmp_path, "tar")
    d = source.downloads[0]
    bad = Source("arch", "", "", "", (Download(d.name, d.url, None, d.unpack, d.keep, "0" * 64),))
    with pytest.raises(FetchError, match="content sha256 .* expected 0{64}"):
        fetcher.fetch(bad, progress=False)
    assert _entries(cache) == []


def test_archive_member_leaving_its_folder_is_refused(server: Server, cache: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("repo/data/train/ok.json", b"{}")
        z.writestr("repo/data/train/../../../../evil.txt", b"x")
    (server.root / "evil.zip").write_bytes(buf.getvalue())
    source = Source("evil", "", "", "", (Download("evil.zip", server.url("evil.zip"), None, "zip",
                                                  (("data/train", "training"),)),))
    with pytest.raises(FetchError, match="leaves the archive"):
        fetcher.fetch(source, progress=False)
    assert _entries(cache) == [] and not (tmp_path / "evil.txt").exists()


def test_checksum_mismatch_names_source_and_both_hashes(server: Server, cache: Path) -> None:
    wrong = "f" * 64
    with pytest.raises(FetchError) as err:
        fetcher.fetch(_files_source(server, sha_a=wrong), progress=False)
    message = str(err.value)
    assert "toy" in message and wrong in message and _sha(b"alpha\n") in message and "\n" not in message
    assert _entries(cache) == []


def test_http_404_is_one_line_and_leaves_nothing(server: Server, cache: Path) -> None:
    with pytest.raises(FetchError, match=r"^HTTP 404 .* from http://127\.0\.0\.1:\d+/missing\.txt$"):
        fetcher.fetch(_files_source(server, url_a="missing.txt"), progress=False)
    assert _entries(cache) == []


def test_redirect_is_followed_and_a_loop_is_one_line(server: Server, cache: Path) -> None:
    assert fetcher.fetch(_files_source(server, url_a="redirect/a.txt"), progress=False)["fetched"]
    assert "/redirect/a.txt" in server.requests and "/a.txt" in server.requests
    loop = Source("loop", "", "", "", (Download("x", server.url("loop"), None),))
    with pytest.raises(FetchError, match=r"^HTTP 30\d: a redirect loop or too many redirects from .*/loop$"):
        fetcher.fetch(loop, progress=False)
    assert _entries(cache) == ["toy"]


def test_unreachable_host_is_one_line(cache: Path) -> None:
    source = Source("gone", "", "", "", (Download("x", "http://127.0.0.1:9/x", None),))
    with pytest.raises(FetchError, match=r"^cannot reach http://127\.0\.0\.1:9/x"):
        fetcher.fetch(source, progress=False)
    assert _entries(cache) == []


def test_already_cached_downloads_nothing(server: Server, cache: Path) -> None:
    source = _files_source(server)
    fetcher.fetch(source, progress=False)
    before = len(server.requests)
    out = fetcher.fetch(source, progress=False)
    assert out == {"name": "toy", "path": str(cache / "toy"), "origin": "test server", "fetched": False,
                   "cached": True}
    assert len(server.requests) == before


def test_interrupted_download_leaves_no_partial_entry(server: Server, cache: Path) -> None:
    with pytest.raises(FetchError, match="interrupted"):
        fetcher.fetch(_files_source(server, url_a="truncated/a.txt"), progress=False)
    assert _entries(cache) == []
    assert not fetcher.is_cached("toy")


def test_interrupted_by_the_user_leaves_no_partial_entry(server: Server, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def copy_then_stop(response, out, total, label, progress):  # noqa: ANN001 (stands in for fetch._copy)
        out.write(response.read(3))
        raise KeyboardInterrupt

    monkeypatch.setattr(fetcher, "_copy", copy_then_stop)
    with pytest.raises(KeyboardInterrupt):
        fetcher.fetch(_files_source(server), progress=False)
    assert _entries(cache) == []


def test_from_dir_copies_and_verifies(server: Server, cache: Path, tmp_path: Path) -> None:
    source = _files_source(server)
    local = tmp_path / "usb"
    local.mkdir()
    (local / "a.txt").write_bytes(b"alpha\n")
    (local / "b.csv").write_bytes(b"x\n")
    out = fetcher.fetch(source, from_dir=local, progress=False)
    assert out["checks"]["a.txt"] == "sha256 ok" and server.requests == []
    assert (cache / "toy" / "b.csv").read_bytes() == b"x\n"
    assert json.loads((cache / "toy" / fetcher.MANIFEST).read_text())["from"] == str(local)


def test_from_dir_wrong_bytes_or_missing_file(server: Server, cache: Path, tmp_path: Path) -> None:
    source = _files_source(server)
    local = tmp_path / "usb"
    local.mkdir()
    (local / "a.txt").write_bytes(b"tampered\n")
    (local / "b.csv").write_bytes(b"x\n")
    with pytest.raises(FetchError, match=f"has sha256 {_sha(b'tampered' + bytes([10]))}"):
        fetcher.fetch(source, from_dir=local, progress=False)
    (local / "a.txt").unlink()
    with pytest.raises(RedgeInputError, match="usb: no file a.txt"):
        fetcher.fetch(source, from_dir=local, progress=False)
    with pytest.raises(RedgeInputError, match="nowhere: no such folder"):
        fetcher.fetch(source, from_dir=tmp_path / "nowhere", progress=False)
    assert _entries(cache) == []


@pytest.mark.parametrize("layout", ["archive", "unpacked"])
def test_from_dir_takes_an_archive_or_its_unpacked_folders(server: Server, cache: Path, tmp_path: Path,
                                                           layout: str) -> None:
    source, archive = _archive_source(server, tmp_path, "tar")
    local = tmp_path / "usb"
    if layout == "archive":
        local.mkdir()
        (local / source.downloads[0].name).write_bytes(archive)
    else:
        (tmp_path / "expected").rename(local)
    out = fetcher.fetch(source, from_dir=local, progress=False)
    assert out["checks"] == {source.downloads[0].name: "content sha256 ok"} and server.requests == []
    assert (cache / "arch" / "training" / "t1.json").is_file()


def test_base_url_override_serves_the_real_pinned_sources(server: Server, cache: Path, shared_data: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The real pins: TRM's files (sha256 of each) and ARC-AGI-1 (content sha256 of an archive laid out as GitHub's),
    made from the shared copies and fetched over HTTP through $REDGE_FETCH_BASE_URL."""
    trm = server.root / "trm-kaggle-combined"
    trm.mkdir()
    for d in fetcher.SOURCES["trm-kaggle-combined"].downloads:
        (trm / d.name).write_bytes((shared_data / "trm-kaggle-combined" / d.name).read_bytes())
    arc = fetcher.SOURCES["arc-agi-1"].downloads[0]
    (server.root / "arc-agi-1").mkdir()
    with tarfile.open(server.root / "arc-agi-1" / arc.name, "w:gz") as tar:
        for folder in ("training", "evaluation"):
            tar.add(shared_data / "arc-agi-1" / folder, arcname=f"ARC-AGI-{fetcher.ARC_COMMIT}/data/{folder}")
    monkeypatch.setenv(fetcher.ENV_BASE_URL, server.url())
    assert set(fetcher.fetch("trm-kaggle-combined", progress=False)["checks"].values()) == {"sha256 ok"}
    assert fetcher.fetch("arc-agi-1", progress=False)["checks"] == {arc.name: "content sha256 ok"}
    assert len(list((cache / "arc-agi-1" / "training").glob("*.json"))) == 400
    assert raw_data("trm-kaggle-combined") == cache / "trm-kaggle-combined"


def test_list_shows_sources_and_cached_state(cache: Path, tmp_path: Path) -> None:
    (cache / "conceptarc").mkdir(parents=True)
    rows = {r["name"]: r for r in fetcher.list_sources()}
    assert set(rows) == {"arc-agi-1", "conceptarc", "trm-kaggle-combined", "sudoku-tdoku-benchmarks",
                         "sudoku-extreme", "maze-30x30-hard-1k"}
    assert rows["conceptarc"]["cached"] and not rows["arc-agi-1"]["cached"]
    assert rows["sudoku-extreme"]["checked"] == "not checked" and rows["trm-kaggle-combined"]["checked"] == "sha256"
    for s in fetcher.SOURCES.values():  # pinned: a 40-hex commit or revision in every URL
        for d in s.downloads:
            assert any(len(part) >= 40 and all(c in "0123456789abcdef" for c in part[-40:])
                       for part in d.url.replace("/", " ").replace("-", " ").split()), d.url


def test_cli_fetch_json_and_errors(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from redge.cli import main

    (server.root / "maze-30x30-hard-1k").mkdir()
    for split in ("train", "test"):
        (server.root / "maze-30x30-hard-1k" / f"{split}.csv").write_text("source,question,answer,rating\n")
    monkeypatch.setenv(fetcher.ENV_BASE_URL, server.url())
    assert main(["data", "fetch", "maze-30x30-hard-1k", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fetched"] and out["checks"] == {"train.csv": "not checked", "test.csv": "not checked"}
    assert main(["data", "fetch", "--json"]) == 0
    listed = {r["name"]: r["cached"] for r in json.loads(capsys.readouterr().out)["sources"]}
    assert listed["maze-30x30-hard-1k"] and not listed["sudoku-extreme"]
    assert main(["data", "fetch", "sudoku-extreme", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("redge: error: HTTP 404") and err.count("\n") == 1
    assert main(["data", "fetch", "no-such-source"]) == 2
    assert "unknown data source 'no-such-source'" in capsys.readouterr().err
    assert _entries(cache) == ["maze-30x30-hard-1k"]


def test_builders_look_in_the_cache_then_shared_then_say_what_to_fetch(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from redge.tasks import arc, sudoku

    cache, shared = tmp_path / "cache", tmp_path / "shared"
    monkeypatch.setenv("REDGE_DATA", str(cache))
    monkeypatch.setenv("REDGE_SHARED_DATA", str(shared))
    with pytest.raises(RedgeInputError, match=r"`redge data fetch sudoku-tdoku-benchmarks`"):
        sudoku.default_source()
    with pytest.raises(RedgeInputError, match=r"`redge data fetch trm-kaggle-combined`"):
        arc.default_kaggle_prefix()
    (shared / "trm-kaggle-combined").mkdir(parents=True)
    assert arc.default_kaggle_prefix() == shared / "trm-kaggle-combined" / "arc-agi"
    (cache / "trm-kaggle-combined").mkdir(parents=True)
    assert arc.default_kaggle_prefix() == cache / "trm-kaggle-combined" / "arc-agi"


def test_tdoku_lists_are_solved_into_the_csv_layout(tmp_path: Path, shared_data: Path) -> None:
    """Real puzzles of both lists, written as tdoku lists (comments, CRLF): the solved rows equal the shared CSV's."""
    from redge.tasks.sources import read_puzzle_csv
    from redge.tasks.tdoku import solve_lists

    with gzip.open(shared_data / "sudoku-tdoku-benchmarks" / "solved_rated.csv.gz", "rt") as f:
        rows = [line.rstrip("\n").split(",") for line in f][1:]
    picked = {"puzzles2_17_clue": rows[:40], "puzzles5_forum_hardest_1905_11+": rows[-40:]}
    lists = {}
    for name, body in picked.items():
        lists[name] = tmp_path / name
        lists[name].write_bytes(("# a comment\r\n" + "".join(r[1] + "\r\n" for r in body)).encode())
    assert solve_lists(lists, tmp_path / "out.csv.gz", progress=False) == 80
    got = read_puzzle_csv(tmp_path / "out.csv.gz")
    want = picked["puzzles2_17_clue"] + picked["puzzles5_forum_hardest_1905_11+"]
    assert got.sources == [r[0] for r in want]
    assert [q.tobytes().decode() for q in got.questions] == [r[1] for r in want]
    assert [a.tobytes().decode() for a in got.answers] == [r[2] for r in want]
    assert (got.ratings >= 0).all() and got.ratings[40:].mean() > got.ratings[:40].mean()
    before = (tmp_path / "out.csv.gz").read_bytes()
    solve_lists(lists, tmp_path / "out.csv.gz", progress=False)
    assert (tmp_path / "out.csv.gz").read_bytes() == before  # deterministic bytes


def test_tdoku_lists_of_generated_puzzles_are_solved(tmp_path: Path) -> None:
    """Without the shared data: generated unique puzzles in list form come back with their solutions."""
    import numpy as np

    from redge.tasks.generate import generate_sudoku
    from redge.tasks.sources import read_puzzle_csv
    from redge.tasks.tdoku import solve_lists

    puzzles, solutions = generate_sudoku(12, np.random.default_rng(3))
    (tmp_path / "gen").write_text("#  generated\n" + "".join("".join(map(str, p)) + "\n" for p in puzzles))
    assert solve_lists({"gen": tmp_path / "gen"}, tmp_path / "out.csv", progress=False) == 12
    got = read_puzzle_csv(tmp_path / "out.csv")
    assert (got.answers - ord("0") == solutions).all() and got.sources == ["gen"] * 12
    assert (np.where(got.questions == ord("."), 0, got.questions - ord("0")) == puzzles).all()


def test_tdoku_bad_lists_are_one_line_errors(tmp_path: Path) -> None:
    from redge.tasks.tdoku import solve_lists

    bad = tmp_path / "bad"
    bad.write_text("# header\n" + "1" * 80 + "\n")
    with pytest.raises(RedgeInputError, match=r"bad: line 2: not a puzzle of 81 cells"):
        solve_lists({"bad": bad}, tmp_path / "o.csv", progress=False)
    two = tmp_path / "two"
    two.write_text("." * 81 + "\n")
    with pytest.raises(RedgeInputError, match="more than one solution"):
        solve_lists({"two": two}, tmp_path / "o.csv", progress=False)
    assert not (tmp_path / "o.csv").exists()
