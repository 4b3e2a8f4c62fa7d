#!/usr/bin/env bash
# Second GPU session of issue 8:
#   GPU 0: TRM-Att on ARC-AGI-1 + ConceptARC (--num-aug 50), a short run, then pass@K on the ARC-2024 evaluation set;
#   GPU 1: the training-throughput benchmark (TRM-MLP with and without the padded mlp_t, TRM-Att), then TRM-Att
#          Sudoku warm-started from the committed checkpoints/trm-att-sudoku (fresh optimizer, 200 warm-up steps).
# With NGPU=1 (only a 1-GPU machine was lent) GPU 0 runs ARC, its evaluation, then the benchmark; no TRM-Att run.
# Run detached from the repository root:  setsid nohup bash scripts/reference_runs_2.sh OUT &
# Needs torch, numpy, safetensors, typer, rich, pyyaml, and the raw data under $REDGE_SHARED_DATA
# (trm-kaggle-combined, sudoku-tdoku-benchmarks).
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${1:-runs/gpu2}
ARC_MINUTES=${ARC_MINUTES:-15}
ATT_MINUTES=${ATT_MINUTES:-13}
NGPU=${NGPU:-2}
mkdir -p "$OUT"
redge() { python3 -m redge.cli "$@"; }

redge data build arc --num-aug 50 --out runs/refdata/arc1-aug50 --json > "$OUT/arc-data.json" 2> "$OUT/arc-data.err" &
redge train-data --out runs/refdata --generated-train 20000 --workers "$(nproc)" > "$OUT/data.log" 2>&1
wait
touch "$OUT/DATA"

bench() {  # bench NAME CONFIG [--set k=v ...]
  local name=$1; shift
  python3 benchmarks/train_throughput.py --config "$@" --set compile=true --steps 40 \
    --json "$OUT/bench-$name.json" >> "$OUT/bench.log" 2>&1
}
benchmarks() {
  bench trm-mlp trm-mlp-sudoku
  bench trm-mlp-pad16 trm-mlp-sudoku --set token_pad_multiple=16
  bench trm-att trm-att-sudoku
  bench trm-mlp-pad128 trm-mlp-sudoku --set token_pad_multiple=128
}

(
  export CUDA_VISIBLE_DEVICES=0
  redge train --config trm-att-arc --device cuda --set max_minutes="$ARC_MINUTES" --set compile=true \
    --set lr_warmup_steps=200 --no-eval --out "$OUT/trm-att-arc" --json > "$OUT/trm-att-arc.json" 2> "$OUT/trm-att-arc.err"
  redge eval "$OUT/trm-att-arc/model" --data runs/refdata/arc1-aug50 --device cuda --dtype bfloat16 --batch-size 768 \
    --json > "$OUT/trm-att-arc-eval.json" 2>> "$OUT/trm-att-arc.err"
  touch "$OUT/ARC_DONE"
  if [ "$NGPU" -lt 2 ]; then benchmarks; fi
) &

[ "$NGPU" -ge 2 ] && (
  export CUDA_VISIBLE_DEVICES=1
  benchmarks
  redge train --config trm-att-sudoku --device cuda --set max_minutes="$ATT_MINUTES" --set compile=true \
    --set init_from=checkpoints/trm-att-sudoku --set lr_warmup_steps=200 --out "$OUT/trm-att-sudoku" --json \
    > "$OUT/trm-att-sudoku.json" 2> "$OUT/trm-att-sudoku.err"
  touch "$OUT/ATT_DONE"
) &
wait
touch "$OUT/DONE"
