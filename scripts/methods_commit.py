"""Fold a methods session's output folder (`scripts/methods_session.sh OUT`; from the device, the `m` folder that
`device_poll.sh` brings back: `cat m.tgz.* | tar xz`) into the repository, where the README's tables read it
(`benchmarks/readme_tables.py`):

    PYTHONPATH=src python scripts/methods_commit.py OUT [--device-name "one H200"] [--root .]

* OUT/claims/ (claims.md, claims.json, sweep/)   -> docs/study/claims/
* OUT/claims-NAME/ (on CLAIMS_DATA's NAME)       -> docs/study/claims-NAME/
* OUT/sweep-NAME/ (a finished method sweep)     -> docs/study/methods/NAME/ (Markdown, CSV, plots)
* OUT/sweep_rate.json                            -> benchmarks/results/sweep_rate_gpu.json
* OUT/ac-NAME/ (search, recipe, plan, verify)    -> docs/study/autocompress/NAME/ (the blob stays out of git)
* OUT/ac-NAME-finetune/ (its fine-tune's record)  -> docs/study/autocompress/NAME/finetune/ (no weights)
* OUT/ac-cache-NAME.json (scored variants)       -> docs/study/autocompress/cache/ (the next session's search resumes)
* OUT/arc-eval.json (a finished `redge eval`)    -> checkpoints/trm-att-arc/eval.json (pass@K by depth)
* OUT/cuda_tests.txt                             -> its last line is printed (the CUDA tests' verdict)

Only what the session finished is folded; each step says what it wrote or why it skipped. Stages that failed on
the device (their `.err` files) are reported, not folded.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

AUTOCOMPRESS_FILES = ("search.json", "recipe.yaml", "plan.json", "verify.json")
# a job's --finetune-minutes work folder (OUT/ac-NAME-finetune): the record, the pseudo-labels' summary, the run's
# config and curve; not the weights or the pseudo-labelled arrays
FINETUNE_FILES = ("finetune.json", "pseudo/pseudo_labels.json", "train/config.json", "train/curve.jsonl")


def replace_tree(src: Path, dst: Path) -> None:
    """Copy the folder `src` to `dst`, replacing what was there."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def finished_stages(out: Path) -> list[str]:
    """The lines of OUT/status (`TIME STAGE exit CODE` when a stage ended); none when the session wrote no status."""
    status = out / "status"
    return status.read_text().splitlines() if status.is_file() else []


def fold_claims(out: Path, root: Path) -> None:
    """Each claims report, as `redge claims --out` wrote it: OUT/claims (on DATA) and OUT/claims-NAME (CLAIMS_DATA)."""
    for report in [out / "claims", *sorted(out.glob("claims-*/"))]:
        if not (report / "claims.json").is_file():
            print(f"{report.name}: none in {out} (see {report.name}.err)")
            continue
        replace_tree(report, root / "docs/study" / report.name)
        print(f"{report.name} -> docs/study/{report.name}/")


def fold_sweeps(out: Path, root: Path) -> None:
    """Each finished method sweep's own report (OUT/sweep-NAME: every method on the session's DATA).

    Only a sweep whose stage exited 0 replaces the committed report: a session that ran the claims but not the
    sweeps leaves `docs/study/methods/` as it was, rather than replacing a report of every method with one of the
    claims' few variants (and their other data set) from the shared store.
    """
    finished = finished_stages(out)
    reports = sorted(p for p in out.glob("sweep-*") if p.is_dir())
    if not reports:
        print("sweeps: none in this session")
    for report in reports:
        name = report.name.removeprefix("sweep-")
        if not any(line.endswith(f"method sweep {name} exit 0") for line in finished):
            print(f"sweep {name}: unfinished (see {report.name}.err): docs/study/methods/{name}/ left as it was")
            continue
        replace_tree(report, root / "docs/study/methods" / name)
        print(f"sweep {name} -> docs/study/methods/{name}/")


