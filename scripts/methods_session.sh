#!/usr/bin/env bash
# The compression study's GPU work (issue 14), run after a campaign session on the same machine:
#   1. the CUDA tests of the quantization engine (tests/quant/test_device.py), full output kept;
#   2. optional short fine-tunes (FINETUNES="qat traj distill linattn", FINETUNE_MINUTES each): QAT, trajectory QAT
#      and a half-depth distilled student of the first checkpoint (`distill-narrow`: half-width, from scratch);
#      linear attention of the first attention one; `KIND@NAME` fine-tunes only the checkpoint of that folder name
#      (with FT_CHECKPOINTS=all: `qat@trm-mlp-sudoku distill` is QAT of that one and distillation of each);
#   3. `redge claims` on the reference checkpoints (and the fine-tuned variants), LIMIT puzzles of each set of
#      CLAIMS_SETS (default: DATA, reported to OUT/claims, then each of CLAIMS_DATA, to OUT/claims-NAME); a fine-tune
#      is judged against the FP32 of the checkpoint it came from, so the fine-tunes of another checkpoint than the
#      first get their own report with that checkpoint first (OUT/claims[-NAME]-by-CHECKPOINT; its sweeps come from
#      the shared store);
#   4. `redge sweep` of every method (METHODS, + prune-tok-25 for mlp_t models, linear-attn for attention ones) on
#      each checkpoint (or those SWEEPS names by folder), in the claims' runs store (their shared variants are not run
#      twice), reported to OUT/sweep-NAME;
#   5. the sweep-rate benchmark (10 variants, depths 1..16, fidelity) on the GPU beside the machine's CPU;
#   6. `redge autocompress` of each checkpoint for each AUTOCOMPRESS job (TARGET=MAX_BYTES[:BUDGET_MS]), searched on
#      AC_PUZZLES unlabelled train-split inputs (per-module sensitivity on the first AC_SENSITIVITY of them) and
#      verified on LIMIT test puzzles; each checkpoint's scored variants and verified scores
#      are cached (OUT/ac-cache-NAME.json, seeded from AC_CACHE_SEED), so a search the session's end cut short goes on
#      where it stopped in the next session (methods_commit.py commits the caches);
#   7. on request only (STAGES="arc-eval"; issue 12's ARC target): the ARC-AGI-1 evaluation of the ARC checkpoint,
#      pass@K at every depth after voting over each test input's augmented variants. Both the checkpoint (100 MB) and
#      the raw Kaggle files come by ferry (`device_ferry.py pack trm-att-arc=checkpoints/trm-att-arc
#      arc-raw=../shared/data/trm-kaggle-combined`); the dataset is rebuilt here exactly as for training (same files,
#      same seed, so the same puzzle identifiers), outside OUT.
# STAGES names the stages to run, in the order given (unset: all but arc-eval, as above: cuda-tests finetunes
# claims sweeps sweep-rate autocompress; empty: none): a session whose device time is short puts first what earlier
# sessions did not finish.
# Fine-tuned variants join the claims only when finetunes comes before claims.
#
#   setsid nohup bash scripts/methods_session.sh OUT &
#
# Environment: DEVICE (cuda), DATA (runs/refdata/sudoku-hard), CLAIMS_DATA (more datasets for the claims: empty),
# CLAIMS_SETS (the data sets the claims run on, in order: DATA, then CLAIMS_DATA; a report on DATA is OUT/claims,
# on another set OUT/claims-NAME),
# LIMIT (1000), CHECKPOINTS (the Sudoku TRM-MLP and TRM-Att), EMBEDDING (checkpoints/trm-att-arc when present),
# PYPKGS (a folder with pytest, when python3 lacks it), METHODS (12 presets), SWEEPS (folder names of the checkpoints
# to sweep: all), AUTOCOMPRESS (the issue's three jobs; empty: none), AC_SELECT (the selection rules each job runs
# under, any of `fidelity` `checked` `self-assessed` `auto`; default fidelity; a job under another rule is named
# ac-CKPT-TARGET[-budget]-RULE), AC_PUZZLES (256), AC_SENSITIVITY (256), AC_FINETUNE (minutes of
# `--finetune-minutes` for the jobs with a budget, named ...-ft; empty: none), AC_PARALLEL (1: the checkpoints'
# jobs side by side on the one device, each its own process; default 0),
# AC_CACHE_SEED (docs/study/autocompress/cache), CPU_PUZZLES (8),
# ARC_CHECKPOINT, ARC_RAW (FERRY_ROOT/trm-att-arc, FERRY_ROOT/arc-raw; FERRY_ROOT: /tmp/ferry), ARC_DATA
# (/tmp/arc1-aug50), ARC_BATCH (512), FINETUNES (empty), FT_CHECKPOINTS (the first checkpoint; `all`: each of
# CHECKPOINTS), FINETUNE_MINUTES (3), FINETUNE_COMPILE (false: a fine-tune of minutes is better off eager; in
# session 9 the compiled QAT fine-tune had done 50 steps when its 1.5 minutes ran out), FT_CONFIG (default: the
# training config named in the fine-tuned checkpoint's train_config.json), PYTHON (python3), STAGES (all). Each stage
# appends to OUT/status; OUT/DONE is last.
set -u
export PYTHONPATH=src${PYPKGS:+:$PYPKGS} PYTHONUNBUFFERED=1
OUT=$1
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-runs/refdata/sudoku-hard}
CLAIMS_DATA=${CLAIMS_DATA:-}
CLAIMS_SETS=${CLAIMS_SETS:-"$DATA $CLAIMS_DATA"}
LIMIT=${LIMIT:-1000}
CHECKPOINTS=${CHECKPOINTS:-"checkpoints/trm-mlp-sudoku checkpoints/trm-att-sudoku"}
EMBEDDING=${EMBEDDING:-checkpoints/trm-att-arc}
FINETUNES=${FINETUNES:-}
FINETUNE_MINUTES=${FINETUNE_MINUTES:-3}
FINETUNE_COMPILE=${FINETUNE_COMPILE:-false}
AUTOCOMPRESS=${AUTOCOMPRESS-"stm32n6=int4-channel-cal esp32-s3=int8 esp32-s3=int8:0.5*int8"}
AC_SELECT=${AC_SELECT:-fidelity}
AC_PUZZLES=${AC_PUZZLES:-256}
AC_SENSITIVITY=${AC_SENSITIVITY:-256}
AC_CACHE_SEED=${AC_CACHE_SEED:-docs/study/autocompress/cache}
AC_FINETUNE=${AC_FINETUNE:-}
AC_PARALLEL=${AC_PARALLEL:-0}
METHODS=${METHODS:-"fp32 bf16 int8 int4-naive int4-channel int4-channel-cal int4-g32 w8a8 prune-50 prune-75 prune-2:4 prune-ch-25"}
SWEEPS=${SWEEPS:-}
FERRY_ROOT=${FERRY_ROOT:-/tmp/ferry}
ARC_CHECKPOINT=${ARC_CHECKPOINT:-$FERRY_ROOT/trm-att-arc}
ARC_RAW=${ARC_RAW:-$FERRY_ROOT/arc-raw}
ARC_DATA=${ARC_DATA:-/tmp/arc1-aug50}
ARC_BATCH=${ARC_BATCH:-512}
PY=${PYTHON:-python3}
STAGES=${STAGES-"cuda-tests finetunes claims sweeps sweep-rate autocompress"}  # set and empty: none
mkdir -p "$OUT"
redge() { "$PY" -m redge.cli "$@"; }
stage() { echo "$(date +%T) $*" >> "$OUT/status"; }
json_field() {  # json_field FILE KEY...: the value at that path of a JSON file (fails when a key is missing)
  "$PY" -c "import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]: value = value[key]
print(value)" "$@"
}

