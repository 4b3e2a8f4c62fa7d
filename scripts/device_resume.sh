#!/usr/bin/env bash
# Resume a campaign session whose machine was lost: make the weights the last poll brought back the next start's
# warm start, so that a machine released between two calls costs the training since its last checkpoint, not all of
# it. Run it here as soon as a poll says "fresh one", then make call 1 again, unchanged (same carry):
#
#   bash scripts/device_resume.sh FILES_AT CONFIG     # FILES_AT: the folder of the last poll's c.tgz.*
#   bash scripts/session_chain.sh start CONFIG MINUTES --set ...   (device call 1, as before, fewer minutes)
#
# The poll's campaign folder is unpacked to runs/resume/segment-N/c (N counts the machines lost this session); its
# weights (run/ema or run/model, with their config.json) replace checkpoints/CONFIG's, whose committed copy waits in
# $STASH/.resumed-CONFIG until `device_prep.sh restore` puts it back. The committed eval.json stays: the resumed run
# must still beat the committed version. Fold the segments in order when committing:
#   campaign_commit.py LAST_SESSION checkpoints/CONFIG --earlier runs/resume/segment-1/c ... --version V ...
set -eu
cd "$(dirname "$0")/.."
STASH=${STASH:-../stash}
files=${1:?the folder with the last poll's c.tgz.* (the run call's files_at)}; config=${2:?campaign config}
[ -d "checkpoints/$config" ] || { echo "no checkpoints/$config"; exit 1; }
ls "$files"/c.tgz.* > /dev/null 2>&1 || { echo "$files: no c.tgz.* (the last poll brought no campaign folder)"; exit 1; }
n=1; while [ -e "runs/resume/segment-$n" ]; do n=$((n + 1)); done
segment=runs/resume/segment-$n
mkdir -p "$segment"
cat "$files"/c.tgz.* | tar xzf - -C "$segment" || { echo "$files: c.tgz.* does not unpack"; rm -rf "$segment"; exit 1; }
weights=$(python3 scripts/session_weights.py "$segment/c" --returned) || { rm -rf "$segment"; exit 1; }
mkdir -p "$STASH"
[ -e "$STASH/.resumed-$config" ] || cp -r "checkpoints/$config" "$STASH/.resumed-$config"
rm -f "checkpoints/$config"/model*.safetensors
cp "$weights"/model*.safetensors "$weights/config.json" "checkpoints/$config/"
step=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('metadata', {}).get('step', '?'))" \
       "$weights/config.json")
echo "checkpoints/$config now holds $weights (step $step of the lost run; segment $n)."
echo "next: device call 1 again, same carry; fold with --earlier $segment/c"
