"""A whole device session on the CPU, as the lent GPU runs it: `scripts/session_chain.sh start` (training from the
warm start, then its evaluation), `add` (the study's other checkpoint), `scripts/device_poll.sh` until the chain is
done (the study, the profile), what comes back unpacked, and folded into a checkpoint (`campaign_commit.py`). The
chain lives in its own folder ($CHAIN_ROOT), so nothing here touches /tmp's real chain; a device session that fails
on the GPU has then failed on the CPU first."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "sudoku-easy"


def _tree(where: Path) -> Path:
    """The working tree a device call receives: the code, the tests the chain runs, the sample data as both Sudoku
    sets, the shipped tiny checkpoint as the study's other and as the campaign's warm start (named like its config),
    which comes by ferry (`ferry/` beside the tree, `FERRY_ROOT`) while the tree holds its emptied folder, as on the
    device when `device_prep.sh prepare --ferry` has moved the committed files out."""
    for name in ("src", "scripts", "benchmarks", "tests", "data"):
        shutil.copytree(ROOT / name, where / name, ignore=shutil.ignore_patterns("__pycache__"))
    (where / "checkpoints" / "tiny").mkdir(parents=True)
    shutil.copytree(ROOT / "checkpoints" / "tiny-trm-mlp-sudoku", where.parent / "ferry" / "tiny")
    shutil.copytree(ROOT / "checkpoints" / "tiny-trm-mlp-sudoku", where / "runs/ckpt-study/tiny-trm-mlp-sudoku")
    for name in ("sudoku-gen", "sudoku-hard"):
        shutil.copytree(SAMPLE, where / "runs" / "refdata" / name)
    return where


def _unpack(out: Path, name: str, into: Path) -> Path:
    parts = sorted(out.glob(f"{name}.tgz.*"))
    assert parts, f"nothing came back for {name}: {sorted(p.name for p in out.iterdir())}"
    with tarfile.open(fileobj=BytesIO(b"".join(p.read_bytes() for p in parts)), mode="r:gz") as tar:
        tar.extractall(into, filter="data")
    return into / name


def _group_alive(group: int, seconds: float = 10.0) -> bool:
    """Whether process group `group` still has a member after waiting up to `seconds` for it to empty."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.slow
