#!/usr/bin/env bash
# Reference GPU runs of issue 8 on one 4-GPU (or, NGPU=2, 2-GPU) machine: the data, four trainings side by side (one per GPU, batch 768,
# bf16, torch.compile), each evaluated at depths 1/2/4/8/16 at the end, then the 4-way DDP throughput benchmark.
# Run detached from the repository root:  setsid nohup bash scripts/reference_runs.sh MINUTES OUT &
# Any machine with torch, numpy, safetensors, typer, rich and pyyaml will do (no package index needed).
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
MINUTES=${1:-16}
OUT=${2:-runs/gpu}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu EXTRA="--set ..." for a scaled-down dry run
mkdir -p "$OUT"
python3 -m redge.cli train-data --out runs/refdata --generated-train "${GENERATED:-20000}" --workers "$(nproc)" > "$OUT/data.log" 2>&1

train() {  # train GPU NAME CONFIG [--set k=v ...]
  local gpu=$1 name=$2; shift 2
  CUDA_VISIBLE_DEVICES=$gpu python3 -m redge.cli train --config "$@" --device "$DEVICE" --set max_minutes="$MINUTES" \
    --set compile=true ${EXTRA:-} --out "$OUT/$name" --json > "$OUT/$name.json" 2> "$OUT/$name.err" &
}
NGPU=${NGPU:-4}
if [ "$NGPU" -ge 4 ]; then
  train 0 trm-mlp-sudoku trm-mlp-sudoku
  train 1 trm-att-sudoku trm-att-sudoku
  train 2 hrm-sudoku hrm-sudoku
  train 3 trm-mlp-sudoku-lr3e-4 trm-mlp-sudoku --set lr=3e-4 --set puzzle_emb_lr=3e-4 --set seed=1
else  # 2 GPUs: TRM-MLP alone on GPU 0, TRM-Att and HRM share GPU 1
  train 0 trm-mlp-sudoku trm-mlp-sudoku
  train 1 trm-att-sudoku trm-att-sudoku
  train 1 hrm-sudoku hrm-sudoku
fi
wait
touch "$OUT/TRAINED"
if [ "${BENCH_DDP:-1}" = 1 ] && [ "$DEVICE" = cuda ]; then
  torchrun --standalone --nproc_per_node "$NGPU" benchmarks/train_throughput.py --config trm-mlp-sudoku \
    --set compile=true --set global_batch_size=$((768 * NGPU)) --steps 30 --json "$OUT/bench_ddp.json" \
    > "$OUT/bench_ddp.log" 2>&1
fi
touch "$OUT/DONE"
