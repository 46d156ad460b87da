#!/usr/bin/env bash
# Runs every Fuzz target in the module for the given time each (default 10s).
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# when -fuzztime expires while a worker is mid-call on a loaded machine
# (golang/go#75804, fixed in Go 1.27): no input failed, none is written. Such
# a run is retried once; any other failure, or the same one twice, fails.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $f ($t)"
    for attempt in 1 2; do
      if go test -run='^$' -fuzz="^$f\$" -fuzztime="$t" "$pkg" >"$out" 2>&1; then
        cat "$out"; break
      fi
      cat "$out"
      if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out" \
        && [ "$(grep -c '^    ' "$out")" = 1 ]; then
        echo "fuzz: $f stopped at the -fuzztime deadline with no failing input (golang/go#75804); retrying once"
        continue
      fi
      exit 1
    done
  done
done
