"""A campaign session resumed after a lost machine: `scripts/device_resume.sh` makes the weights the last poll brought
back the next start's warm start (and `device_prep.sh restore` puts the committed ones back), and
`scripts/campaign_commit.py --earlier` folds the lost segment and the resumed one into one version whose totals
count both."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _segment(where: Path, last_step: int, saved_step: int, saved_minutes: float, evaluated: bool) -> Path:
    """A campaign folder as a poll brings it back: a curve every 50 steps, the weights of the last checkpoint."""
    session = where / "c"
    _write_rows(session / "run" / "curve.jsonl",
                [{"step": step, "minutes": step / 100} for step in range(50, last_step + 1, 50)])
    weights = session / "run" / "ema"
    weights.mkdir(parents=True)
    shutil.copy(TINY / "model-00001-of-00001.safetensors", weights)
    config = json.loads((TINY / "config.json").read_text())
    config["metadata"] = {"step": saved_step, "train_minutes": saved_minutes, "weights": "ema 0.999"}
    (weights / "config.json").write_text(json.dumps(config, indent=2))
    if evaluated:
        for kind in ("ema", "model"):
            (session / f"eval-{kind}-hard.json").write_text(json.dumps(
                {"depths": {"16": {"exact_accuracy": 0.5, "count": 10}}}))
    return session


def poll_files(session: Path, files: Path, part: str = "c") -> Path:
    """The `part`.tgz.* files a poll would have brought back into `files` with `session` as that part's folder."""
    files.mkdir(exist_ok=True)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(session, arcname=part)
    blob = archive.getvalue()
    (files / f"{part}.tgz.aa").write_bytes(blob[: len(blob) // 2])  # split as the poll splits it
    (files / f"{part}.tgz.ab").write_bytes(blob[len(blob) // 2:])
    return files


def _fold(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "campaign_commit.py"), *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=120)


def test_a_lost_segment_and_its_resumption_fold_into_one_version(tmp_path: Path) -> None:
    committed = shutil.copytree(TINY, tmp_path / "committed")  # its metadata: 436 steps, 2.53 minutes
    before = [json.loads(line) for line in (committed / "curve.jsonl").read_text().splitlines() if line.strip()]
    lost = _segment(tmp_path / "lost", last_step=400, saved_step=210, saved_minutes=2.1, evaluated=False)
    final = _segment(tmp_path / "final", last_step=300, saved_step=320, saved_minutes=3.2, evaluated=True)

    fold = _fold(str(final), str(committed), "--earlier", str(lost), "--version", "2", "--weights", "ema",
                 "--device", "cpu")
    assert fold.returncode == 0, fold.stdout + fold.stderr

    rows = [json.loads(line) for line in (committed / "curve.jsonl").read_text().splitlines() if line.strip()]
    assert rows[:len(before)] == before
    added = rows[len(before):]
    last_before = before[-1]
    start = last_before.get("total_step", last_before["step"]) - last_before["step"] + 436
    lost_rows, resumed_rows = added[:4], added[4:]  # the lost run's rows up to its saved step 210: 50..200
    assert [row["step"] for row in lost_rows] == [50, 100, 150, 200]
    assert [row["total_step"] for row in lost_rows] == [start + 50, start + 100, start + 150, start + 200]
    assert [row["step"] for row in resumed_rows] == [50, 100, 150, 200, 250, 300]
    assert resumed_rows[0]["total_step"] == start + 210 + 50  # continues from the weights it resumed from
    assert all(row["version"] == 2 for row in added)
    metadata = json.loads((committed / "config.json").read_text())["metadata"]
    assert metadata["step"] == 320 + 210 and abs(metadata["train_minutes"] - 5.3) < 1e-9

    again = _fold(str(final), str(committed), "--version", "2", "--weights", "ema", "--device", "cpu")
    assert again.returncode != 0 and "already in the curve" in again.stdout + again.stderr

    # the next version starts where the resumed one ended: 210 + 320 steps after its start, not counting the lost
    # segment twice (its last row's offset already includes the 210)
    following = _segment(tmp_path / "following", last_step=100, saved_step=120, saved_minutes=1.2, evaluated=True)
    fold = _fold(str(following), str(committed), "--version", "3", "--weights", "ema", "--device", "cpu")
    assert fold.returncode == 0, fold.stdout + fold.stderr
    rows = [json.loads(line) for line in (committed / "curve.jsonl").read_text().splitlines() if line.strip()]
    assert [row["total_step"] for row in rows if row.get("version") == 3] == [start + 530 + 50, start + 530 + 100]


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tree, check=True,
                          capture_output=True, text=True).stdout


def test_device_resume_swaps_in_the_returned_weights_and_restore_puts_the_committed_back(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", tree / "scripts")
    shutil.copytree(TINY, tree / "checkpoints" / "tiny")
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-qm", "tree")
    committed_config = (tree / "checkpoints" / "tiny" / "config.json").read_text()
    env = {**os.environ, "STASH": str(tmp_path / "stash")}

    def resume(files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "scripts/device_resume.sh", str(files), "tiny"], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=60)

    empty = tmp_path / "empty"
    empty.mkdir()
    refused = resume(empty)
    assert refused.returncode != 0 and "no c.tgz" in refused.stdout + refused.stderr

    early = _segment(tmp_path / "early", last_step=100, saved_step=50, saved_minutes=0.5, evaluated=False)
    shutil.rmtree(early / "run" / "ema")  # lost before its first checkpoint: no weights came back
    refused = resume(poll_files(early, tmp_path / "early-files"))
    assert refused.returncode != 0 and "no weights came back yet" in refused.stdout + refused.stderr
    assert not (tree / "runs" / "resume" / "segment-1").exists()

    lost = _segment(tmp_path / "lost", last_step=400, saved_step=210, saved_minutes=2.1, evaluated=False)
    files = poll_files(lost, tmp_path / "files")
    done = resume(files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "step 210" in done.stdout and "segment-1" in done.stdout
    checkpoint = tree / "checkpoints" / "tiny"
    assert json.loads((checkpoint / "config.json").read_text())["metadata"]["step"] == 210
    assert (checkpoint / "eval.json").read_text() == (TINY / "eval.json").read_text()  # the bar to beat stays
    assert (tree / "runs" / "resume" / "segment-1" / "c" / "run" / "curve.jsonl").is_file()

    second = resume(files)  # a second lost machine: its own segment, the committed copy kept from the first
    assert second.returncode == 0 and "segment-2" in second.stdout, second.stdout + second.stderr

    restore = subprocess.run(["bash", "scripts/device_prep.sh", "restore"], cwd=tree, env=env, capture_output=True,
                             text=True, timeout=60)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert (checkpoint / "config.json").read_text() == committed_config
    assert not list((tmp_path / "stash").glob(".resumed-*"))


def _hard_eval(session: Path, exact: float) -> None:
    for kind in ("ema", "model"):
        (session / f"eval-{kind}-hard.json").write_text(json.dumps(
            {"depths": {"16": {"exact_accuracy": exact if kind == "ema" else exact / 2, "count": 1000}}}))


def test_device_land_commits_a_better_session_as_the_next_version_and_only_then(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", tree / "scripts")
    checkpoint = shutil.copytree(TINY, tree / "checkpoints" / "tiny")
    (checkpoint / "eval.json").write_text(json.dumps(
        {"version": 3, "committed_weights": "ema", "ema/hard": {"16": {"exact_accuracy": 0.30, "count": 1000}}}))
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-qm", "tree")
    env = {**os.environ, "STASH": str(tmp_path / "stash"), "PYTHONPATH": str(ROOT / "src"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def land(files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "scripts/device_land.sh", str(files), "tiny"], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=120)

    weaker = _segment(tmp_path / "weaker", last_step=100, saved_step=100, saved_minutes=1.0, evaluated=False)
    _hard_eval(weaker, 0.31)  # +1 point: below the campaign's 2
    kept = land(poll_files(weaker, tmp_path / "weaker-files"))
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "nothing to commit" in kept.stdout and "no new version" in kept.stdout
    assert json.loads((checkpoint / "eval.json").read_text())["version"] == 3
    assert _git(tree, "rev-list", "--count", "HEAD").strip() == "1"

    better = _segment(tmp_path / "better", last_step=100, saved_step=100, saved_minutes=1.0, evaluated=False)
    _hard_eval(better, 0.33)
    landed = land(poll_files(better, tmp_path / "better-files"))
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert json.loads((checkpoint / "eval.json").read_text())["version"] == 4
    assert json.loads((checkpoint / "eval.json").read_text())["ema/hard"]["16"]["exact_accuracy"] == 0.33
    assert "tiny version 4 (ema weights)" in _git(tree, "log", "-1", "--format=%s")
    assert _git(tree, "status", "--porcelain", "checkpoints").strip() == ""  # the new version is committed

    refused = land(tmp_path / "nowhere")
    assert refused.returncode != 0 and "no c.tgz" in refused.stdout + refused.stderr
