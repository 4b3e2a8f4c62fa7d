"""Memory plans of the reference shapes on the edge targets (the README's deployment table), from configs alone.

    python benchmarks/plan_table.py [--out benchmarks/results/plan_table.json]

Each row plans a shipped checkpoint's config (built on the meta device: no weights are read), at its own task or
with a Maze shape (900 cells, 6 tokens), under a recipe on a target, as `redge plan` does. Deterministic: no
timing, so the JSON changes only when the planner, the targets or the reference configs change.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from redge.core.jsonio import write_json
from redge.deploy.plan import plan_config
from redge.quant.load import read_config

ROOT = Path(__file__).resolve().parent.parent
MAZE = {"seq_len": 900, "vocab_size": 6}
ROWS = (  # label, checkpoint whose config is planned, config changes, recipe, target
    ("TRM-Att Sudoku", "checkpoints/trm-att-sudoku", {}, "int8", "esp32-s3"),
    ("TRM-Att Maze", "checkpoints/trm-att-sudoku", MAZE, "int8", "esp32-s3"),
    ("TRM-Att Sudoku", "checkpoints/trm-att-sudoku", {}, "int4-channel-cal", "stm32n6"),
    ("TRM-Att Maze", "checkpoints/trm-att-sudoku", MAZE, "int4-channel-cal", "stm32n6"),
    ("HRM Sudoku", "checkpoints/hrm-sudoku", {}, "int8", "esp32-s3"),
    ("HRM Sudoku", "checkpoints/hrm-sudoku", {}, "int4-channel-cal", "stm32n6"),
    ("TRM-Att Sudoku", "checkpoints/trm-att-sudoku", {}, "int4-channel-cal", "stm32h743"),
)


def plan_row(label: str, checkpoint: str, changes: dict[str, int], recipe: str, target: str) -> dict[str, Any]:
    """One row: the plan's bytes, schedule, verdict and margin (the full plan is `redge plan --json`)."""
    config = read_config(ROOT / checkpoint).replace(**changes)
    plan = plan_config(config, recipe, target, source=checkpoint)
    return {"label": label, "checkpoint": checkpoint, "changes": changes, "recipe": recipe, "target": target,
            "positions": plan["model"]["positions"], "blob_bytes": plan["flash"]["blob"]["total"],
            "ram": {"total": plan["ram"]["total"], "weights": plan["ram"]["weights"], "arena": plan["ram"]["arena"],
                    "state": sum(plan["ram"]["state"].values())},
            "schedule": plan["schedule"], "fits": plan["fits"], "margin_region": plan["margin_region"],
            "margin_bytes": plan["margin_bytes"], "margin_fraction": plan["margin_fraction"],
            "why_not": plan["why_not"]}


def main() -> None:
    """Plan every row, print one line each, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/plan_table.json")
    args = parser.parse_args()
    rows = [plan_row(*row) for row in ROWS]
    for r in rows:
        print(f"{r['label']:15s} {r['recipe']:17s} {r['target']:10s} blob {r['blob_bytes']:>11,} "
              f"RAM {r['ram']['total']:>11,} {'fits' if r['fits'] else 'does not fit'}")
    write_json(args.out, {"rows": rows, "command": "python3 benchmarks/plan_table.py " + " ".join(sys.argv[1:])},
               indent=2)


if __name__ == "__main__":
    main()