run_cuda_tests() {
  stage "cuda tests"
  "$PY" -m pytest -q -p no:cacheprovider tests/quant/test_device.py > "$OUT/cuda_tests.txt" 2>&1
  stage "cuda tests exit $?"
}

base=${CHECKPOINTS%% *}
mixes_by_mlp() {  # whether checkpoint $1 mixes tokens with an MLP (TRM-MLP, `mlp_t`) rather than attention
  "$PY" -c "import json,sys; sys.exit(not json.load(open(sys.argv[1]))['config'].get('mlp_t'))" "$1/config.json"
}
attention=$(for c in $CHECKPOINTS; do mixes_by_mlp "$c" || { echo "$c"; break; }; done)  # the first attention one
declare -A variants  # checkpoint -> its fine-tunes as `--variant-checkpoint KIND=PATH ...`, for the claims
# one fine-tune of KIND from checkpoint $2 into OUT/ft-KIND$3, added to that checkpoint's claims variants (judged
# against its FP32)
finetune() {
  local kind=$1 from=$2 suffix=$3 sets config name layers kept half i
  case $kind in
    qat) sets=(--set init_from="$from" --set qat=int4-naive) ;;
    traj) sets=(--set init_from="$from" --set qat=int4-naive --set teacher="$from" --set teacher_trajectory=1.0) ;;
    # a student with half the layers, warm-started from every other layer of the teacher (the last one kept, as
    # DistilBERT keeps every other), learns the teacher's logits: minutes are enough to measure it
    distill) layers=; kept=0
             for ((i = $(json_field "$from/config.json" config L_layers) - 1; i >= 0; i -= 2)); do
               layers=$i${layers:+,$layers}; kept=$((kept + 1))
             done
             sets=(--set init_from="$from" --set "init_layers=[$layers]" --set "model.L_layers=$kept" \
                   --set teacher="$from" --set teacher_kl=1.0) ;;
    # the paper's student: half as wide, so it starts from scratch (it needs far more than minutes)
    distill-narrow) half=$(( $(json_field "$from/config.json" config hidden_size) / 2 ))
             sets=(--set teacher="$from" --set teacher_kl=1.0 --set model.hidden_size=$half \
                   --set model.puzzle_emb_ndim=$half) ;;
    # the attention checkpoint's weights, its softmax attention swapped for the linear kernel, then fine-tuned
    linattn) [ -n "$attention" ] || { stage "fine-tune linattn: no attention checkpoint"; return; }
             from=$attention; sets=(--set init_from="$attention" --set model.attention=linear) ;;
    *) stage "unknown fine-tune $kind"; return ;;
  esac
  config=${FT_CONFIG:-$(json_field "$from/train_config.json" train name 2> /dev/null)}
  [ -n "$config" ] || { stage "fine-tune $kind: no train_config.json in $from to name its config (set FT_CONFIG)"
                        return; }
  name=ft-$kind$suffix
  stage "fine-tune $kind$suffix"
  redge train --config "$config" --device "$DEVICE" --set max_minutes="$FINETUNE_MINUTES" \
    --set lr_warmup_steps=100 --set compile="$FINETUNE_COMPILE" --no-eval "${sets[@]}" --out "$OUT/$name" --json \
    > "$OUT/$name.json" 2> "$OUT/$name.err"
  stage "fine-tune $kind$suffix exit $?"
  local as=qat
  case $kind in distill|distill-narrow) as=distill ;; linattn) as=linear-attn ;; esac
  [ -d "$OUT/$name/model" ] && variants[$from]+=" --variant-checkpoint $as=$OUT/$name/model"
}

