"""Pick and export the reference weights of finished runs (used on the GPU machine after `reference_runs.sh`).

For each run folder, the weights (raw or EMA) with the higher exact accuracy at depth 16 on the `hard` test set are
exported to `PACK/<run>/` as a redge checkpoint (shards <= 16 MiB; HRM in bf16, TRM in fp32), with the run's
config, curve and evaluation; every small file also goes into `PACK/logs.tar.gz`.

    PYTHONPATH=src python3 scripts/pack_reference.py runs/gpu runs/pack
"""
from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import torch

from redge.models.checkpoints import save_checkpoint
from redge.quant.load import load_checkpoint

MAX_SHARD = 15 * 1024 * 1024  # tensor bytes; the safetensors header must fit under 16 MiB too


def best_tag(evaluation: dict) -> str:
    """'raw' or 'ema': the weights with the higher exact@16 on the hard set (ties: raw)."""
    def score(tag: str) -> float:
        return evaluation.get(f"{tag}/hard", {}).get("16", {}).get("exact_accuracy", -1.0)
    return "ema" if score("ema") > score("raw") else "raw"


def main(runs: Path, pack: Path) -> None:
    """Export every finished run under `runs` into `pack`."""
    pack.mkdir(parents=True, exist_ok=True)
    with tarfile.open(pack / "logs.tar.gz", "w:gz") as tar:
        for small in sorted(runs.rglob("*")):
            if small.is_file() and small.suffix in (".json", ".jsonl", ".err", ".log"):
                tar.add(small, arcname=str(small.relative_to(runs)))
        for run in sorted(p for p in runs.iterdir() if (p / "eval.json").exists()):
            evaluation = json.loads((run / "eval.json").read_text())
            tag = best_tag(evaluation)
            model = load_checkpoint(run / ("model" if tag == "raw" else "ema"))
            if model.config.arch == "hrm":
                model = model.to(torch.bfloat16)
            meta = dict(model.checkpoint_info.metadata)
            save_checkpoint(model, pack / run.name, {**meta, "selected": tag}, MAX_SHARD)
            print(run.name, tag, meta)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
