#!/usr/bin/env bash
# Runs tests of one package while a process is starved: it is stopped
# (SIGSTOP) for a random time up to MAX_STALL_MS, then let run (SIGCONT) for
# RUN_MS, until the tests end. STALL says which process: test (default: the
# test binary, while Kafka and ClickHouse keep running, as when the host's CPU
# is taken by something else), kafka or clickhouse (the server of
# scripts/services.sh freezes while the pipeline keeps going: a gray failure,
# not a crash). A test that counts everything (the accounting tests) or
# compares with ground truth (the accuracy test) must still pass.
#
#   scripts/stall.sh ./e2e 'TestAccounting'            # stalls of up to 400 ms
#   MAX_STALL_MS=3500 RUN_MS=2000 scripts/stall.sh ./e2e TestAccountingRealKafka
#   RUNS=5 scripts/stall.sh ./processors/kpi/accuracy TestAccuracyAgainstSimulator
#   STALL=clickhouse MAX_STALL_MS=5000 RUN_MS=3000 scripts/stall.sh ./e2e TestAccountingRealKafka
#
# The services' environment (scripts/services.sh env) must be set for the
# tests that need them; without it they skip.
set -euo pipefail
pkg=${1:?usage: scripts/stall.sh <package> <test regex>}
run=${2:?usage: scripts/stall.sh <package> <test regex>}
max_stall=${MAX_STALL_MS:-400}
run_ms=${RUN_MS:-600}
runs=${RUNS:-1}
stall=${STALL:-test}
cd "$(dirname "$0")/.."
state=${TELEMETRY_SERVICES_DIR:-$PWD/.services}
case $stall in
  test) ;;
  kafka|clickhouse)
    victim=$(cat "$state/$stall/pid" 2>/dev/null) && kill -0 "$victim" 2>/dev/null ||
      { echo "stall.sh: no running $stall in $state (scripts/services.sh start)" >&2; exit 2; } ;;
  *) echo "stall.sh: STALL=$stall is not test, kafka or clickhouse" >&2; exit 2 ;;
esac
bin=$(mktemp)
# a stopped server must never be left stopped
# (set -e applies in the trap: a failed kill of a process already gone
# must not turn the script's exit status into 1)
trap 'rm -f "$bin"; if [ -n "${victim:-}" ]; then kill -CONT "$victim" 2>/dev/null || true; fi' EXIT
go test -c -o "$bin" "$pkg"
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
fail=0
for i in $(seq "$runs"); do
  echo "== run $i: $pkg -run '$run', $stall stalled for up to ${max_stall} ms every ${run_ms} ms"
  (cd "$(go list -f '{{.Dir}}' "$pkg")" && exec "$bin" -test.run "$run" -test.v -test.count=1 -test.timeout 10m) &
  pid=$!
  [ "$stall" = test ] && victim=$pid
  stalls=0
  sleep 1
  while kill -0 "$pid" 2>/dev/null; do
    kill -STOP "$victim" 2>/dev/null || break
    sleep "$(ms $((RANDOM % max_stall + 1)))"
    kill -CONT "$victim" 2>/dev/null || break
    stalls=$((stalls + 1))
    sleep "$(ms "$run_ms")"
  done
  if wait "$pid"; then
    echo "== run $i passed ($stalls stalls)"
  else
    echo "== run $i FAILED ($stalls stalls)"
    fail=1
  fi
done
exit $fail
