#!/usr/bin/env bash
# Runs tests of one package while the test process is starved: it is stopped
# (SIGSTOP) for a random time up to MAX_STALL_MS, then let run (SIGCONT) for
# RUN_MS, until it ends. Kafka and ClickHouse keep running meanwhile, as they
# would when the host's CPU is taken by something else. A test that counts
# everything (the accounting tests) or compares with ground truth (the
# accuracy test) must still pass.
#
#   scripts/stall.sh ./e2e 'TestAccounting'            # stalls of up to 400 ms
#   MAX_STALL_MS=3500 RUN_MS=2000 scripts/stall.sh ./e2e TestAccountingRealKafka
#   RUNS=5 scripts/stall.sh ./processors/kpi/accuracy TestAccuracyAgainstSimulator
#
# The services' environment (scripts/services.sh env) must be set for the
# tests that need them; without it they skip.
set -euo pipefail
pkg=${1:?usage: scripts/stall.sh <package> <test regex>}
run=${2:?usage: scripts/stall.sh <package> <test regex>}
max_stall=${MAX_STALL_MS:-400}
run_ms=${RUN_MS:-600}
runs=${RUNS:-1}
cd "$(dirname "$0")/.."
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" "$pkg"
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
fail=0
for i in $(seq "$runs"); do
  echo "== run $i: $pkg -run '$run', stalls of up to ${max_stall} ms every ${run_ms} ms"
  (cd "$(go list -f '{{.Dir}}' "$pkg")" && exec "$bin" -test.run "$run" -test.v -test.count=1 -test.timeout 10m) &
  pid=$!
  stalls=0
  sleep 1
  while kill -0 "$pid" 2>/dev/null; do
    kill -STOP "$pid" 2>/dev/null || break
    sleep "$(ms $((RANDOM % max_stall + 1)))"
    kill -CONT "$pid" 2>/dev/null || break
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
