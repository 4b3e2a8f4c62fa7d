"""Fuzz the C runtime's two file loaders with libFuzzer (clang -fsanitize=fuzzer,address,undefined).

    python benchmarks/fuzz_runtime.py --minutes 5          # 5 minutes per loader (blob, then embedding file)
    python benchmarks/fuzz_runtime.py --write-seeds        # regenerate the committed seed corpus, then exit

Harnesses: runtime/fuzz/fuzz_blob.c (rt_load, the arena and one small forward of what it accepts) and
runtime/fuzz/fuzz_emb.c (rt_emb_open / rt_emb_row). Each loader starts from the committed seed corpus
(tests/deploy/fuzz_corpus/<loader>/: valid blobs and embedding files of the tiny checkpoint and of smaller models, and
truncated / bit-flipped copies, and `regress-*`: the reproducers of fixed findings), grows a working corpus under
--workdir, and stops after --minutes or at its first finding (the reproducer is kept in the workdir and named in the
JSON). Writes one JSON object to --out: executions, exec/s, corpus size, findings, the clang version and the command.
Needs clang (apt-get install clang).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "tests" / "deploy" / "fuzz_corpus"
TINY = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"
LOADERS = ("blob", "emb")
FINDING_PREFIXES = ("crash-", "leak-", "timeout-", "oom-", "slow-unit-")


def _damaged(data: bytes, name: str) -> dict[str, bytes]:
    """A truncated copy and two bit-flipped copies (one in the header, one in the body) of a valid file."""
    flip_header, flip_body = bytearray(data), bytearray(data)
    flip_header[20] ^= 0x01
    flip_body[len(data) // 2] ^= 0x80
    return {f"{name}-truncated": data[: len(data) // 2], f"{name}-flip-header": bytes(flip_header),
            f"{name}-flip-body": bytes(flip_body)}


def _resealed_halt(data: bytes) -> bytes:
    """The blob with halt_max_steps = 2^31 - 1 and a consistent header CRC (the case issue 15 found)."""
    b = bytearray(data)
    b[104:108] = (2**31 - 1).to_bytes(4, "little")
    b[252:256] = zlib.crc32(bytes(b[:252])).to_bytes(4, "little")
    return bytes(b)


def write_seeds(out: Path = SEEDS) -> dict[str, int]:
    """(Re)write the seed corpus: blobs and embedding files of the tiny checkpoint (int8, w4a8) and of
    four small models (TRM-Att with RoPE in f32 and bf16, learned positions, HRM), plus damaged copies. Returns the
    number of files per loader."""
    import tempfile

    import torch

    from redge.deploy.embeddings import save_table
    from redge.deploy.pack import export
    from redge.models.config import ModelConfig
    from redge.models.hrm import HRM
    from redge.models.trm import TRM
    from redge.quant.apply import quantize_
    from redge.quant.load import load_checkpoint

    small = dict(vocab_size=6, seq_len=4, hidden_size=8, num_heads=2, H_cycles=1, L_cycles=1, L_layers=1,
                 halt_max_steps=2, puzzle_emb_ndim=8, puzzle_emb_len=1, num_puzzle_identifiers=3)
    models = {
        "tiny-int8": (lambda: load_checkpoint(TINY), "int8"),
        "tiny-w4a8": (lambda: load_checkpoint(TINY), "w4a8"),
        "att-rope-f32": (lambda: TRM(ModelConfig(**small, pos_encodings="rope")), "fp32"),
        "att-learned-int4": (lambda: TRM(ModelConfig(**small, pos_encodings="learned")), "int4-channel"),
        "att-rope-bf16": (lambda: TRM(ModelConfig(**small, pos_encodings="rope")), "bf16"),
        "hrm-int8": (lambda: HRM(ModelConfig(**{**small, "H_layers": 1}, arch="hrm", no_ACT_continue=False)), "w8a8"),
    }
    files: dict[str, dict[str, bytes]] = {"blob": {}, "emb": {}}
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, recipe) in models.items():
            model = build().eval()
            if not name.startswith("tiny"):
                with torch.no_grad():
                    model.puzzle_emb.weights.normal_()  # distinct tables (a fresh model's are zeros)
            quantize_(model, recipe)
            written = export(model, Path(tmp) / f"{name}.blob", recipe)
            files["blob"][name] = written["blob"][0].read_bytes()
            if "embeddings" in written:
                files["emb"][name] = written["embeddings"][0].read_bytes()
            if recipe == "bf16":  # a bf16 embedding file too (export keeps float tables in f32)
                save_table(Path(tmp) / "bf16.emb", model.puzzle_emb.weights, "bf16")
                files["emb"]["small-bf16-table"] = (Path(tmp) / "bf16.emb").read_bytes()
    for loader in LOADERS:
        valid = dict(files[loader])
        for name, data in valid.items():
            if name.startswith("tiny") and loader == "blob":
                continue  # damaged copies of the small files exercise the same checks, faster
            files[loader].update(_damaged(data, name))
    files["blob"]["att-rope-f32-halt-2e31"] = _resealed_halt(files["blob"]["att-rope-f32"])
    counts = {}
    for loader, items in files.items():
        folder = out / loader
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if not old.name.startswith("regress-"):  # reproducers of fixed findings stay
                old.unlink()
        unique = {data: name for name, data in reversed(items.items())}  # first name of each distinct content
        for data, name in unique.items():
            (folder / name).write_bytes(data)
        counts[loader] = len(unique)
    return counts


def _stats(log: str) -> dict[str, float]:
    """libFuzzer's final `stat::` lines (-print_final_stats=1)."""
    return {k: float(v) for k, v in re.findall(r"^stat::(\w+):\s+([0-9.]+)", log, re.MULTILINE)}


