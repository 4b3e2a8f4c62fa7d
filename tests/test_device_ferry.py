"""`scripts/device_ferry.py`: folders too large for one device call are dealt into parts that land one call at a time,
in any order, and are checked whole (size and sha256 of every file) when the last one arrives."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "device_ferry.py"
KIB = 1024


def _ferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    checkpoint, raw = tmp_path / "ckpt", tmp_path / "raw" / "nested"
    checkpoint.mkdir()
    raw.mkdir(parents=True)
    for index, size in enumerate((60, 45, 30, 20, 8)):
        (checkpoint / f"model-{index}.safetensors").write_bytes(bytes([index + 1]) * (size * KIB))
    (checkpoint / "config.json").write_text('{"arch": "trm"}')
    (raw / "tasks.json").write_bytes(b"x" * (25 * KIB))
    return checkpoint, raw.parent


def _pack(tmp_path: Path, part_kib: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    checkpoint, raw = _sources(tmp_path)
    out = tmp_path / "ferry"
    packed = _ferry("pack", f"big={checkpoint}", f"raw={raw}", "--out", str(out), "--part-mb", str(part_kib / KIB))
    return packed, out


def test_parts_respect_the_cap_and_land_whole_in_any_order(tmp_path: Path) -> None:
    packed, out = _pack(tmp_path, part_kib=70)
    assert packed.returncode == 0, packed.stderr
    parts = sorted(out.iterdir(), key=lambda p: int(p.name))
    assert len(parts) >= 3 and packed.stdout.count("device_ferry.py land") == len(parts)
    for part in parts:
        payload = sum(f.stat().st_size for f in part.rglob("*") if f.is_file() and f.name != "MANIFEST")
        assert payload <= 70 * KIB
        assert (part / "MANIFEST").read_text() == (parts[0] / "MANIFEST").read_text()

    root = tmp_path / "landed"
    for part in reversed(parts[1:]):
        landed = _ferry("land", str(part), "--root", str(root))
        assert landed.returncode == 0, landed.stderr
        assert "complete" not in landed.stdout and not (root / "COMPLETE").exists()
    again = _ferry("land", str(parts[-1]), "--root", str(root))  # landing a part twice is harmless
    assert again.returncode == 0 and not (root / "COMPLETE").exists()
    last = _ferry("land", str(parts[0]), "--root", str(root))
    assert last.returncode == 0 and "complete" in last.stdout, last.stdout + last.stderr
    assert (root / "COMPLETE").is_file()
    checkpoint, raw = tmp_path / "ckpt", tmp_path / "raw"
    for source, name in ((checkpoint, "big"), (raw, "raw")):
        for file in source.rglob("*"):
            if file.is_file():
                assert (root / name / file.relative_to(source)).read_bytes() == file.read_bytes()


def test_a_damaged_file_is_caught_on_arrival(tmp_path: Path) -> None:
    packed, out = _pack(tmp_path, part_kib=1000)
    assert packed.returncode == 0 and len(list(out.iterdir())) == 1
    victim = out / "1" / "big" / "model-2.safetensors"
    victim.write_bytes(b"\0" + victim.read_bytes()[1:])
    landed = _ferry("land", str(out / "1"), "--root", str(tmp_path / "landed"))
    assert landed.returncode != 0 and "differ from the manifest" in landed.stderr
    assert "big/model-2.safetensors" in landed.stderr and not (tmp_path / "landed" / "COMPLETE").exists()


@pytest.mark.parametrize("problem", ["too-large", "not-a-part", "other-ferry", "bad-source"])
def test_bad_input_is_named(tmp_path: Path, problem: str) -> None:
    if problem == "too-large":
        result, _ = _pack(tmp_path, part_kib=50)  # the 60 KiB file cannot fit
        expected = "does not fit a part"
    elif problem == "not-a-part":
        (tmp_path / "empty").mkdir()
        result = _ferry("land", str(tmp_path / "empty"), "--root", str(tmp_path / "landed"))
        expected = "no MANIFEST"
    elif problem == "other-ferry":
        packed, out = _pack(tmp_path, part_kib=1000)
        assert packed.returncode == 0
        root = tmp_path / "landed"
        root.mkdir()
        (root / "MANIFEST").write_text("0" * 64 + "  3  other/file\n")
        result = _ferry("land", str(out / "1"), "--root", str(root))
        expected = "holds another ferry"
    else:
        result = _ferry("pack", str(tmp_path), "--out", str(tmp_path / "ferry"))
        expected = "give NAME=PATH"
    assert result.returncode != 0 and expected in result.stderr, result.stdout + result.stderr


def test_prepare_ferries_the_campaign_checkpoint_with_the_extra_folders(tmp_path: Path) -> None:
    """`device_prep.sh prepare --ferry` packs the campaign checkpoint and FERRY_EXTRA's folders into the same parts
    (the ARC evaluation's checkpoint and raw files), then stashes the checkpoints out of the tree."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", tree / "scripts")
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "checkpoints" / "tiny-trm-mlp-sudoku", tree / "checkpoints" / "camp")
    (tree / "runs" / "refdata" / "sudoku-hard").mkdir(parents=True)
    checkpoint, raw = _sources(tmp_path)
    env = {**os.environ, "STASH": str(tmp_path / "stash"), "FERRY_EXTRA": f"big={checkpoint} raw={raw}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "scripts/device_prep.sh", "prepare", "--ferry", "camp"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    manifests = {line.split()[-1].split("/")[0] for part in (tree / "runs" / "ferry").iterdir()
                 for line in (part / "MANIFEST").read_text().splitlines() if line.strip()}
    assert manifests == {"camp", "big", "raw"}
    assert not (tree / "checkpoints" / "camp").exists() and (tmp_path / "stash" / "camp").is_dir()