# every FINETUNES kind from each of FT_CHECKPOINTS (default: the first checkpoint; `all`: every one), a `KIND@NAME`
# only from the checkpoint of folder NAME; the others' outputs are named OUT/ft-KIND-NAME; linear attention once,
# from the first attention checkpoint
run_finetunes() {
  local c suffix entry kind from=${FT_CHECKPOINTS:-$base}
  [ "$from" = all ] && from=$CHECKPOINTS
  for c in $from; do
    suffix=; [ "$c" = "$base" ] || suffix=-$(basename "$c")
    for entry in $FINETUNES; do
      kind=${entry%@*}
      [ "$entry" = "$kind" ] || [ "${entry#*@}" = "$(basename "$c")" ] || continue
      [ "$kind" = linattn ] && [ -n "$suffix" ] && continue
      finetune "$kind" "$c" "$suffix"
    done
  done
}

# the claims on DATA (OUT/claims), then again on each of CLAIMS_DATA (OUT/claims-NAME): claim 3 needs a set that
# both architectures solve, which the hardest one may not be
run_claims() {
  local data name first c ckpts emb
  emb=(); [ -d "$EMBEDDING" ] && emb=(--embedding-checkpoint "$EMBEDDING")
  for data in $CLAIMS_SETS; do
    for first in $CHECKPOINTS; do  # the first checkpoint, then each other one that has fine-tunes to judge
      [ "$first" = "$base" ] || [ -n "${variants[$first]:-}" ] || continue
      ckpts=(-c "$first"); for c in $CHECKPOINTS; do [ "$c" = "$first" ] || ckpts+=(-c "$c"); done
      name=claims; [ "$data" = "$DATA" ] || name=claims-$(basename "$data")
      [ "$first" = "$base" ] || name=$name-by-$(basename "$first")
      stage "$name"
      # shellcheck disable=SC2086  # the variants are words without spaces: --variant-checkpoint KIND=PATH
      redge claims "${ckpts[@]}" -d "$data" ${variants[$first]:-} "${emb[@]}" --device "$DEVICE" --limit "$LIMIT" \
        --batch-size 500 --store "$OUT/runs.sqlite" --out "$OUT/$name" --json > "$OUT/$name.json" 2> "$OUT/$name.err"
      stage "$name exit $?"
    done
  done
}

