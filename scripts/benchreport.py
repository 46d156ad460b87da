#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the raw outputs scripts/bench.sh left in a folder.

Every row: the figure, its target or reference, the ratio (measured in the
same run where the reference is a measurement), and the command."""
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

d = sys.argv[1] if len(sys.argv) > 1 else ".bench"


def read(name):
    p = os.path.join(d, name + ".txt")
    return open(p).read() if os.path.exists(p) else ""


def command(name):
    t = read(name)
    return t.splitlines()[0][2:] if t.startswith("$ ") else ""


BENCH = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def benches(name):
    """{benchmark name: {unit: value}} (the last line of each name wins)."""
    out = {}
    for line in read(name).splitlines():
        m = BENCH.match(line.strip())
        if not m:
            continue
        vals = {}
        parts = m.group(3).split()
        for i in range(0, len(parts) - 1, 2):
            try:
                vals[parts[i + 1]] = float(parts[i])
            except ValueError:
                pass
        out[m.group(1)] = vals
    return out


def first(name, pattern, unit):
    for k, v in benches(name).items():
        if re.search(pattern, k) and unit in v:
            return v[unit]
    return None


def allof(name, pattern, unit):
    return [(k, v[unit]) for k, v in benches(name).items() if re.search(pattern, k) and unit in v]


def grep(name, pattern):
    m = re.search(pattern, read(name), re.M)
    return float(m.group(1)) if m else None


def fmt(v, unit=""):
    if v is None:
        return "not measured"
    if v >= 100:
        s = f"{v:,.0f}"
    elif v >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3g}"
    return f"{s} {unit}".strip()


def share(v, ref):
    """A plain ratio to a reference measured in the same run (no target)."""
    if v is None or ref in (None, 0):
        return "–"
    return f"{v / ref:.2f}×"


def ratio(v, ref, higher_is_better=True):
    if v is None or ref in (None, 0):
        return "–"
    r = v / ref
    ok = r >= 1 if higher_is_better else r <= 1
    return f"{r:.2f}× {'✅' if ok else '❌'}"


rows = []


def row(area, figure, value, target, rat, name):
    rows.append((area, figure, value, target, rat, f"`{command(name)}`" if command(name) else "not run"))


# Collector.
sim = first("sim", r"ServerNotifications$", "updates/s")
col = first("collector", r"EndToEnd$", "updates/s")
row("collector", "end-to-end throughput: simulator → collector → embedded Kafka (acked)", fmt(col, "updates/s"),
    "≥ 300,000 updates/s", ratio(col, 300000), "collector")
row("collector", "… as a share of what the simulator alone generates (same run)", fmt(sim, "updates/s generated"),
    "reference: the simulator's own rate", share(col, sim), "sim")
for k, v in allof("decode", r"Decode", "allocs/op"):
    ns = benches("decode")[k].get("ns/update")
    row("collector", f"{k}: notification → sample decode", f"{fmt(ns, 'ns/update')}, {fmt(v, 'allocs/op')} (13 updates/op)",
        "≤ 1 allocation per update", ratio(v / 13.0 if v is not None else None, 1, higher_is_better=False), "decode")
# Processor.
eng = first("engine", r"Engine$", "samples/cpu-s") or first("engine", r"Engine$", "samples/s")
engalloc = first("engine", r"Engine$", "allocs/op")
row("processor", "KPI computation per core (samples per CPU-second)", f"{fmt(eng, 'samples/s')}, {fmt(engalloc, 'allocs/op')}",
    "≥ 1,000,000 samples/s per core", ratio(eng, 1e6), "engine")
proc = first("processor", r"Processor", "samples/s")
row("processor", "processor end to end with the embedded broker", fmt(proc, "samples/s"), "reference: computation per core above",
    share(proc, eng), "processor")
# Remediation.
rul = first("rules", r"EngineObserve", "kpis/s")
row("remediation", "rules engine", fmt(rul, "KPIs/s"), "–", "–", "rules")
for k, v in allof("webhook", r"WindowCloseToWebhook", "p99-ms"):
    row("remediation", f"{k.split('/', 1)[-1]}: window close → webhook at the receiver, p99", fmt(v, "ms"), "< 250 ms",
        ratio(v, 250, higher_is_better=False), "webhook")
# Sink.
bulk = grep("sink", r"Native bulk load:\s+([\d.]+) rows/s")
ins = grep("sink", r"sink insert path.*?:\s+([\d.]+) rows/s")
e2e = grep("sink", r"sink end to end.*?:\s+([\d.]+) rows/s")
row("sink", "clickhouse-client bulk load of the same rows, Native format (physical limit, same run)", fmt(bulk, "rows/s"), "reference", "–", "sink")
pct = lambda v: f" ({100 * v / bulk:.0f}% of the bulk load)" if v and bulk else ""
row("sink", "sink insert path alone, one batch at a time (diagnostic: no Kafka, no overlap)", fmt(ins, "rows/s") + pct(ins), "–", "–", "sink")
row("sink", "sink end to end (Kafka → ClickHouse)", fmt(e2e, "rows/s") + pct(e2e), "≥ 70% of the bulk load", ratio(e2e / bulk if e2e and bulk else None, 0.7), "sink")
for k, v in allof("sink", r"BenchmarkBuffers/", "ns/row"):
    row("sink", f"sink client work per row, {k.split('/')[-1].split('-')[0]} column types (decoded KPI → native block bytes, no server)", fmt(v, "ns/row"), "–", "–", "sink")
# Sink into the ClickHouse cluster, beside the single server (same run).
single = grep("sink-cluster", r"into the single server:\s+([\d.]+) rows/s")
clus = grep("sink-cluster", r"into the cluster \(2 shards\):\s+([\d.]+) rows/s")
row("sink", "sink end to end into the single server (the cluster's reference, same run)", fmt(single, "rows/s"), "reference", "–", "sink-cluster")
row("sink", "sink end to end into the 2-shard cluster (Distributed inserts, replicated tables, ZooKeeper; same machine)",
    fmt(clus, "rows/s"), "reference: the single server (same run)", share(clus, single), "sink-cluster")
# Dashboards: per dashboard, the slowest range (15m .. 7d) per partition layout.
dash = {}
for k, v in allof("dashboards", r"DashboardQueries/.*/", "dashboard-ms"):
    _, layout, uid, rng = k.split("/")
    rng = re.sub(r"-\d+$", "", rng)
    cur = dash.get((layout, uid))
    if cur is None or v > cur[0]:
        dash[(layout, uid)] = (v, rng)
for (layout, uid), (v, rng) in sorted(dash.items()):
    row("dashboards", f"{uid}, {layout} partitions: every panel query, slowest range ({rng}); 7 days of 1,000 interfaces",
        fmt(v, "ms"), "< 500 ms", ratio(v, 500, higher_is_better=False), "dashboards")
# Report.
rep = first("report", r"GenerateWeek1000Interfaces/deck", "ns/op")
row("report", "weekly deck for 1,000 interfaces (queries + rendering)", fmt(rep / 1e9 if rep else None, "s"), "< 10 s",
    ratio(rep / 1e9 if rep else None, 10, higher_is_better=False), "report")
# WebAssembly edge processors (wasm/bench_test.go).
for n in ("100", "1000"):
    noop = first("wasm", rf"WasmCollectNoop/batch={n}$", "ns/sample")
    enc = first("wasm", rf"WasmEncodeBatch/batch={n}$", "ns/sample")
    row("wasm", f"no-op module's overhead per sample, collect hook, batches of {n} (copy in, call, 'unchanged')",
        fmt(noop, "ns/sample"), "≤ 300 ns/sample", ratio(noop, 300, higher_is_better=False), "wasm")
    row("wasm", f"… beside encoding the samples for Kafka (done with or without modules), batches of {n}",
        fmt(enc, "ns/sample"), "reference", share(noop, enc), "wasm")
def vs_starlark(w, st, unit):
    if not w or not st:
        return "not measured", None
    return f"{st / w:.2f}× (wasm {fmt(w, unit)}, Starlark {fmt(st, unit)})", st / w


for ex in ("normalize", "dropports", "circuits"):
    w = first("wasm", rf"WasmExample/{ex}/wasm/batch=1000$", "ns/sample")
    st = first("wasm", rf"WasmExample/{ex}/starlark/batch=1000$", "ns/sample")
    text, speed = vs_starlark(w, st, "ns/sample")
    if ex == "normalize":
        row("wasm", "example normalize (collect, batches of 1000): speed relative to its Starlark twin", text,
            "≥ 5×", ratio(speed, 5), "wasm")
    else:
        row("wasm", f"example {ex} (collect, batches of 1000): speed relative to its Starlark twin", text,
            "reference: its Starlark twin (same run)", "–", "wasm")
diag = first("wasm", r"WasmDiagDeadlineChecks/checks=off$", "ns/sample")
w = first("wasm", r"WasmDiagDeadlineChecks/checks=on$", "ns/sample")
row("wasm", "diagnostic: normalize's call alone (batches of 1000 encoded beforehand) without wazero's deadline checks (never run so: a looping module could not be stopped); ratio: the checks' cost",
    fmt(diag, "ns/sample"), f"reference: the same with the checks, {fmt(w, 'ns/sample')} (same run)", share(w, diag), "wasm")
w = first("wasm", r"WasmExampleErrorBudget/errorbudget/wasm/batch=1000$", "ns/kpi")
st = first("wasm", r"WasmExampleErrorBudget/errorbudget/starlark/batch=1000$", "ns/kpi")
row("wasm", "example errorbudget (process, 1000 KPIs a window): speed relative to its Starlark twin",
    vs_starlark(w, st, "ns/KPI")[0], "reference: its Starlark twin (same run)", "–", "wasm")
# End to end.
rate = grep("e2e", r"sustained[^\n]*?([\d.]+) samples/s")
p99 = grep("e2e", r"delay p99[^\n]*?([\d.]+) ?ms")
rss = grep("e2e", r"RSS growth[^\n]*?(-?[\d.]+) ?%")
row("end to end", "simulator → ClickHouse, sustained", fmt(rate, "samples/s"), "≥ 200,000 samples/s", ratio(rate, 200000), "e2e")
row("end to end", "telemetry delay (device time → KPI row readable), p99", fmt(p99, "ms"), "< 3,000 ms", ratio(p99, 3000, False), "e2e")
row("end to end", "RSS growth over the run", fmt(rss, "%"), "< 10 %", ratio(rss, 10, False) if rss is not None else "–", "e2e")

cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
mem = ""
try:
    mem = f"{int(open('/proc/meminfo').readline().split()[1]) / 1024 / 1024:.0f} GiB"
except OSError:
    pass
gov = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0

print("# Benchmarks\n")
print("Written by `make bench` (scripts/bench.sh + scripts/benchreport.py); do not edit by hand.")
print("Each ratio compares a figure with its target, or with a reference measured in the same run.\n")
print(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
print(f"- machine: {os.cpu_count()} cores ({cpu}), {mem} memory, {platform.system()} {platform.release()}")
print(f"- {gov}; load average at the end: {load:.1f}\n")
print("| area | figure | measured | target / reference | ratio | command |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
print("\nRaw outputs of this run are in `.bench/` (not committed).")
print("""
## Notes

