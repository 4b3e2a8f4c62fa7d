"""Malformed inputs across every CLI command: "nothing crashes, nothing lies" (issue 15).

Each case builds a broken input in a temporary folder, runs the command in-process through `redge.cli.main` and
asserts: the exit code (2 for bad input, 1 only where a check legitimately fails), exactly one line on stderr that
names the file (or option) and the problem, no Python traceback, and that no output is left behind (no partial
files, no stale temporary files beside the output).
"""
from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"
SAMPLES = ROOT / "data" / "samples"


@dataclass
class Case:
    """argv, the expected exit code, words the one error line must hold, and paths that must not exist after."""

    argv: list[str]
    needles: tuple[str, ...]
    code: int = 2
    absent: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------- helpers that make broken inputs

def ckpt(tmp: Path, edit: Callable[[dict], None] | None = None) -> Path:
    """A copy of the tiny checkpoint, its config.json edited by `edit`."""
    dst = Path(tempfile.mkdtemp(dir=tmp, prefix="ckpt-")) / "ckpt"
    shutil.copytree(CKPT, dst)
    if edit is not None:
        cfg = json.loads((dst / "config.json").read_text())
        edit(cfg)
        (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def data(tmp: Path, name: str = "sudoku-easy") -> Path:
    dst = Path(tempfile.mkdtemp(dir=tmp, prefix="data-")) / name
    shutil.copytree(SAMPLES / name, dst, ignore=shutil.ignore_patterns("train") if name == "sudoku-easy" else None)
    return dst


@cache
def _built() -> Path:
    """A quantized checkpoint and a blob of the tiny one, made once per test session."""
    folder = Path(tempfile.mkdtemp(prefix="redge-malformed-"))
    atexit.register(shutil.rmtree, folder, True)
    assert main(["quantize", str(CKPT), "-r", "int8", "-o", str(folder / "q"), "--json"]) == 0
    assert main(["export", str(CKPT), "-o", str(folder / "m.blob"), "--json"]) == 0
    return folder


def quantized(tmp: Path) -> Path:
    out = tmp / "q"
    shutil.copytree(_built() / "q", out)
    return out


def blob(tmp: Path) -> Path:
    out = tmp / "m.blob"
    shutil.copy(_built() / "m.blob", out)
    return out


def store_of(tmp: Path, content: bytes) -> Path:
    path = tmp / "runs.sqlite"
    path.write_bytes(content)
    return path


def arc_folder(tmp: Path, tasks: dict[str, bytes]) -> Path:
    folder = tmp / "arcin" / "training"
    folder.mkdir(parents=True)
    for name, content in tasks.items():
        (folder / f"{name}.json").write_bytes(content)
    return folder.parent


GOOD_TASK = json.dumps({"train": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}],
                        "test": [{"input": [[1]], "output": [[2]]}]}).encode()


def drop(key: str) -> Callable[[dict], None]:
    return lambda cfg: cfg["config"].pop(key)


def setc(key: str, value: object) -> Callable[[dict], None]:
    return lambda cfg: cfg["config"].__setitem__(key, value)


def a_file(tmp: Path, name: str = "file", content: bytes = b"x") -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------- the corpus

def _info(tmp: Path) -> list[tuple[str, Case]]:
    return [
        ("info-missing", Case(["info", str(tmp / "nope")], ("nope",))),
        ("info-config-negative-hidden", Case(["info", str(ckpt(tmp, setc("hidden_size", -64)))],
                                             ("config.json", "hidden_size"))),
        ("info-config-missing-field", Case(["info", str(ckpt(tmp, drop("hidden_size")))],
                                           ("config.json", "hidden_size"))),
        ("info-config-is-directory", Case(["info", str(_config_dir(tmp))], ("config.json",))),
        ("info-config-not-utf8", Case(["info", str(_config_bytes(tmp, b"\xff\xfe{"))], ("config.json",))),
        ("info-config-empty", Case(["info", str(_config_bytes(tmp, b""))], ("config.json",))),
        ("info-config-a-list", Case(["info", str(_config_bytes(tmp, b"[1, 2]"))], ("config.json",))),
        ("info-config-string-size", Case(["info", str(ckpt(tmp, setc("hidden_size", "big")))],
                                         ("config.json", "hidden_size"))),
        ("info-config-unknown-arch", Case(["info", str(ckpt(tmp, setc("arch", "gpt")))], ("config.json", "arch"))),
        ("info-truncated-safetensors", Case(["info", str(_truncated_weights(tmp))], ("safetensors",))),
        ("info-empty-safetensors", Case(["info", str(_truncated_weights(tmp, keep=0))], ("safetensors",))),
        ("info-quantized-without-modules", Case(["info", str(_quantized_without_modules(tmp))],
                                                ("config.json", "modules"))),
        ("info-empty-folder", Case(["info", str(_mkdir(tmp / "empty"))], ("empty",))),
        ("info-random-file", Case(["info", str(a_file(tmp, "step_1", b"\x00garbage" * 10))], ("step_1",))),
    ]