def fold_sweep_rate(out: Path, root: Path, device_name: str | None) -> None:
    """The sweep-rate benchmark's JSON, under benchmarks/results/."""
    src = out / "sweep_rate.json"
    if not src.is_file():
        print("sweep rate: not run (sweep_rate.txt says why)")
        return
    dst = root / "benchmarks/results/sweep_rate_gpu.json"
    shutil.copyfile(src, dst)
    print(f"sweep rate -> {dst.relative_to(root)}" + (f" ({device_name})" if device_name else ""))


def fold_autocompress(out: Path, root: Path) -> None:
    """Each finished autocompress job's text outputs (its blob is rebuilt by `redge export` from recipe.yaml)."""
    for job in sorted(p for p in out.glob("ac-*") if p.is_dir() and not p.name.endswith("-finetune")):
        if not (job / "search.json").is_file():
            print(f"autocompress {job.name}: unfinished (see {job.name}.err)")
            continue
        dst = root / "docs/study/autocompress" / job.name.removeprefix("ac-")
        dst.mkdir(parents=True, exist_ok=True)
        for name in AUTOCOMPRESS_FILES:
            if (job / name).is_file():
                shutil.copyfile(job / name, dst / name)
        work = job.with_name(job.name + "-finetune")  # --finetune-minutes: how the fine-tuned weights were made
        for name in FINETUNE_FILES:
            if (work / name).is_file():
                (dst / "finetune" / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(work / name, dst / "finetune" / name)
        print(f"autocompress {job.name} -> {dst.relative_to(root)}/")
    for cache in sorted(out.glob("ac-cache-*.json")):  # a superset of the seed it started from
        dst = root / "docs/study/autocompress/cache" / cache.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, dst)
        print(f"autocompress cache {cache.name} -> {dst.relative_to(root)}")


def fold_arc_eval(out: Path, root: Path, device_name: str | None) -> None:
    """The ARC checkpoint's evaluation (`arc-eval` stage) as its `eval.json`, keyed like the campaign's:
    `WEIGHTS/arc1-eval` (the weights its config.json says it holds) -> depth -> accuracies and `ARC/pass@K`."""
    finished = finished_stages(out)
    if not any(line.endswith("arc eval exit 0") for line in finished):
        print("arc eval: not run or unfinished (see arc-eval.err)")
        return
    result = json.loads((out / "arc-eval.json").read_text())
    checkpoint = root / "checkpoints/trm-att-arc"
    config = json.loads((checkpoint / "config.json").read_text())
    weights = config.get("metadata", {}).get("weights", "raw").split()[0].replace("model", "raw")
    record = {"dtype": "bfloat16", "device": f"cuda ({device_name})" if device_name else "cuda",
              "committed_weights": weights, "data": "redge data build arc --num-aug 50 (ARC-AGI-1 evaluation set)",
              f"{weights}/arc1-eval": result["depths"]}
    partial = checkpoint / "eval.json.partial"  # written whole, then moved: never half a file
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(checkpoint / "eval.json")
    pass2 = result["depths"][max(result["depths"], key=int)].get("ARC/pass@2")
    print(f"arc eval -> checkpoints/trm-att-arc/eval.json (pass@2 at full depth: {pass2})")


def main() -> None:
    """Fold every finished part of OUT into the repository."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the methods session's output folder")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--device-name", help="the device in words, for the log")
    args = parser.parse_args()
    if not args.out.is_dir():
        sys.exit(f"{args.out}: no such folder")
    tests = args.out / "cuda_tests.txt"
    if tests.is_file():
        lines = [line for line in tests.read_text().splitlines() if line.strip()]
        print(f"CUDA tests: {lines[-1] if lines else 'no output'}")
    for err in sorted(args.out.glob("*.err")):
        if err.read_text().strip():
            print(f"note: {err.name} is not empty")
    fold_claims(args.out, args.root)
    fold_sweeps(args.out, args.root)
    fold_sweep_rate(args.out, args.root, args.device_name)
    fold_autocompress(args.out, args.root)
    fold_arc_eval(args.out, args.root, args.device_name)


if __name__ == "__main__":
    main()
