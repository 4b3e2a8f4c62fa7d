#!/usr/bin/env bash
# One training-campaign session (issue 12) on a lent GPU: warm-start a named config from committed weights, train
# for a fixed number of minutes, then score the raw and EMA weights in fp32 at depths 1..16 on every eval set.
#
#   setsid nohup bash scripts/campaign_session.sh OUT CONFIG INIT MINUTES [--set key=value ...] &
#   until [ -s OUT/run/curve.jsonl ] || grep -qs "train exit" OUT/status; do sleep 5; done   # fail fast, then sleep
#
# OUT/run is the training folder (model/, ema/, curve.jsonl, state.pt), OUT/eval-{raw,ema}-NAME.json the scores,
# OUT/DONE appears last. DEVICE (default cuda) and EVAL_SETS ("name=folder ...", default: the two Sudoku test sets)
# may be set in the environment. Data comes from the working tree (runs/refdata, built beforehand with
# `redge train-data`), so no GPU time goes into building it.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=$1; CONFIG=$2; INIT=$3; MINUTES=$4; shift 4
DEVICE=${DEVICE:-cuda}
EVAL_SETS=${EVAL_SETS:-"generated=runs/refdata/sudoku-gen hard=runs/refdata/sudoku-hard"}
mkdir -p "$OUT"
redge() { python3 -m redge.cli "$@"; }

compile=false; [ "$DEVICE" != cpu ] && compile=true
redge train --config "$CONFIG" --device "$DEVICE" --set max_minutes="$MINUTES" --set compile=$compile \
  --set init_from="$INIT" --no-eval "$@" --out "$OUT/run" --json > "$OUT/train.json" 2> "$OUT/train.err"
echo "train exit $?" >> "$OUT/status"
for weights in model ema; do
  [ -d "$OUT/run/$weights" ] || continue
  for pair in $EVAL_SETS; do
    redge eval "$OUT/run/$weights" --data "${pair#*=}" --depths 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 \
      --device "$DEVICE" --batch-size 1000 --json > "$OUT/eval-$weights-${pair%%=*}.json" 2>> "$OUT/eval.err"
  done
done
touch "$OUT/DONE"
