#!/usr/bin/env bash
# Land a device session in git at once, before any write-up: the files a poll brings back sit on this machine's disk,
# which the next session does not inherit (session 10 lost its training and its study that way).
#
#   bash scripts/device_land.sh FILES_AT CAMPAIGN_CHECKPOINT [--earlier runs/resume/segment-N/c ...]
#   bash scripts/device_land.sh FILES_AT        (a study session, `session_chain.sh start CONFIG 0`: no campaign)
#
# FILES_AT is the last poll's folder (c.tgz.*, and m.tgz.* once the study began). In order: the tree is put back
# (`device_prep.sh restore`); both parts are unpacked into runs/landed/{c,m}; the campaign's weights become the
# checkpoint's next version when they beat the committed ones on held-out hard by the campaign's 2 points
# (`session_weights.py --beat`, then `campaign_commit.py`, which takes the `--earlier` segments of a resumed session);
# the study is folded in (`methods_commit.py`); the README's tables are re-rendered; all of it is committed. The
# model card and the ledger are written afterwards, by hand: they carry the judgement. DEVICE_NAME (default "one
# H200") names the machine in the evaluation and the study's records.
set -eu
cd "$(dirname "$0")/.."
files=${1:?FILES_AT, the folder of the last poll files}
name=${2:-}
shift $(( $# < 2 ? 1 : 2 ))
DEVICE_NAME=${DEVICE_NAME:-one H200}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
checkpoint=checkpoints/$name
parts() { ls "$files/$1".tgz.* >/dev/null 2>&1; }
if [ -n "$name" ]; then
  parts c || { echo "$files: no c.tgz.* (the campaign's part of a poll)"; exit 1; }
else
  parts m || { echo "$files: no m.tgz.* (a study session's part of a poll)"; exit 1; }
fi

bash scripts/device_prep.sh restore
[ -z "$name" ] || [ -f "$checkpoint/eval.json" ] \
  || { echo "$checkpoint/eval.json: missing (the bar a new version must beat)"; exit 1; }
rm -rf runs/landed && mkdir -p runs/landed
[ -z "$name" ] || cat "$files"/c.tgz.* | tar xz -C runs/landed
parts m && cat "$files"/m.tgz.* | tar xz -C runs/landed

message="Device session landed $(date -u +%F):"
weights=
[ -z "$name" ] || weights=$("$PY" scripts/session_weights.py runs/landed/c --beat "$checkpoint/eval.json")
if [ -z "$name" ]; then
  message="$message a study session (no training)"
elif [ -n "$weights" ]; then
  version=$("$PY" -c "import json, sys; v = json.load(open(sys.argv[1])).get('version')
sys.exit(f'{sys.argv[1]}: no version number to continue from') if v is None else print(v + 1)" "$checkpoint/eval.json")
  "$PY" scripts/campaign_commit.py runs/landed/c "$checkpoint" --version "$version" --weights "$weights" \
    --device "cuda ($DEVICE_NAME)" "$@"
  git add -A "$checkpoint"
  message="$message $name version $version ($weights weights)"
else
  message="$message $name did not beat its committed hard exact accuracy by 2 points (no new version; runs/landed/c)"
fi
if [ -d runs/landed/m ]; then
  "$PY" scripts/methods_commit.py runs/landed/m --device-name "$DEVICE_NAME"
  git add -A docs benchmarks/results 2>/dev/null || git add -A docs
  [ -f checkpoints/trm-att-arc/eval.json ] && git add checkpoints/trm-att-arc/eval.json  # the arc-eval stage's
  message="$message; the study's finished outputs"
fi
if [ -f benchmarks/readme_tables.py ]; then
  "$PY" benchmarks/readme_tables.py >/dev/null && git add README.md \
    || echo "README tables not re-rendered (benchmarks/readme_tables.py failed): run it after the write-up"
fi
if git diff --cached --quiet; then
  echo "nothing to commit: $message"
else
  git commit -qm "$message" && git log --oneline -1
fi
