#!/usr/bin/env bash
# One session's device work as one detached chain: the training campaign (issue 12, scripts/campaign_session.sh)
# and then the compression study (issue 14, scripts/methods_session.sh), driven by short `run` calls whose
# commands are fixed in advance (a lent machine is released 30 s after a call returns: the next call must follow
# at once, with nothing to decide):
#
#   here, first:                  bash scripts/device_prep.sh prepare CONFIG [STUDY_CHECKPOINT ...]
#   call 1, carry runs/refdata:   bash scripts/session_chain.sh start CONFIG MINUTES [--set key=value ...]
#   call 2, carry runs/pypkgs and runs/ckpt-study:
#                                 bash scripts/session_chain.sh add [PATH ...] [embedding=PATH]; \
#                                 bash scripts/device_poll.sh 540
#   every later call:             bash scripts/device_poll.sh 560
#   here, last, at once:          bash scripts/device_land.sh FILES_AT CONFIG   (restores, folds, commits)
#
# Everything lives under $CHAIN_ROOT (default /tmp). `start` copies the working tree to /tmp/repo, runs/refdata to
# /tmp/refdata and checkpoints/CONFIG (the warm start) to /tmp/ckpt, starts the chain detached and returns once the
# training wrote its first curve row or exited (then its error is shown: a wrong override costs seconds, not the
# session; a checkpoint too large to travel beside the data comes from /tmp/ferry/CONFIG, scripts/device_ferry.py).
# Paths in --set overrides may name /tmp/refdata/... . `add` copies the methods' other checkpoints (and
# runs/pypkgs, for a python without pytest) to /tmp/ckpt: the tree may carry only 64 MiB, so they travel in a later
# call than the campaign's checkpoint. The study runs on the campaign's new weights (raw or EMA, whichever is
# better) when they beat the warm start's held-out hard exact accuracy by 2 points (the campaign's rule for a new
# version), on the warm start otherwise. Last, a profile of the training step (benchmarks/train_throughput.py
# --profile; PROFILE_STEPS warm-up steps, default 50) into /tmp/m. /tmp/CHAIN_DONE appears last.
# The study's settings (STAGES, DATA: default /tmp/refdata/sudoku-hard, CLAIMS_DATA, FINETUNES, AUTOCOMPRESS, LIMIT,
# ...: scripts/methods_session.sh) pass through `start`'s environment, e.g.
# `STAGES="sweep-rate autocompress claims" bash scripts/session_chain.sh start ...`; STAGES="" runs no study after
# the training. EARLY_STAGES names study stages that need no campaign weights (arc-eval: the ARC checkpoint's
# evaluation on ferried files) to run beside the training from the start, sharing the GPU, into the same /tmp/m: a
# stage of unknown length then does not wait for the training and the fp32 evaluations to end.
# MINUTES=0 is a study session without training (the campaign is over): the study runs on checkpoints/CONFIG as
# committed and the others `add` brings, `start` returns at once, no profile; EARLY_STAGES then run beside STAGES
# on the same checkpoints (e.g. EARLY_STAGES=autocompress while STAGES="finetunes claims" use the GPU).
set -u
W=${CHAIN_ROOT:-/tmp}  # where the chain lives on the machine (a test gives its own folder)
mode=${1:?start or add}; shift
case $mode in
  start)
    CONFIG=${1:?config}; MINUTES=${2:?minutes}; shift 2
    # a restart stops the whole earlier chain, its stages' children too (a data build, an evaluation), which a
    # match on the stage scripts' names would leave running on the GPU
    [ -s $W/chain.pgid ] && { kill -- "-$(cat $W/chain.pgid)" 2>/dev/null; sleep 1; }
    rm -rf $W/repo $W/refdata $W/ckpt $W/c $W/m $W/CHAIN_DONE $W/chain.pgid
    # the committed checkpoint, or its ferried copy (scripts/device_ferry.py) where the tree carries only the
    # checkpoint's emptied folder
    warm=checkpoints/$CONFIG; [ -f "$warm/config.json" ] || warm=${FERRY_ROOT:-/tmp/ferry}/$CONFIG
    cp -r . $W/repo && cp -r runs/refdata $W/refdata && mkdir -p $W/ckpt && cp -r "$warm" $W/ckpt/ \
      || { echo "start: could not copy the tree, runs/refdata or $warm"; exit 1; }
    printf '%q ' "$CONFIG" "$MINUTES" "$@" > $W/chain.args
    setsid nohup bash $W/repo/scripts/session_chain.sh chain > $W/chain.log 2>&1 < /dev/null &
    echo $! > $W/chain.pgid  # setsid, started by a shell without job control, leads its group under the same pid
    [ "$MINUTES" = 0 ] && { echo "study session: started on $warm, waiting for add"; exit 0; }
    until [ -s $W/c/run/curve.jsonl ] || grep -qs "train exit" $W/c/status; do sleep 3; done
    cat $W/c/status 2>/dev/null; head -n 1 $W/c/run/curve.jsonl 2>/dev/null | cut -c1-400
    tail -n 8 $W/c/train.err 2>/dev/null ;;
  add)
    [ -d runs/pypkgs ] && rm -rf "$W/pypkgs" && cp -r runs/pypkgs "$W/pypkgs"
    : > $W/ckpt/extra.tmp
    for item in "$@"; do
      path=${item#embedding=}
      cp -r "$path" $W/ckpt/ || { echo "add: cannot copy $path"; continue; }
      [ "$item" = "$path" ] && echo "checkpoint $W/ckpt/$(basename "$path")" >> $W/ckpt/extra.tmp \
                            || echo "embedding $W/ckpt/$(basename "$path")" >> $W/ckpt/extra.tmp
    done
    mv $W/ckpt/extra.tmp $W/ckpt/READY; cat $W/ckpt/READY ;;
  chain)
    eval "set -- $(cat $W/chain.args)"
    CONFIG=$1; MINUTES=$2; shift 2
    cd $W/repo
    R=$W/refdata
    early=
    beside() {  # EARLY_STAGES in the background, in the environment "$@", beside what follows
      [ -n "${EARLY_STAGES:-}" ] || return 0
      env "$@" STAGES="$EARLY_STAGES" bash scripts/methods_session.sh $W/m &
      early=$!
    }
    study=$W/ckpt/$CONFIG
    if [ "$MINUTES" != 0 ]; then
      beside PYPKGS=$W/pypkgs EMBEDDING=none  # study stages that need no campaign weights, beside the training
      EVAL_SETS=${EVAL_SETS:-"generated=$R/sudoku-gen hard=$R/sudoku-hard"} \
        bash scripts/campaign_session.sh $W/c "$CONFIG" "$W/ckpt/$CONFIG" "$MINUTES" "$@"
      better=$(python3 scripts/session_weights.py $W/c --beat "$study/eval.json")
      if [ -n "$better" ]; then  # a checkpoint folder like the committed one: weights, config, training config
        mkdir -p $W/ckpt/new && cp -r "$W/c/run/$better" "$W/ckpt/new/$CONFIG" && study=$W/ckpt/new/$CONFIG
        cp $W/c/run/config.json "$study/train_config.json"
      fi
    fi
    echo "study checkpoint: $study"
    # `add` comes in the call after `start`, long before the training ends; a session that never made it (its carry
    # did not fit) studies the campaign's checkpoint alone instead of waiting for ever
    waited=0; until [ -f $W/ckpt/READY ] || [ $waited -ge 120 ]; do sleep 2; waited=$((waited + 2)); done
    [ -f $W/ckpt/READY ] || { echo "no add after 120 s: the study runs on $study alone"; : > $W/ckpt/READY; }
    others=$(awk '$1 == "checkpoint" {print $2}' $W/ckpt/READY | tr '\n' ' ')
    embedding=$(awk '$1 == "embedding" {print $2}' $W/ckpt/READY | head -n 1)
    export PYPKGS=$W/pypkgs CHECKPOINTS="$study $others" DATA=${DATA:-$R/sudoku-hard} EMBEDDING=${embedding:-none}
    [ "$MINUTES" != 0 ] || beside  # no training to run beside: beside the study
    bash scripts/methods_session.sh $W/m
    [ -z "$early" ] || wait "$early"
    if [ "$MINUTES" != 0 ]; then
      # leftover minutes: where a compiled training step's GPU time goes (issue 12's throughput work starts from it)
      compile=true; [ "${DEVICE:-cuda}" = cpu ] && compile=false
      PYTHONPATH=src python3 benchmarks/train_throughput.py --config "$CONFIG" --device "${DEVICE:-cuda}" "$@" \
        --set compile=$compile --steps "${PROFILE_STEPS:-50}" --profile 20 --json $W/m/train_profile.json \
        > $W/m/train_profile.txt 2>&1
    fi
    touch $W/CHAIN_DONE ;;
  *) echo "unknown mode $mode (start, add)"; exit 1 ;;
esac
