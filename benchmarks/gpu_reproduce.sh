#!/usr/bin/env bash
# The whole gpu reproduction (issue 22) on a GPU machine whose commands may run at most 10 minutes each.
#
#   bash benchmarks/gpu_reproduce.sh start        # copy this tree to /tmp/src, start the run in the background
#   bash benchmarks/gpu_reproduce.sh wait [S]     # wait up to S seconds (default 560); print progress; when the run
#                                                 # has ended, pack /tmp/gpu (without run/) into $OUT/gpu.tgz.*
#                                                 # (still running: what is there so far into $OUT/partial.tgz.*)
#
# `start` runs `emohead reproduce --profile gpu --out /tmp/gpu --update-reference` in a new process session
# (setsid), so it runs on between commands as long as the machine is held; each `wait` is one short command.
# Environment: PYTHONPATH (the packages the machine lacks), EMOHEAD_MODELS (the face models),
# EMOHEAD_SOURCE_COMMIT (the commit of this tree, recorded in reference.json; the copy has no .git).
set -euo pipefail
OUT_DIR=${GPU_RUN_OUT:-/tmp/gpu}
PROFILE=${GPU_RUN_PROFILE:-gpu}        # smoke: a rehearsal of these commands on any machine
LOG=${OUT_DIR}.log
RC=${OUT_DIR}.rc

case "${1:-}" in
  start)
    rm -rf /tmp/src "$RC"
    cp -r "$PWD" /tmp/src
    cd /tmp/src
    export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/tmp/src" PYTHONUNBUFFERED=1
    setsid nohup bash -c "python3 -m emohead reproduce --profile '$PROFILE' --out '$OUT_DIR' --update-reference \
        > '$LOG' 2>&1; echo \$? > '$RC'" > /dev/null 2>&1 < /dev/null &
    sleep 5
    echo "started: log $LOG"
    ;;
  wait)
    deadline=$((SECONDS + ${2:-560}))
    while [ ! -f "$RC" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 5; done
    grep -E "emohead.reproduce|Error|error:" "$LOG" | tail -n 30 || true
    if [ -f "$RC" ]; then
      echo "reproduce ended with exit status $(cat "$RC")"
      tail -c 4000 "$LOG"
      cp "$LOG" "${OUT:?}/reproduce.log"
      tar --exclude=run --exclude=run.lock -czf - -C "$(dirname "$OUT_DIR")" "$(basename "$OUT_DIR")" \
        | split -b 15m - "$OUT/gpu.tgz."
      ls -la "$OUT"
    else
      # still running: pack what is complete so far too, so a machine taken back mid-run still leaves the finished
      # notebooks (the next wait's pack replaces this one)
      echo "still running after this wait; packing the notebooks complete so far"
      cp "$LOG" "${OUT:?}/reproduce.log"
      tar --exclude=run --exclude=run.lock -czf - -C "$(dirname "$OUT_DIR")" "$(basename "$OUT_DIR")" \
        | split -b 15m - "$OUT/partial.tgz."
      ls -la "$OUT"
    fi
    ;;
  *)
    echo "usage: $0 start | wait [seconds]" >&2
    exit 2
    ;;
esac
