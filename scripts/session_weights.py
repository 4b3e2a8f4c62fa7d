"""Which weights of a campaign session folder (`campaign_session.sh OUT`) to keep: raw (`model`) or `ema`.

    python3 scripts/session_weights.py SESSION               # what to bring back from the device
    python3 scripts/session_weights.py SESSION --beat EVAL   # what to study instead of the warm start, if anything

Prints `model` or `ema`: the better on held-out hard exact accuracy at depth 16 (SESSION/eval-{model,ema}-hard.json)
once both are evaluated, else the EMA of the last checkpoint (raw when the run keeps no EMA). With `--beat`, only
evaluated weights count, and the answer is printed only when it beats the committed weights' number in EVAL (the
warm start's eval.json) by 2 points, the campaign's rule for a new version; otherwise nothing is printed.
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
    args = parser.parse_args()
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