# every method on every checkpoint, in the claims' store (what the claims ran is cached); methods_commit.py folds
# each finished sweep's report (OUT/sweep-NAME) into docs/
run_sweeps() {
  stage "method sweeps"
  for c in $CHECKPOINTS; do
    [ -z "$SWEEPS" ] || [[ " $SWEEPS " == *" $(basename "$c") "* ]] || continue
    extra=linear-attn; mixes_by_mlp "$c" && extra=prune-tok-25
    recipes=(); for r in $METHODS $extra; do recipes+=(-r "$r"); done
    redge sweep -c "$c" -d "$DATA" "${recipes[@]}" --device "$DEVICE" --limit "$LIMIT" --batch-size 500 \
      --store "$OUT/runs.sqlite" --out "$OUT/sweep-$(basename "$c")" --json > "$OUT/sweep-$(basename "$c").json" \
      2> "$OUT/sweep-$(basename "$c").err"
    stage "method sweep $(basename "$c") exit $?"
  done
}

# issue 14's benchmark names the reference TRM-MLP: the first `mlp_t` checkpoint given, else the first one
run_sweep_rate() {
  stage "sweep rate"
  rate_ckpt=${CHECKPOINTS%% *}; for c in $CHECKPOINTS; do mixes_by_mlp "$c" && { rate_ckpt=$c; break; }; done
  "$PY" benchmarks/sweep_rate.py --checkpoint "$rate_ckpt" --data "$DATA" --device "$DEVICE=$LIMIT" \
    --device "cpu=${CPU_PUZZLES:-8}" --batch-size 500 --threads "$(nproc)" --out "$OUT/sweep_rate.json" \
    > "$OUT/sweep_rate.txt" 2>&1
  stage "sweep rate exit $?"
}

