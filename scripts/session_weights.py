"""Which weights of a campaign session folder (`campaign_session.sh OUT`) to keep: raw (`model`) or `ema`.

    python3 scripts/session_weights.py SESSION               # what to bring back from the device
    python3 scripts/session_weights.py SESSION --beat EVAL   # what to study instead of the warm start, if anything
    python3 scripts/session_weights.py SESSION --returned    # the weights folder a poll brought back

Prints `model` or `ema`: the better on held-out hard exact accuracy at depth 16 (SESSION/eval-{model,ema}-hard.json)
once both are evaluated, else the EMA of the last checkpoint (raw when the run keeps no EMA). With `--beat`, only
evaluated weights count, and the answer is printed only when it beats the committed weights' number in EVAL (the
warm start's eval.json) by 2 points, the campaign's rule for a new version; otherwise nothing is printed. With
`--returned` (SESSION: a campaign folder a poll brought back, `device_poll.sh`), prints the path of the one weights
folder in it, or fails when no checkpoint had come back yet.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NEW_VERSION_POINTS = 0.02


def hard_exact(session: Path, weights: str) -> float | None:
    """Exact accuracy at depth 16 on the hard set of the session's evaluation of `weights`, None if not there."""
    try:
        return json.loads((session / f"eval-{weights}-hard.json").read_text())["depths"]["16"]["exact_accuracy"]
    except (OSError, ValueError, KeyError):
        return None


def returned_weights(session: Path) -> Path | None:
    """The weights folder (run/ema or run/model, with its config.json) a poll brought back in SESSION, None when
    none had come back yet. A poll brings one of the two; both `device_resume.sh` and `campaign_commit.py` read it
    through here."""
    for name in ("ema", "model"):
        folder = session / "run" / name
        if (folder / "config.json").is_file() and any(folder.glob("model*.safetensors")):
            return folder
    return None


def committed_hard_exact(eval_json: Path) -> float:
    """The committed weights' hard exact accuracy at depth 16 in a checkpoint's eval.json."""
    card = json.loads(eval_json.read_text())
    weights = card.get("committed_weights", "ema").replace("model", "raw")
    return card[f"{weights}/hard"]["16"]["exact_accuracy"]


def main() -> None:
    """Print the choice (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session", type=Path)
    parser.add_argument("--beat", type=Path, help="the warm start's eval.json")
    parser.add_argument("--returned", action="store_true", help="print the weights folder a poll brought back")
    args = parser.parse_args()
    if args.returned:
        folder = returned_weights(args.session)
        if folder is None:
            sys.exit(f"{args.session}: no weights came back yet (no checkpoint before the machine was lost)")
        print(folder)
        return
    scores = {w: hard_exact(args.session, w) for w in ("model", "ema")}
    evaluated = {w: v for w, v in scores.items() if v is not None}
    if args.beat is None:
        if len(evaluated) == len(scores):
            print(max(evaluated, key=evaluated.get))
        else:
            print("ema" if (args.session / "run" / "ema").is_dir() else "model")
        return
    try:
        old = committed_hard_exact(args.beat)
    except (OSError, ValueError, KeyError) as exc:
        sys.exit(f"no hard exact accuracy of the warm start ({exc}): the study uses it")
    best = max(evaluated, key=evaluated.get) if evaluated else None
    print(f"hard exact at depth 16: {evaluated} after the session, {old:.3f} before", file=sys.stderr)
    if best and evaluated[best] >= old + NEW_VERSION_POINTS:
        print(best)


if __name__ == "__main__":
    main()