def test_a_device_session_runs_on_the_cpu_and_brings_back_its_results(tmp_path: Path) -> None:
    tree, chain, out = _tree(tmp_path / "tree"), tmp_path / "chain", tmp_path / "out"
    chain.mkdir()
    out.mkdir()
    env = {**os.environ, "CHAIN_ROOT": str(chain), "DEVICE": "cpu", "OUT": str(out),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "LIMIT": "6", "CPU_PUZZLES": "2",
           "METHODS": "fp32", "AUTOCOMPRESS": "", "PROFILE_STEPS": "4",
           "FINETUNES": "traj", "FINETUNE_MINUTES": "0.05", "FT_CONFIG": "tiny",
           "EARLY_STAGES": "cuda-tests", "STAGES": "finetunes claims sweeps sweep-rate autocompress",
           "EVAL_SETS": f"hard={chain}/refdata/sudoku-hard", "DATA": f"{chain}/refdata/sudoku-gen",
           "FERRY_ROOT": str(tmp_path / "ferry")}

    def bash(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)

    try:
        refdata = chain / "refdata"
        args = ("scripts/session_chain.sh", "start", "tiny", "0.05", "--set", f"data=[{refdata}/sudoku-gen]",
                "--set", "eval_data={}", "--set", "global_batch_size=16", "--set", "log_every=2")
        first = bash(*args)
        assert first.returncode == 0 and '"step": 2' in first.stdout, first.stdout + first.stderr
        first_group = int((chain / "chain.pgid").read_text())
        start = bash(*args)  # a restart: the first chain and every process under it stop
        assert start.returncode == 0 and '"step": 2' in start.stdout, start.stdout + start.stderr  # a live row
        assert not _group_alive(first_group)
        add = bash("scripts/session_chain.sh", "add", "runs/ckpt-study/tiny-trm-mlp-sudoku")
        assert f"checkpoint {chain}/ckpt/tiny-trm-mlp-sudoku" in add.stdout, add.stdout + add.stderr
        poll = bash("scripts/device_poll.sh", "600", timeout=700)
        assert "chain done: yes" in poll.stdout, poll.stdout + poll.stderr
    finally:
        subprocess.run(["pkill", "-f", str(chain)], check=False)

    campaign = _unpack(out, "c", tmp_path / "back")
    assert "train exit 0" in (campaign / "status").read_text()
    evaluation = json.loads((campaign / "eval-model-hard.json").read_text())
    assert evaluation["depths"]["16"]["count"] == 500  # the whole test split, fp32, depth 16
    assert (campaign / "run" / "model" / "config.json").is_file() and not list(campaign.rglob("*.pt"))
    study = _unpack(out, "m", tmp_path / "back")
    assert "cuda tests exit" in (study / "status").read_text()  # EARLY_STAGES ran beside the training
    claims = json.loads((study / "claims" / "claims.json").read_text())
    assert len(claims["claims"]) == 7 and claims["protocol"]["data"] == [f"{chain}/refdata/sudoku-gen"]  # DATA=
    assert (study / "runs.sqlite").stat().st_size > 0 and (study / "sweep_rate.json").is_file()
    assert (study / "ft-traj" / "model" / "config.json").is_file()  # the fine-tune's record comes back,
    assert not list(study.rglob("*.safetensors"))  # its weights stay on the machine (the claims swept them there)
    profile = json.loads((study / "train_profile.json").read_text())["profile"]
    assert profile["steps"] == 20 and profile["top"]

    # folded into a committed checkpoint as scripts/campaign_commit.py does after a session
    committed = shutil.copytree(ROOT / "checkpoints" / "tiny-trm-mlp-sudoku", tmp_path / "committed")
    fold = subprocess.run([sys.executable, str(ROOT / "scripts" / "campaign_commit.py"), str(campaign), str(committed),
                           "--version", "2", "--weights", "model", "--device", "cpu"], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert fold.returncode == 0, fold.stdout + fold.stderr
    assert (json.loads((committed / "train_config.json").read_text())
            == json.loads((campaign / "run" / "config.json").read_text()))  # the run's own configuration
    assert json.loads((committed / "eval.json").read_text())["raw/hard"]["16"]["count"] == 500
    assert json.loads((committed / "curve.jsonl").read_text().splitlines()[-1])["version"] == 2

    fresh = subprocess.run(["bash", "scripts/device_poll.sh", "1"], cwd=tree, capture_output=True, text=True,
                           env={**env, "CHAIN_ROOT": str(tmp_path / "elsewhere")}, timeout=60)
    assert fresh.returncode == 3 and "fresh one" in fresh.stdout  # a released machine is said at once


@pytest.mark.slow
def test_a_study_session_without_training(tmp_path: Path) -> None:
    """MINUTES=0 (the campaign is over): `start` returns at once, the study runs on the committed checkpoint and the
    one `add` brings; EARLY_STAGES run beside STAGES on both; a `KIND@NAME` fine-tune comes from that checkpoint
    alone, and the fine-tunes of the second checkpoint are judged in a claims report that puts it first."""
    tree, chain, out = _tree(tmp_path / "tree"), tmp_path / "chain", tmp_path / "out"
    shutil.copytree(ROOT / "checkpoints" / "tiny-trm-mlp-sudoku", tree / "checkpoints" / "tiny", dirs_exist_ok=True)
    chain.mkdir()
    out.mkdir()
    env = {**os.environ, "CHAIN_ROOT": str(chain), "DEVICE": "cpu", "OUT": str(out),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "LIMIT": "6",
           "FINETUNES": "traj@tiny-trm-mlp-sudoku", "FT_CHECKPOINTS": "all", "FINETUNE_MINUTES": "0.05",
           "FT_CONFIG": "tiny", "AUTOCOMPRESS": "stm32n6=int4-channel-cal", "AC_PUZZLES": "4", "AC_SENSITIVITY": "2",
           "EARLY_STAGES": "autocompress", "STAGES": "finetunes claims", "DATA": f"{chain}/refdata/sudoku-gen"}

    def bash(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)

    try:
        start = bash("scripts/session_chain.sh", "start", "tiny", "0", timeout=60)
        assert start.returncode == 0 and "study session" in start.stdout, start.stdout + start.stderr
        add = bash("scripts/session_chain.sh", "add", "runs/ckpt-study/tiny-trm-mlp-sudoku")
        assert add.returncode == 0, add.stdout + add.stderr
        poll = bash("scripts/device_poll.sh", "600", timeout=700)
        assert "chain done: yes" in poll.stdout, poll.stdout + poll.stderr
    finally:
        subprocess.run(["pkill", "-f", str(chain)], check=False)

    assert not list(out.glob("c.tgz.*"))  # no training, no campaign folder
    study = _unpack(out, "m", tmp_path / "back")
    status = (study / "status").read_text()
    assert "autocompress ac-tiny-stm32n6 exit 0" in status, status
    assert "fine-tune traj" in status and "fine-tune traj\n" not in status  # only the other checkpoint's
    base = json.loads((study / "claims" / "claims.json").read_text())
    by_other = json.loads((study / "claims-by-tiny-trm-mlp-sudoku" / "claims.json").read_text())
    assert base["protocol"]["checkpoints"][0].endswith("/ckpt/tiny")
    assert by_other["protocol"]["checkpoints"][0].endswith("/ckpt/tiny-trm-mlp-sudoku")
    assert "ft-traj-tiny-trm-mlp-sudoku" in json.dumps(by_other) and "ft-traj" not in json.dumps(base)
    assert (study / "ac-tiny-stm32n6" / "verify.json").is_file()
