#!/usr/bin/env bash
# Poll the detached device chain (scripts/session_chain.sh) from a `run` call: wait until the chain is done or
# SECONDS have passed, then copy everything it has finished so far to $OUT, so that a machine lost between two
# calls (it is released 30 s after a call returns) costs at most the work since the last poll.
#
#   bash scripts/device_poll.sh SECONDS
#
# The chain lives under $CHAIN_ROOT (default /tmp). What comes back is kept within the tool's limits (8 files of at most 16 MiB, 64 MiB in all): the campaign folder
# /tmp/c as c.tgz.* with one set of weights (before the evaluations: the EMA of the last checkpoint; after them:
# the better of raw and EMA on held-out hard, the one the chain studies), and the study folder /tmp/m as m.tgz.*
# without exported blobs (rebuilt by `redge export` from each recipe.yaml) and without the fine-tuned weights (the
# claims sweep them on the machine; their curves, configs and cards come back: three fine-tunes' raw and EMA weights
# took 96 MiB in session 9 and pushed the reports past the limit), and with its SQLite runs store copied by
# SQLite's online backup (consistent while a sweep writes). Unpack: `cat c.tgz.* | tar xz`. Optimizer state (*.pt)
# never travels. Prints the chain's log tail, each status file and the last training curve row.
set -u
W=${CHAIN_ROOT:-/tmp}  # the chain's folder (scripts/session_chain.sh)
SECONDS_MAX=${1:?seconds to wait at most}
OUT=${OUT:?run this inside a device call: \$OUT is where results go}
[ -f $W/chain.args ] || { echo "no chain on this machine: it is a fresh one (the last was released), start again"; exit 3; }
start=$(date +%s)
until [ -f $W/CHAIN_DONE ] || [ $(( $(date +%s) - start )) -ge "$SECONDS_MAX" ]; do sleep 3; done

stage=$W/poll-stage
rm -rf "$stage" && mkdir -p "$stage"
if [ -d $W/c ]; then
  weights=$(python3 "$(dirname "$0")/session_weights.py" $W/c)
  mkdir -p "$stage/c/run"
  find $W/c -maxdepth 1 -type f -exec cp {} "$stage/c/" \;
  find $W/c/run -maxdepth 1 -type f ! -name '*.pt' -exec cp {} "$stage/c/run/" \;
  [ -d "$W/c/run/$weights" ] && cp -r "$W/c/run/$weights" "$stage/c/run/"
fi
if [ -d $W/m ]; then
  cp -r $W/m "$stage/m"
  find "$stage/m" \( -name '*.blob' -o -name '*.emb' -o -name '*.pt' -o -name '*.sqlite*' -o -name '*.safetensors' \) -delete
  find $W/m -name '*.sqlite' | while read -r db; do
    python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))" \
      "$db" "$stage/m/${db#$W/m/}"
  done
fi
for name in c m; do
  [ -d "$stage/$name" ] && tar czf - -C "$stage" "$name" | split -b 15m - "$OUT/$name.tgz."
done
echo "--- after $(( $(date +%s) - start )) s; chain done: $([ -f $W/CHAIN_DONE ] && echo yes || echo no);" \
     "back: $(ls "$OUT" | tr '\n' ' ')($(du -sh "$OUT" | cut -f1))"
tail -n 4 $W/chain.log 2>/dev/null
for dir in $W/c $W/m; do echo "--- $dir/status"; tail -n 12 "$dir/status" 2>/dev/null; done
tail -n 1 $W/c/run/curve.jsonl 2>/dev/null | cut -c1-600
