#!/usr/bin/env bash
# Prepare this checkout for a device session (scripts/session_chain.sh), and put it back afterwards.
#
#   bash scripts/device_prep.sh prepare [--ferry] CAMPAIGN_CHECKPOINT [STUDY_CHECKPOINT ...]
#   bash scripts/device_prep.sh restore
#
# A device call copies the working tree (tracked files + what `carry` names) and may take 64 MiB. `prepare` moves
# every tracked checkpoint except the campaign's out of the tree (to ../stash, outside the repository: git status
# shows them deleted until `restore`), and stages what the later calls carry: copies of the study's checkpoints under
# runs/ckpt-study/ (their config.json only for the ARC checkpoint, whose 100 MB table claim 7 does not read), and
# runs/pypkgs (pytest for the device's python, which has none). Then no file moves between two calls, which must
# follow each other within the machine's 30-second release. It prints the `run` calls to make, with their carries.
# `restore` also puts back the committed weights that scripts/device_resume.sh replaced after a lost machine.
# `--ferry` is for a campaign checkpoint too large to travel beside the data (HRM's 53 MB): it is packed into
# runs/ferry/1.. (scripts/device_ferry.py; one call each, before call 1, which then finds it in /tmp/ferry) and
# stashed with the others. FERRY_EXTRA (NAME=PATH ...) ferries more folders in the same parts, e.g. the ARC
# checkpoint and the raw files its evaluation rebuilds its data from (`trm-att-arc=checkpoints/trm-att-arc
# arc-raw=../shared/data/trm-kaggle-combined`, for the study's arc-eval stage).
set -eu
cd "$(dirname "$0")/.."
STASH=${STASH:-../stash}
mode=${1:?prepare or restore}; shift
case $mode in
  prepare)
    ferry=; [ "${1:-}" = --ferry ] && { ferry=yes; shift; }
    campaign=${1:?campaign checkpoint name (e.g. trm-mlp-sudoku)}; shift
    [ -d "checkpoints/$campaign" ] || { echo "no checkpoints/$campaign"; exit 1; }
    [ -d runs/refdata/sudoku-hard ] || { echo "build runs/refdata first: redge train-data --out runs/refdata"; exit 1; }
    rm -rf runs/ckpt-study runs/pypkgs runs/resume && mkdir -p runs/ckpt-study runs/pypkgs "$STASH"
    for name in "$@"; do
      if [ "$name" = trm-att-arc ]; then mkdir -p runs/ckpt-study/trm-att-arc
        cp "checkpoints/$name/config.json" runs/ckpt-study/trm-att-arc/
      else cp -r "checkpoints/$name" runs/ckpt-study/; fi
    done
    site=$(python3 -c "import pytest, os; print(os.path.dirname(os.path.dirname(pytest.__file__)))" 2>/dev/null \
           || .venv/bin/python -c "import pytest, os; print(os.path.dirname(os.path.dirname(pytest.__file__)))")
    for pkg in pytest _pytest pluggy iniconfig packaging py.py; do
      [ -e "$site/$pkg" ] && cp -r "$site/$pkg" runs/pypkgs/
    done
    rm -rf runs/ferry
    # shellcheck disable=SC2086  # FERRY_EXTRA: NAME=PATH words for device_ferry.py
    [ -n "$ferry" ] && python3 scripts/device_ferry.py pack "$campaign=checkpoints/$campaign" ${FERRY_EXTRA:-} \
      --out runs/ferry | sed 's/^/  ferry /'
    for dir in checkpoints/*/; do
      name=$(basename "$dir")
      { [ "$name" = "$campaign" ] && [ -z "$ferry" ]; } || [ "$name" = tiny-trm-mlp-sudoku ] || mv "$dir" "$STASH/"
    done
    study=$(for name in "$@"; do [ "$name" = trm-att-arc ] && echo -n "embedding=runs/ckpt-study/$name " \
            || echo -n "runs/ckpt-study/$name "; done)
    echo "tree now $(du -sh --exclude=.git --exclude=.venv --exclude=runs . | cut -f1) + carries; calls:"
    echo "  1 carry [runs/refdata]: bash scripts/session_chain.sh start $campaign MINUTES --set ...${ferry:+ (after the ferry calls)}"
    echo "  2 carry [runs/pypkgs, runs/ckpt-study]: bash scripts/session_chain.sh add $study; bash scripts/device_poll.sh 540"
    echo "  3+: bash scripts/device_poll.sh 560        then at once: bash scripts/device_land.sh FILES_AT $campaign"
    echo "  a poll says 'fresh one': bash scripts/device_resume.sh FILES_AT $campaign, then call 1 again" ;;
  restore)
    for dir in "$STASH"/.resumed-*/; do  # the committed weights a resumed session replaced (device_resume.sh)
      [ -d "$dir" ] || continue
      name=$(basename "$dir"); name=${name#.resumed-}
      rm -rf "checkpoints/$name" && mv "$dir" "checkpoints/$name"
    done
    for dir in "$STASH"/*/; do
      [ -d "$dir" ] || continue
      name=$(basename "$dir")
      [ -e "checkpoints/$name" ] && { echo "checkpoints/$name exists: left $dir"; continue; }
      mv "$dir" "checkpoints/$name"
    done
    git status --short checkpoints ;;
  *) echo "unknown mode $mode (prepare, restore)"; exit 1 ;;
esac