def fuzz(loader: str, seconds: int, workdir: Path) -> dict[str, object]:
    """Run one harness for `seconds` from the seed corpus; executions, exec/s, corpus size and findings."""
    from redge.deploy.runtime import build

    binary = build.fuzz_harness(loader)
    base = workdir / loader
    if base.exists():
        shutil.rmtree(base)
    corpus, artifacts = base / "corpus", base / "artifacts"
    corpus.mkdir(parents=True)
    artifacts.mkdir()
    seeds = sorted((SEEDS / loader).iterdir())
    max_len = max(p.stat().st_size for p in seeds)
    cmd = [str(binary), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048", f"-max_len={max_len}",
           "-print_final_stats=1", f"-artifact_prefix={artifacts}/", str(corpus), str(SEEDS / loader)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    elapsed = time.monotonic() - t0
    (base / "libfuzzer.log").write_text(proc.stderr)
    stats = _stats(proc.stderr)
    findings = sorted(p.name for p in artifacts.iterdir() if p.name.startswith(FINDING_PREFIXES))
    return {"harness": str(build.FUZZ_HARNESSES[loader].relative_to(ROOT)), "seconds": round(elapsed, 1),
            "exit_code": proc.returncode, "executions": int(stats.get("number_of_executed_units", 0)),
            "exec_per_s": stats.get("average_exec_per_sec", 0.0), "seed_files": len(seeds), "max_len": max_len,
            "corpus_size": len(list(corpus.iterdir())) + len(seeds), "new_units": int(stats.get("new_units_added", 0)),
            "peak_rss_mb": stats.get("peak_rss_mb", 0.0), "findings": findings,
            "finding_log": proc.stderr[-3000:] if findings or proc.returncode else ""}


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="fuzzing time per loader")
    ap.add_argument("--loaders", nargs="+", choices=LOADERS, default=list(LOADERS))
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "fuzz")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz_runtime.json")
    ap.add_argument("--write-seeds", action="store_true", help="regenerate the seed corpus and exit")
    args = ap.parse_args()
    if args.write_seeds:
        print(write_seeds())
        return 0
    if args.minutes <= 0:
        ap.error("--minutes must be positive")
    from redge.core.jsonio import write_json
    from redge.deploy.runtime import build

    reason = build.clang_missing()
    if reason:
        print(f"fuzz_runtime: {reason}", file=sys.stderr)
        return 2
    result = {"command": "python benchmarks/fuzz_runtime.py " + " ".join(sys.argv[1:]), "clang": build.clang_version(),
              "sanitizers": "fuzzer,address,undefined", "minutes_per_loader": args.minutes, "loaders": {}}
    for loader in args.loaders:
        r = fuzz(loader, int(args.minutes * 60), args.workdir)
        result["loaders"][loader] = r
        print(f"{loader}: {r['executions']:,} executions ({r['exec_per_s']:,.0f}/s) in {r['seconds']:.0f} s, corpus "
              f"{r['corpus_size']}, findings: {', '.join(r['findings']) or 'none'}")
    result["total_executions"] = sum(r["executions"] for r in result["loaders"].values())
    result["total_findings"] = sum(len(r["findings"]) for r in result["loaders"].values())
    write_json(args.out, result, indent=2)
    print(f"wrote {args.out}")
    return 1 if result["total_findings"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