# issue 16: label-free autocompress of each checkpoint per target (TARGET=MAX_BYTES[:BUDGET]), searched on the
# unlabelled train-split inputs, verified on LIMIT test puzzles it never saw, beside the presets at the same bytes
autocompress_jobs() {  # every AUTOCOMPRESS job under every AC_SELECT rule on checkpoint $1
  local c=$1 cache seed select job target rest cap budget name ft
  cache=$OUT/ac-cache-$(basename "$c").json  # seeded with the scores an earlier session's search left (in git)
  seed=$AC_CACHE_SEED/$(basename "$cache")
  [ -f "$cache" ] || [ ! -f "$seed" ] || cp "$seed" "$cache"
  for select in $AC_SELECT; do
    for job in $AUTOCOMPRESS; do
      target=${job%%=*}; rest=${job#*=}; cap=${rest%%:*}; budget=; [ "$rest" != "$cap" ] && budget=${rest#*:}
      name=ac-$(basename "$c")-$target${budget:+-budget}
      [ "$select" = fidelity ] || name=$name-$select
      ft=(); [ -n "$budget" ] && [ -n "$AC_FINETUNE" ] && { ft=(--finetune-minutes "$AC_FINETUNE"); name=$name-ft; }
      stage "autocompress $name"
      redge autocompress "$c" -t "$target" -d "$DATA" --split train --limit "$AC_PUZZLES" --max-bytes "$cap" \
        --sensitivity-puzzles "$AC_SENSITIVITY" --select "$select" "${ft[@]}" \
        ${budget:+--budget-ms "$budget"} --verify "$DATA" --verify-limit "$LIMIT" --device "$DEVICE" \
        --cache "$cache" --out "$OUT/$name" --json > "$OUT/$name.json" 2> "$OUT/$name.err"
      stage "autocompress $name exit $?"
    done
  done
}

run_autocompress() {  # each checkpoint's jobs in turn, or side by side on the one GPU with AC_PARALLEL=1
  local c
  for c in $CHECKPOINTS; do
    if [ "$AC_PARALLEL" = 1 ]; then autocompress_jobs "$c" & else autocompress_jobs "$c"; fi
  done
  wait
}

# issue 12: the ARC checkpoint's pass@K on the ARC-AGI-1 evaluation set, its data rebuilt from the ferried raw
# files as its training data was (`redge data build arc --num-aug 50`: the identifiers index its embedding table)
run_arc_eval() {
  for need in "$ARC_CHECKPOINT/config.json" "$ARC_RAW/arc-agi_evaluation_challenges.json"; do
    [ -f "$need" ] || { stage "arc eval: no $need (ferry it: scripts/device_ferry.py)"; return; }
  done
  if [ ! -f "$ARC_DATA/test_puzzles.json" ]; then
    stage "arc data"
    redge data build arc --input "$ARC_RAW/arc-agi" --num-aug 50 --out "$ARC_DATA" --json > "$OUT/arc-data.json" \
      2> "$OUT/arc-data.err" || { stage "arc data exit $?"; return; }
  fi
  stage "arc eval"
  redge eval "$ARC_CHECKPOINT" -d "$ARC_DATA" --depths 1-16 --device "$DEVICE" --dtype bfloat16 \
    --batch-size "$ARC_BATCH" --json \
    > "$OUT/arc-eval.json" 2> "$OUT/arc-eval.err"
  stage "arc eval exit $?"
}

for name in $STAGES; do
  case $name in
    cuda-tests) run_cuda_tests ;; finetunes) run_finetunes ;; claims) run_claims ;; sweeps) run_sweeps ;;
    sweep-rate) run_sweep_rate ;; autocompress) run_autocompress ;; arc-eval) run_arc_eval ;;
    *) stage "unknown stage $name (cuda-tests finetunes claims sweeps sweep-rate autocompress arc-eval)" ;;
  esac
done
touch "$OUT/DONE"
