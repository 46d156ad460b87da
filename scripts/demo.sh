#!/usr/bin/env bash
# `make demo`: runs `telemetry demo` for 60 s. The demo starts a throw-away
# ClickHouse server from the binary on PATH; on a Debian/Ubuntu machine
# without one, this installs Debian's clickhouse-server first (needs root or
# sudo); elsewhere it says what to install.
set -euo pipefail
BIN=${1:-bin/telemetry}
shift || true
cd "$(dirname "$0")/.."

if ! command -v clickhouse-server >/dev/null && ! command -v clickhouse >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "demo: no ClickHouse server on PATH; installing Debian's clickhouse-server" >&2
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq clickhouse-server >/dev/null
  else
    echo "demo: no ClickHouse server on PATH. Install one (https://clickhouse.com/docs/install)," >&2
    echo "      or run with an existing server: $BIN demo --clickhouse HOST:9000" >&2
    exit 1
  fi
fi

# Logs go to demo.log; the terminal shows progress and the summary.
export TELEMETRY_HTTP_LISTEN=${TELEMETRY_HTTP_LISTEN:-127.0.0.1:0}
echo "demo: logs go to demo.log" >&2
exec "$BIN" demo --duration "${DEMO_DURATION:-60s}" --scenario deploy/scenarios/demo.yaml "$@" 2>demo.log
