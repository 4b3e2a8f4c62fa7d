"""Fold one training-campaign session (`campaign_session.sh` output) into a committed checkpoint folder.

Copies the chosen weights (`ema` or `model` = raw) with their config, appends the session's curve to the model's
`curve.jsonl` (tagged with the version; `total_step`/`total_minutes` continue from where the previous version's
training ended: its last row's offset plus the final step and minutes its `config.json` metadata records),
and replaces `eval.json` with the session's fp32 evaluation of both weights. The model card and the ledger are
edited by hand: they carry the judgement.

    python3 scripts/campaign_commit.py SESSION checkpoints/trm-mlp-sudoku --version 3 --weights ema \
        --device "cuda (one H200)" [--earlier LOST_SESSION ...] [--train-config CONFIG --set key=value ...]

A session resumed after lost machines (`device_resume.sh`) names their folders with `--earlier`, in order: their
curves up to the weights they brought back come first, and the version's totals count them.
`train_config.json` becomes the session's own `run/config.json`; when that did not come back from the device,
`--train-config` (with the session's `--set` overrides) rebuilds it.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from session_weights import returned_weights  # scripts/, beside this file

from redge.core.jsonio import write_json
from redge.train.configs import get_config, parse_overrides


def _rows(curve: Path) -> list[dict]:
    return [json.loads(line) for line in curve.read_text().splitlines() if line.strip()]


def _ended(config: Path, fallback: dict) -> tuple[int, float]:
    """Final step and training minutes a checkpoint's metadata records (`fallback`, a curve row, when it has none)."""
    metadata = json.loads(config.read_text()).get("metadata", {})
    return metadata.get("step", fallback["step"]), metadata.get("train_minutes", fallback["minutes"])


def resumed_at(segment: Path) -> tuple[int, float]:
    """Step and training minutes of the weights a lost machine's segment brought back, which the next segment
    started from (device_resume.sh); the segment's last curve row when their metadata does not say."""
    weights = returned_weights(segment)
    if weights is None:
        raise SystemExit(f"{segment}: no run/ema or run/model weights: not a segment a session was resumed from")
    return _ended(weights / "config.json", _rows(segment / "run" / "curve.jsonl")[-1])


def continue_curve(old_curve: Path, previous_config: Path, segments: list[Path], version: int) -> list[dict]:
    """The version's curve rows, tagged with `version` and with totals continuing the previous version's.

    The previous training ended after its last logged row (rows come every `log_every` steps), so the totals start
    from where that version began (its first row's offset) plus the final step and minutes its checkpoint's metadata
    records, which count the whole version, over every segment of a resumed one (`version_totals`). `segments` are
    the version's session folders in order: all but the last were lost machines, each resumed from the weights it
    brought back, so only their rows up to those weights' step count, and the next segment continues from there.
    """
    rows = _rows(old_curve)
    if any(row.get("version") == version for row in rows):
        raise SystemExit(f"{old_curve}: version {version} is already in the curve")
    last = rows[-1]
    first = next(row for row in rows if row.get("version") == last.get("version"))
    end_step, end_minutes = _ended(previous_config, last)
    step0 = first.get("total_step", first["step"]) - first["step"] + end_step
    minutes0 = first.get("total_minutes", first["minutes"]) - first["minutes"] + end_minutes
    out = []
    for index, segment in enumerate(segments):
        cut_step, cut_minutes = (None, 0.0) if index == len(segments) - 1 else resumed_at(segment)
        for row in _rows(segment / "run" / "curve.jsonl"):
            if cut_step is None or row["step"] <= cut_step:
                out.append({"version": version, "total_step": step0 + row["step"],
                            "total_minutes": round(minutes0 + row["minutes"], 3), **row})
        if cut_step is not None:
            step0, minutes0 = step0 + cut_step, minutes0 + cut_minutes
    return out


def version_totals(checkpoint_config: Path, segments: list[Path]) -> None:
    """Make the committed weights' metadata count the whole version's steps and minutes, over every segment."""
    if len(segments) == 1:
        return
    config = json.loads(checkpoint_config.read_text())
    metadata = config.setdefault("metadata", {})
    for segment in segments[:-1]:
        step, minutes = resumed_at(segment)
        metadata["step"] = metadata.get("step", 0) + step
        metadata["train_minutes"] = round(metadata.get("train_minutes", 0.0) + minutes, 3)
    write_json(checkpoint_config, config, indent=2)


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
    parser.add_argument("--earlier", action="append", default=[], type=Path,
                        help="a lost machine's session folder this one resumed from (device_resume.sh), in order")
    args = parser.parse_args()

    source = args.session / "run" / args.weights
    segments = [*args.earlier, args.session]
    curve = continue_curve(args.checkpoint / "curve.jsonl", args.checkpoint / "config.json", segments,
                           args.version)  # before the config is replaced
    for shard in args.checkpoint.glob("model-*.safetensors"):
        shard.unlink()
    for item in sorted(source.iterdir()):
        shutil.copy2(item, args.checkpoint / item.name)
    version_totals(args.checkpoint / "config.json", segments)
    with open(args.checkpoint / "curve.jsonl", "a") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in curve))
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