def _config_dir(tmp: Path) -> Path:
    dst = ckpt(tmp)
    (dst / "config.json").unlink()
    (dst / "config.json").mkdir()
    return dst


def _config_bytes(tmp: Path, content: bytes) -> Path:
    dst = ckpt(tmp)
    (dst / "config.json").write_bytes(content)
    return dst


def _truncated_weights(tmp: Path, keep: int = 200) -> Path:
    dst = ckpt(tmp)
    weights = next(dst.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:keep])
    return dst


def _quantized_without_modules(tmp: Path) -> Path:
    q = quantized(tmp)
    cfg = json.loads((q / "config.json").read_text())
    cfg.pop("modules")
    (q / "config.json").write_text(json.dumps(cfg))
    return q


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _data(tmp: Path) -> list[tuple[str, Case]]:
    d = data(tmp, "sudoku")
    lying = data(tmp, "sudoku")
    meta = json.loads((lying / "test" / "dataset.json").read_text())
    meta["total_puzzles"] = meta["total_puzzles"] * 2
    (lying / "test" / "dataset.json").write_text(json.dumps(meta))
    wrong_dtype = data(tmp, "sudoku")
    np.save(wrong_dtype / "test" / "all__inputs.npy", np.load(wrong_dtype / "test" / "all__inputs.npy")
            .astype(np.float32) + 0.5)
    not_npy = data(tmp, "sudoku")
    (not_npy / "test" / "all__labels.npy").write_bytes(b"not an npy file")
    bad_ids = data(tmp, "sudoku")
    (bad_ids / "identifiers.json").write_bytes(b"[\"\xff\xfe\"]")
    unsolved = data(tmp, "sudoku")
    labels = np.load(unsolved / "test" / "all__labels.npy")
    labels[0, :] = 2  # a grid of ones: not a Sudoku solution
    np.save(unsolved / "test" / "all__labels.npy", labels)
    empty_meta = data(tmp, "sudoku")
    (empty_meta / "train" / "dataset.json").write_bytes(b"")
    empty_ids = data(tmp, "sudoku")
    (empty_ids / "identifiers.json").write_bytes(b"")
    dataset_dir = data(tmp, "sudoku")
    (dataset_dir / "test" / "dataset.json").unlink()
    (dataset_dir / "test" / "dataset.json").mkdir()
    negative = data(tmp, "sudoku")
    meta = json.loads((negative / "test" / "dataset.json").read_text())
    meta["seq_len"] = -81
    (negative / "test" / "dataset.json").write_text(json.dumps(meta))
    arc = data(tmp, "arc")
    preds = a_file(tmp, "preds.npz", b"PK not really a zip")
    wrong_keys = tmp / "keys.npz"
    np.savez(wrong_keys, something=np.zeros(3))
    return [
        ("data-info-missing", Case(["data", "info", str(tmp / "nothing")], ("nothing",))),
        ("data-info-a-file", Case(["data", "info", str(a_file(tmp))], ("file",))),
        ("data-info-lying-sizes", Case(["data", "info", str(lying)], ("dataset.json", "total_puzzles"))),
        ("data-info-not-npy", Case(["data", "info", str(not_npy)], ("all__labels.npy",))),
        ("data-info-dataset-json-dir", Case(["data", "info", str(dataset_dir)], ("dataset.json",))),
        ("data-info-negative-seq-len", Case(["data", "info", str(negative)], ("dataset.json", "seq_len"))),
        ("data-validate-lying-sizes", Case(["data", "validate", str(lying)], ("dataset.json", "total_puzzles"))),
        ("data-validate-wrong-dtype", Case(["data", "validate", str(wrong_dtype)], ("all__inputs.npy", "dtype"))),
        ("data-validate-identifiers-not-utf8", Case(["data", "validate", str(bad_ids)], ("identifiers.json",))),
        ("data-validate-check-fails", Case(["data", "validate", str(unsolved), "--json"],
                                           ("check failed", "test/invalid_solutions 1"), code=1)),
        ("data-info-empty-dataset-json", Case(["data", "info", str(empty_meta)], ("dataset.json",))),
        ("data-validate-empty-identifiers", Case(["data", "validate", str(empty_ids)], ("identifiers.json",))),
        ("data-evaluate-empty-predictions", Case(["data", "evaluate", str(arc), str(a_file(tmp, "e.npz", b""))],
                                                 ("e.npz",))),
        ("data-validate-empty-folder", Case(["data", "validate", str(_mkdir(tmp / "e"))], ("e",))),
        ("data-evaluate-not-npz", Case(["data", "evaluate", str(arc), str(preds)], ("preds.npz",))),
        ("data-evaluate-wrong-keys", Case(["data", "evaluate", str(arc), str(wrong_keys)],
                                          ("keys.npz", "preds"))),
        ("data-evaluate-no-test-puzzles", Case(["data", "evaluate", str(d), "--ground-truth"],
                                               ("test_puzzles.json",))),
        ("data-evaluate-submission-under-file", Case(
            ["data", "evaluate", str(arc), "--ground-truth", "--submission", str(a_file(tmp) / "s.json")],
            ("s.json",))),
    ]


