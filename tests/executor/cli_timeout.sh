#!/bin/sh
# `winnow run` with a stage whose hook never returns: timeout_s fails the run
# with a message naming stage, actor, hook and task, and the command exits
# (status 1) instead of hanging, although that thread is still running.
set -u
top_builddir=${WN_TOP_BUILDDIR:?run through make check}
winnow="$top_builddir/cli/winnow"
plugin="$top_builddir/tests/executor/.libs/hang_stage.so"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
[ -x "$winnow" ] && [ -f "$plugin" ] || { echo "missing $winnow or $plugin"; exit 99; }
cat > "$tmp/hang.json" <<'JSON'
{ "executor": { "backend": "actor_pool" },
  "stages": [ { "stage": "hang_forever", "timeout_s": 0.5 } ] }
JSON
start=$(date +%s)
timeout 30 "$winnow" -P "$plugin" run --report "$tmp/report.json" "$tmp/hang.json" \
    > "$tmp/out" 2> "$tmp/err"
status=$?
took=$(( $(date +%s) - start ))
cat "$tmp/err"
fail=0
[ "$status" -eq 1 ] || { echo "FAIL: exit status $status, expected 1 (124: it hung)"; fail=1; }
[ "$took" -lt 15 ] || { echo "FAIL: took ${took}s"; fail=1; }
grep -q "stage 'hang_forever' actor 0/1: process_batch on task root did not return within timeout_s 0.5" "$tmp/err" ||
    { echo "FAIL: no timeout message"; fail=1; }
grep -q '"status":"failed"' "$tmp/report.json" || { echo "FAIL: no failed report"; fail=1; }
grep -q '"threads_abandoned":1' "$tmp/report.json" || { echo "FAIL: report misses the thread"; fail=1; }
[ "$fail" -eq 0 ] && echo "PASS: the run stopped after timeout_s and the command exited"
exit "$fail"
