#!/usr/bin/env bash
# `make bench`: runs every benchmark and rewrites BENCHMARKS.md with the
# figure, the command, the machine and the ratio to its reference measured in
# the same run. Needs the services of scripts/services.sh (make bench starts
# them). Raw outputs are kept in .bench/ (git-ignored).
#   BENCH_ONLY=regex   run only the entries whose name matches
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bench
export TELEMETRY_BENCH=1

# name | command
entries=(
  "sim|go test -run '^\$' -bench 'BenchmarkServerNotifications\$' -benchtime 300000x ./collectors/simulator"
  "decode|go test -run '^\$' -bench 'BenchmarkDecode(Raw)?\$' -benchmem -benchtime 200000x ./collectors/collector"
  "collector|go test -run '^\$' -bench 'BenchmarkEndToEnd\$' -benchtime 300000x ./collectors/collector"
  "engine|go test -run '^\$' -bench 'BenchmarkEngine\$' -benchmem ./processors/kpi"
  "processor|go test -run '^\$' -bench 'BenchmarkProcessor\$' ./processors/kpi"
  "rules|go test -run '^\$' -bench 'BenchmarkEngineObserve\$' -benchmem ./processors/remediation/rules"
  "webhook|go test -run '^\$' -bench 'BenchmarkWindowCloseToWebhook' -benchtime 300x ./processors/remediation"
  "sink|go test -count=1 -run 'TestThroughputLive\$' -bench 'BenchmarkBuffers\$' -benchtime 10x -v ./sinks/chsink"
  "sink-cluster|go test -count=1 -run 'TestThroughputClusterLive\$' -v -timeout 20m ./sinks/chsink"
  "dashboards|go test -run '^\$' -bench 'BenchmarkDashboardQueries' -benchtime 3x -timeout 30m ./dashboards"
  "report|go test -run '^\$' -bench 'BenchmarkGenerateWeek1000Interfaces' -benchtime 3x -timeout 30m ./reports"
  "wasm|go test -run '^\$' -bench 'BenchmarkWasm' -benchmem ./wasm"
  "e2e|TELEMETRY_SOAK_SITES=8 TELEMETRY_SOAK_SWITCHES=5 TELEMETRY_SOAK_IFACES=150 go test -count=1 -run 'TestSoak\$' -v -timeout 30m ./e2e"
)

for e in "${entries[@]}"; do
  name=${e%%|*}; cmd=${e#*|}
  if [ -n "${BENCH_ONLY:-}" ] && ! [[ $name =~ $BENCH_ONLY ]]; then continue; fi
  echo "== $name: $cmd"
  { echo "\$ $cmd"; bash -c "$cmd" 2>&1; echo "exit $?"; } > ".bench/$name.txt"
  grep -E '^(Benchmark|ok|FAIL|---|exit|\s+\S+_test.go:[0-9]+: )' ".bench/$name.txt" | tail -15
done

python3 scripts/benchreport.py .bench > BENCHMARKS.md
echo "BENCHMARKS.md rewritten"