def _build(tmp: Path) -> list[tuple[str, Case]]:
    out = tmp / "built"
    cases = []
    for name, tasks, needles in [
        ("arc-task-a-list", {"t1": GOOD_TASK, "t2": b"[1, 2, 3]"}, ("t2.json",)),
        ("arc-pair-without-input", {"t1": GOOD_TASK, "t2": json.dumps(
            {"train": [{"output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]}).encode()},
         ("t2", "input")),
        ("arc-task-not-utf8", {"t1": GOOD_TASK, "t2": b"{\"train\": \"\xff\"}"}, ("t2.json",)),
        ("arc-task-empty", {"t1": GOOD_TASK, "t2": b""}, ("t2.json",)),
        ("arc-grid-ragged", {"t1": GOOD_TASK, "t2": json.dumps(
            {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}).encode()}, ("t2",)),
        ("arc-grid-colour-out-of-range", {"t1": GOOD_TASK, "t2": json.dumps(
            {"train": [{"input": [[12]], "output": [[1]]}], "test": []}).encode()}, ("t2",)),
        ("arc-grid-too-large", {"t1": GOOD_TASK, "t2": json.dumps(
            {"train": [{"input": [[1] * 31], "output": [[1]]}], "test": []}).encode()}, ("t2",)),
    ]:
        folder = arc_folder(tmp / name, tasks)
        cases.append((f"data-build-{name}", Case(["data", "build", "arc", "--input", str(folder), "--subsets",
                                                  "training", "--num-aug", "1", "-o", str(out), "--json"],
                                                 needles, absent=[out])))
    under = a_file(tmp, "plain")
    cases += [
        ("data-build-arc-out-under-file", Case(
            ["data", "build", "arc", "--input", str(arc_folder(tmp / "ok", {"t1": GOOD_TASK})), "--subsets",
             "training", "--num-aug", "1", "-o", str(under / "x"), "--json"], ("plain",))),
        ("data-build-arc-missing-input", Case(["data", "build", "arc", "--input", str(tmp / "none"), "-o", str(out),
                                               "--json"], ("none",), absent=[out])),
        ("data-build-maze-out-is-file", Case(["data", "build", "maze", "--train", "2", "--test", "2", "-o",
                                              str(under), "--json"], ("plain",))),
        ("data-build-maze-negative-size", Case(["data", "build", "maze", "--train", "-3", "--test", "2", "-o",
                                                str(out), "--json"], ("--train",), absent=[out])),
        ("data-build-sudoku-missing-source", Case(["data", "build", "sudoku", "--source", str(tmp / "no.csv"), "-o",
                                                   str(out), "--json"], ("no.csv",), absent=[out])),
        ("data-build-sudoku-negative-train-size", Case(["data", "build", "sudoku", "--train-size", "-1", "-o",
                                                        str(out), "--json"], ("--train-size",), absent=[out])),
        ("data-build-sudoku-test-fraction", Case(["data", "build", "sudoku", "--test-fraction", "1.5", "-o",
                                                  str(out), "--json"], ("--test-fraction",), absent=[out])),
        ("data-build-maze-bad-csv", Case(["data", "build", "maze", "--csv-dir", str(_bad_maze_csv(tmp)), "-o",
                                          str(out), "--json"], ("train.csv",), absent=[out])),
    ]
    return cases


def _bad_maze_csv(tmp: Path) -> Path:
    folder = tmp / "mazecsv"
    folder.mkdir()
    (folder / "train.csv").write_text("source,question,answer,rating\nx,###,###,1\n")
    (folder / "test.csv").write_text("source,question,answer,rating\nx,###,###,1\n")
    return folder


def _train(tmp: Path) -> list[tuple[str, Case]]:
    run = tmp / "run"
    easy = SAMPLES / "sudoku-easy"
    tiny = ["--set", f"data=[{easy}]", "--set", f"eval_data={{easy: {easy}}}"]
    neg = a_file(tmp, "neg.yaml",
                 f"name: neg\nmodel: {{hidden_size: -8}}\ndata: [{SAMPLES / 'sudoku-easy'}]\n".encode())
    unknown = a_file(tmp, "unknown.yaml", b"name: u\nlearning_rat: 0.1\n")
    not_map = a_file(tmp, "list.yaml", b"- 1\n- 2\n")
    not_utf8 = a_file(tmp, "bin.json", b"\xff\xfe\x00")
    corrupt = tmp / "resume"
    corrupt.mkdir()
    (corrupt / "state.pt").write_bytes(b"not a torch file")
    return [
        ("train-config-missing", Case(["train", "--config", str(tmp / "none.yaml"), "-o", str(run)], ("none.yaml",),
                                      absent=[run])),
        ("train-config-negative-size", Case(["train", "--config", str(neg), "-o", str(run), "--json"],
                                            ("hidden_size",), absent=[run])),
        ("train-config-unknown-field", Case(["train", "--config", str(unknown), "-o", str(run)],
                                            ("unknown.yaml", "learning_rat"), absent=[run])),
        ("train-config-not-a-mapping", Case(["train", "--config", str(not_map), "-o", str(run)], ("list.yaml",),
                                            absent=[run])),
        ("train-config-not-utf8", Case(["train", "--config", str(not_utf8), "-o", str(run)], ("bin.json",),
                                       absent=[run])),
        ("train-bad-override", Case(["train", *tiny, "--set", "lr", "-o", str(run)], ("lr",), absent=[run])),
        ("train-unknown-override", Case(["train", *tiny, "--set", "nonsense=3", "-o", str(run)], ("nonsense",),
                                        absent=[run])),
        ("train-corrupt-state", Case(["train", *tiny, "--resume", "-o", str(corrupt), "--json", "--no-eval",
                                      "--set", "max_steps=1"], ("state.pt",))),
        ("train-out-under-file", Case(["train", *tiny, "-o", str(a_file(tmp) / "run"), "--json"], ("file",))),
    ]


def _eval(tmp: Path) -> list[tuple[str, Case]]:
    d = data(tmp)
    maze = data(tmp, "maze")
    return [
        ("eval-missing-data", Case(["eval", str(CKPT), "-d", str(tmp / "nodata"), "--json"], ("nodata",))),
        ("eval-missing-split", Case(["eval", str(CKPT), "-d", str(d), "--split", "val", "--json"], ("val",))),
        ("eval-wrong-task", Case(["eval", str(CKPT), "-d", str(maze), "--json"], ("maze",))),
        ("eval-negative-limit", Case(["eval", str(CKPT), "-d", str(d), "--limit", "-4", "--json"], ("--limit",))),
        ("eval-bad-depths", Case(["eval", str(CKPT), "-d", str(d), "--depths", "0,-3", "--json"], ("--depths",))),
        ("eval-bad-dtype", Case(["eval", str(CKPT), "-d", str(d), "--dtype", "float8", "--json"], ("float8",))),
        ("eval-bad-device", Case(["eval", str(CKPT), "-d", str(d), "--device", "tpu", "--json"], ("tpu",))),
        ("eval-empty-weights", Case(["eval", str(_truncated_weights(tmp, keep=0)), "-d", str(d), "--json"],
                                    ("safetensors",))),
        ("eval-config-negative", Case(["eval", str(ckpt(tmp, setc("L_layers", -2))), "-d", str(d), "--json"],
                                      ("config.json", "L_layers"))),
    ]


def _train_data(tmp: Path) -> list[tuple[str, Case]]:
    return [
        ("train-data-out-under-file", Case(["train-data", "-o", str(a_file(tmp) / "x"), "--generated-train", "1"],
                                           ("file",))),
        ("train-data-negative", Case(["train-data", "-o", str(tmp / "r"), "--generated-train", "-1"],
                                     ("--generated-train",), absent=[tmp / "r"])),
    ]


def _study(tmp: Path) -> list[tuple[str, Case]]:
    d = data(tmp)
    out = tmp / "out"
    common = ["-c", str(CKPT), "-d", str(d), "-r", "fp32", "--depths", "1", "--limit", "2", "--json"]
    corrupt = store_of(tmp, b"SQLite format 3\x00" + b"\x13" * 2000)
    foreign = tmp / "foreign.sqlite"
    import sqlite3

    with sqlite3.connect(foreign) as db:
        db.execute("create table runs (x integer)")
    db.close()
    text = a_file(tmp, "notes.txt", b"hello")
    return [
        ("sweep-corrupt-store", Case(["sweep", *common, "--store", str(corrupt), "-o", str(out)],
                                     ("runs.sqlite",), absent=[out])),
        ("sweep-foreign-store", Case(["sweep", *common, "--store", str(foreign), "-o", str(out)],
                                     ("foreign.sqlite",), absent=[out])),
        ("sweep-store-is-directory", Case(["sweep", *common, "--store", str(_mkdir(tmp / "sdir")), "-o", str(out)],
                                          ("sdir",), absent=[out])),
        ("sweep-store-under-file", Case(["sweep", *common, "--store", str(text / "s.sqlite"), "-o", str(out)],
                                        ("notes.txt",), absent=[out])),
        ("sweep-out-under-file", Case(["sweep", *common, "--store", str(tmp / "a.sqlite"), "-o", str(text / "o")],
                                      ("notes.txt",), absent=[tmp / "a.sqlite"])),
        ("sweep-out-is-file", Case(["sweep", *common, "--store", str(tmp / "b.sqlite"), "-o", str(text)],
                                   ("notes.txt",), absent=[tmp / "b.sqlite"])),
        ("sweep-unknown-recipe", Case(["sweep", "-c", str(CKPT), "-d", str(d), "-r", "int3", "--store",
                                       str(tmp / "c.sqlite"), "-o", str(out), "--json"], ("int3",), absent=[out])),
        ("sweep-bad-cycles", Case(["sweep", *common, "--cycles", "3", "--store", str(tmp / "d.sqlite"), "-o",
                                   str(out)], ("--cycles",), absent=[out])),
        ("sweep-zero-threads", Case(["sweep", *common, "--threads", "0", "--store", str(tmp / "e.sqlite"), "-o",
                                     str(out)], ("--threads",), absent=[out])),
        ("sweep-negative-limit", Case(["sweep", "-d", str(d), "--limit", "-1", "-o", str(out)], ("--limit",),
                                      absent=[out])),
        ("sweep-config-missing-field", Case(["sweep", *common, "-c", str(ckpt(tmp, drop("L_cycles"))), "--store",
                                             str(tmp / "f.sqlite"), "-o", str(out)], ("config.json", "L_cycles"),
                                            absent=[out])),
        ("fidelity-corrupt-store", Case(["fidelity", *common, "--store", str(corrupt), "-o", str(out)],
                                        ("runs.sqlite",), absent=[out])),
        ("fidelity-out-under-file", Case(["fidelity", *common, "--store", str(tmp / "g.sqlite"), "-o",
                                          str(text / "o")], ("notes.txt",), absent=[tmp / "g.sqlite"])),
        ("report-missing-store", Case(["report", "--store", str(tmp / "none.sqlite"), "-o", str(out)],
                                      ("none.sqlite",), absent=[out])),
        ("report-corrupt-store", Case(["report", "--store", str(corrupt), "-o", str(out)], ("runs.sqlite",),
                                      absent=[out])),
        ("report-foreign-store", Case(["report", "--store", str(foreign), "-o", str(out)], ("foreign.sqlite",),
                                      absent=[out])),
        ("report-text-store", Case(["report", "--store", str(text), "-o", str(out)], ("notes.txt",), absent=[out])),
        ("report-empty-store", Case(["report", "--store", str(a_file(tmp, "empty.sqlite", b"")), "-o", str(out)],
                                    ("empty.sqlite", "no finished runs"), absent=[out])),
        ("report-store-is-directory", Case(["report", "--store", str(_mkdir(tmp / "rdir")), "-o", str(out)],
                                           ("rdir",), absent=[out])),
    ]


def _quantize(tmp: Path) -> list[tuple[str, Case]]:
    out = tmp / "q"
    plain = a_file(tmp, "plain")
    bad_recipe = a_file(tmp, "r.yaml", b"name: r\nweights: {bits: 3, grnularity: channel}\n")
    recipe_list = a_file(tmp, "rl.yaml", b"- int8\n")
    return [
        ("quantize-out-under-file", Case(["quantize", str(CKPT), "-r", "int8", "-o", str(plain / "q")], ("plain",))),
        ("quantize-out-is-file", Case(["quantize", str(CKPT), "-r", "int8", "-o", str(plain)], ("plain",))),
        ("quantize-unknown-recipe-field", Case(["quantize", str(CKPT), "-r", str(bad_recipe), "-o", str(out)],
                                               ("r.yaml",), absent=[out])),
        ("quantize-recipe-a-list", Case(["quantize", str(CKPT), "-r", str(recipe_list), "-o", str(out)],
                                        ("rl.yaml",), absent=[out])),
        ("quantize-recipe-empty", Case(["quantize", str(CKPT), "-r", str(a_file(tmp, "e.yaml", b"")), "-o",
                                        str(out)], ("e.yaml",), absent=[out])),
        ("quantize-unknown-preset", Case(["quantize", str(CKPT), "-r", "int3", "-o", str(out)], ("int3",),
                                         absent=[out])),
        ("quantize-config-is-directory", Case(["quantize", str(_config_dir(tmp)), "-r", "int8", "-o", str(out)],
                                              ("config.json",), absent=[out])),
        ("quantize-calib-missing", Case(["quantize", str(CKPT), "-r", "int8", "--calib", str(tmp / "nocalib"), "-o",
                                         str(out)], ("nocalib",), absent=[out])),
        ("quantize-out-foreign-folder", Case(["quantize", str(CKPT), "-r", "int8", "-o",
                                              str(a_file(_mkdir(tmp / "mine"), "keep.txt").parent)], ("mine",))),
    ]


def _deploy(tmp: Path) -> list[tuple[str, Case]]:
    out = tmp / "m.blob"
    plain = a_file(tmp, "plain")
    wrong_types = a_file(tmp, "t.yaml", b"name: t\ncore: cortex-m4\nclock_mhz: fast\nregions: 3\n")
    target_list = a_file(tmp, "tl.yaml", b"- 1\n")
    target_utf = a_file(tmp, "tu.yaml", b"name: \xff\xfe\n")
    official = tmp / "step_1"
    official.write_bytes(b"\x80\x02garbage")
    return [
        ("plan-target-wrong-types", Case(["plan", str(CKPT), "-t", str(wrong_types), "--json"], ("t.yaml",))),
        ("plan-target-a-list", Case(["plan", str(CKPT), "-t", str(target_list), "--json"], ("tl.yaml",))),
        ("plan-target-not-utf8", Case(["plan", str(CKPT), "-t", str(target_utf), "--json"], ("tu.yaml",))),
        ("plan-target-empty", Case(["plan", str(CKPT), "-t", str(a_file(tmp, "empty.yaml", b"")), "--json"],
                                   ("empty.yaml",))),
        ("plan-unknown-target", Case(["plan", str(CKPT), "-t", "stm32zz", "--json"], ("stm32zz",))),
        ("plan-bad-act", Case(["plan", str(CKPT), "-t", "stm32n6", "--act", "int2", "--json"], ("int2",))),
        ("plan-zero-tile", Case(["plan", str(CKPT), "-t", "stm32n6", "--tile", "0", "--json"], ("--tile",))),
        ("plan-corrupt-official", Case(["plan", str(official), "-t", "stm32n6", "--json"], ("step_1",))),
        ("export-out-under-file", Case(["export", str(CKPT), "-o", str(plain / "m.blob")], ("plain",))),
        ("export-out-is-directory", Case(["export", str(CKPT), "-o", str(_mkdir(tmp / "bdir"))], ("bdir",))),
        ("export-emb-out-unwritable", Case(["export", str(CKPT), "-o", str(out), "--emb-out", str(plain / "e.emb")],
                                           ("plain",), absent=[out])),
        ("export-emb-out-is-directory", Case(["export", str(CKPT), "-o", str(out), "--emb-out",
                                              str(_mkdir(tmp / "edir"))], ("edir",), absent=[out])),
        ("export-config-negative", Case(["export", str(ckpt(tmp, setc("num_heads", -2))), "-o", str(out)],
                                        ("config.json", "num_heads"), absent=[out])),
        ("export-target-wrong-types", Case(["export", str(CKPT), "-o", str(out), "-t", str(wrong_types)],
                                           ("t.yaml",), absent=[out])),
    ]


def _bench(tmp: Path) -> list[tuple[str, Case]]:
    b = blob(tmp)
    truncated = a_file(tmp, "t.blob", b.read_bytes()[:100])
    return [
        ("bench-cpu-zero-puzzles", Case(["bench", "cpu", str(b), "--puzzles", "0"], ("--puzzles",))),
        ("bench-cpu-negative-depth", Case(["bench", "cpu", str(b), "--depth", "-3"], ("--depth",))),
        ("bench-cpu-blob-is-directory", Case(["bench", "cpu", str(_mkdir(tmp / "bd")), "--json"], ("bd",))),
        ("bench-cpu-missing-blob", Case(["bench", "cpu", str(tmp / "none.blob"), "--json"], ("none.blob",))),
        ("bench-cpu-truncated-blob", Case(["bench", "cpu", str(truncated), "--json"], ("t.blob",))),
        ("bench-cpu-empty-blob", Case(["bench", "cpu", str(a_file(tmp, "e.blob", b"")), "--json"], ("e.blob",))),
        ("bench-cpu-bad-act", Case(["bench", "cpu", str(b), "--act", "int4", "--json"], ("int4",))),
        ("bench-mcu-blob-is-directory", Case(["bench", "mcu", str(_mkdir(tmp / "md")), "--json"], ("md",))),
        ("bench-mcu-unknown-target", Case(["bench", "mcu", str(b), "-t", "stm32zz", "--json"], ("stm32zz",))),
        ("bench-mcu-truncated-blob", Case(["bench", "mcu", str(truncated), "--json"], ("t.blob",))),
    ]


GROUPS: dict[str, Callable[[Path], list[tuple[str, Case]]]] = {
    "info": _info, "data": _data, "build": _build, "train": _train, "eval": _eval, "train-data": _train_data,
    "study": _study, "quantize": _quantize, "deploy": _deploy, "bench": _bench,
}


def _case_ids() -> list[tuple[str, str]]:
    """(group, case id) of every case, read by building each group once in a scratch folder."""
    ids = []
    for group, make in GROUPS.items():
        with tempfile.TemporaryDirectory() as tmp:
            ids += [(group, name) for name, _ in make(Path(tmp))]
    return ids


CASES = _case_ids()


def test_the_corpus_has_at_least_60_cases() -> None:
    assert len(CASES) >= 60
    assert len({name for _, name in CASES}) == len(CASES)


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith((".tmp", ".old")))


@pytest.mark.parametrize("group,name", CASES, ids=[n for _, n in CASES])
def test_malformed_input_gives_one_line_and_leaves_nothing(group: str, name: str, tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # default outputs (runs/...) land in the temporary folder
    monkeypatch.delenv("REDGE_DEBUG", raising=False)
    case = dict(GROUPS[group](tmp_path))[name]
    capsys.readouterr()
    code = main(case.argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == case.code, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line on stderr, got: {err}"
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    for path in case.absent:
        assert not path.exists(), f"{path} was left behind"
    assert _leftovers(tmp_path) == []