- `make bench` runs the end-to-end soak for 60 s; the 10-minute runs the issue asks for
  (`TELEMETRY_SOAK=10m ...`, same scale) and the per-stage CPU costs that bound the rate on
  two cores are in [docs/e2e.md](docs/e2e.md).
- Where a figure and its reference come from one run, the ratio has no mark: it is a
  share, not a target.
- Dashboards: "daily" and "monthly" are the partition layouts of the benchmark's tables;
  the sink creates monthly partitions on ClickHouse 18.16 and daily ones on current servers.
  The data is the sink's own DDL filled with 7 days of interface KPIs at 10 s windows
  (60.5 million rows; the rollups filled by their materialized views), every template
  variable on "All"; variables first, then every panel with at most 6 queries in flight.
- Wasm: modules are built by the Go toolchain (`GOOS=wasip1 GOARCH=wasm`, `-buildmode=c-shared`)
  and run by wazero with deadline checks on (`WithCloseOnContextDone`); the Starlark twins
  (`wasm/examples/*/*.star`) get each sample as a dict of tags and counters, as gnmic's and
  Telegraf's Starlark processors do. normalize and dropports use the names view (the host
  hands over interface names and applies the module's edits); circuits and errorbudget go
  through whole records. Where the time goes in Go-built modules (every taken branch pays
  a deadline check): [docs/wasm.md](docs/wasm.md), "Speed".
- Sink: 1,000,000 interface KPIs; `clickhouse-client` loads them in one insert, the sink in
  inserts of `batch-size` (200,000) rows. The server's CPU per row by insert size is in
  [docs/storage.md](docs/storage.md).
- Sink into the cluster: 1,000,000 interface KPIs of 250 sites (about half per shard), the
  sink end to end into a fresh database of the single server and of the 2-shard cluster
  `telemetry` in turn, best of two each. Both cluster servers and ZooKeeper share the
  machine's 2 cores with the single server: the ratio shows what a second server's
  insert pipeline adds on one machine, not on two (docs/storage.md, "Cluster").""")
