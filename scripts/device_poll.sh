#!/usr/bin/env bash
# Poll a detached device chain (scripts/session_chain.sh) from a `run` call: wait until the chain is done or
# SECONDS have passed, then copy everything it has finished so far to $OUT, so that a machine lost between two
# calls (it is released 30 s after a call returns) costs at most the work since the last poll.
#
#   bash scripts/device_poll.sh SECONDS [DIR ...]      # DIRs default to /tmp/c (campaign) and /tmp/m (methods)
#
# Each DIR comes back as DIR-NAME.tar.* (15 MB parts: `cat NAME.tar.* | tar x`) without optimizer state (*.pt);
# its SQLite runs stores are copied with SQLite's online backup (a consistent copy while a sweep writes to them).
# Prints the chain's log tail, each DIR's status file and the last training curve row.
set -u
SECONDS_MAX=$1; shift
DIRS=("$@"); [ ${#DIRS[@]} -eq 0 ] && DIRS=(/tmp/c /tmp/m)
OUT=${OUT:?run this inside a device call: \$OUT is where results go}
[ -f /tmp/chain.args ] || { echo "no chain on this machine: it is a fresh one (the last was released), start again"; exit 3; }
start=$(date +%s)
until [ -f /tmp/CHAIN_DONE ] || [ $(( $(date +%s) - start )) -ge "$SECONDS_MAX" ]; do sleep 3; done

for dir in "${DIRS[@]}"; do
  [ -d "$dir" ] || continue
  name=$(basename "$dir")
  tar cf - -C "$dir" --exclude='*.pt' --exclude='*.sqlite' --exclude='*.sqlite-*' . | split -b 15m - "$OUT/$name.tar."
  find "$dir" -name '*.sqlite' | while read -r db; do
    python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))" \
      "$db" "$OUT/$name-$(basename "$db")"
  done
done
echo "--- after $(( $(date +%s) - start )) s; chain done: $([ -f /tmp/CHAIN_DONE ] && echo yes || echo no)"
tail -n 4 /tmp/chain.log 2>/dev/null
for dir in "${DIRS[@]}"; do echo "--- $dir/status"; tail -n 12 "$dir/status" 2>/dev/null; done
tail -n 1 /tmp/c/run/curve.jsonl 2>/dev/null | cut -c1-600
