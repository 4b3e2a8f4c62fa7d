"""Fold one training-campaign session (`campaign_session.sh` output) into a committed checkpoint folder.

Copies the chosen weights (`ema` or `model` = raw) with their config, appends the session's curve to the model's
`curve.jsonl` (tagged with the version; `total_step`/`total_minutes` continue from where the previous version's
training ended: its last row's offset plus the final step and minutes its `config.json` metadata records),
and replaces `eval.json` with the session's fp32 evaluation of both weights. The model card and the ledger are
edited by hand: they carry the judgement.

    python3 scripts/campaign_commit.py SESSION checkpoints/trm-mlp-sudoku --version 3 --weights ema \
        --device "cuda (one H200)" [--train-config CONFIG --set key=value ...]

`train_config.json` becomes the session's own `run/config.json`; when that did not come back from the device,
`--train-config` (with the session's `--set` overrides) rebuilds it.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from redge.core.jsonio import write_json
from redge.train.configs import get_config, parse_overrides


def continue_curve(old_curve: Path, previous_config: Path, session_curve: Path, version: int) -> list[str]:
    """The session's curve rows, tagged with `version` and with totals continuing the previous version's.

    The previous training ended after its last logged row (rows come every `log_every` steps), so the totals start
    from that version's own offset plus the final step and minutes its checkpoint's metadata records; a checkpoint
    without that metadata continues from its last row.
    """
    rows = [json.loads(line) for line in old_curve.read_text().splitlines() if line.strip()]
    if any(row.get("version") == version for row in rows):
        raise SystemExit(f"{old_curve}: version {version} is already in the curve")
    last = rows[-1]
    step0 = last.get("total_step", last["step"]) - last["step"]
    minutes0 = last.get("total_minutes", last["minutes"]) - last["minutes"]
    metadata = json.loads(previous_config.read_text()).get("metadata", {})
    step0 += metadata.get("step", last["step"])
    minutes0 += metadata.get("train_minutes", last["minutes"])
    out = []
    for line in session_curve.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        tagged = {"version": version, "total_step": step0 + row["step"],
                  "total_minutes": round(minutes0 + row["minutes"], 3), **row}
        out.append(json.dumps(tagged))
    return out


def session_eval(session: Path, version: int, device: str, weights: str) -> dict:
    """`eval-{model,ema}-SET.json` of the session as one object keyed `raw/SET` and `ema/SET`."""
    result: dict = {"version": version, "dtype": "float32", "device": device,
                    "committed_weights": "ema" if weights == "ema" else "raw"}
    for path in sorted(session.glob("eval-*-*.json")):
        tag, name = path.stem.removeprefix("eval-").split("-", 1)
        result[f"{'raw' if tag == 'model' else tag}/{name}"] = json.loads(path.read_text())["depths"]
    return result


def main() -> None:
    """Parse the arguments and fold the session in."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("session", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--weights", choices=["ema", "model"], required=True)
    parser.add_argument("--device", required=True, help="where the evaluation ran, in words")
    parser.add_argument("--train-config", help="named config or file to rebuild train_config.json from")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()

    source = args.session / "run" / args.weights
    curve = continue_curve(args.checkpoint / "curve.jsonl", args.checkpoint / "config.json",
                           args.session / "run" / "curve.jsonl", args.version)  # before the config is replaced
    for shard in args.checkpoint.glob("model-*.safetensors"):
        shard.unlink()
    for item in sorted(source.iterdir()):
        shutil.copy2(item, args.checkpoint / item.name)
    with open(args.checkpoint / "curve.jsonl", "a") as handle:
        handle.write("\n".join(curve) + "\n")
    write_json(args.checkpoint / "eval.json", session_eval(args.session, args.version, args.device, args.weights),
               indent=1)
    run_config = args.session / "run" / "config.json"
    if run_config.exists():  # the run's full configuration, as the trainer wrote it
        shutil.copy2(run_config, args.checkpoint / "train_config.json")
    elif args.train_config:
        config = get_config(args.train_config).replace(**parse_overrides(args.overrides))
        write_json(args.checkpoint / "train_config.json", {"train": config.to_dict(), "world_size": 1})
    print(f"{args.checkpoint}: version {args.version} ({args.weights}), {len(curve)} curve rows")


if __name__ == "__main__":
    main()
