package chsink

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Capabilities is what the server supports, found by Probe. The schema is
// rendered from it: one definition, two dialects.
type Capabilities struct {
	// Version is SELECT version(); Major and Minor are parsed from it.
	Version      string
	Major, Minor int
	// DateTime64 (20.1+): sub-second timestamps.
	DateTime64 bool
	// LowCardinality (19.x+) for low-cardinality strings.
	LowCardinality bool
	// Codecs (19.1+): per-column compression codecs (Delta, DoubleDelta, Gorilla, ZSTD).
	Codecs bool
	// TTL (19.6+): table TTLs for retention. Without it the sink drops old
	// monthly partitions itself.
	TTL bool
}

// Modern reports whether every modern feature is there.
func (c Capabilities) Modern() bool {
	return c.DateTime64 && c.LowCardinality && c.Codecs && c.TTL
}

// ModernCapabilities is what any ClickHouse 24.x+ (and chdb) supports; used
// to render the modern schema without a server.
func ModernCapabilities() Capabilities {
	return Capabilities{Version: "24.8", Major: 24, Minor: 8, DateTime64: true, LowCardinality: true, Codecs: true, TTL: true}
}

// LegacyCapabilities is what ClickHouse 18.16 supports.
func LegacyCapabilities() Capabilities {
	return Capabilities{Version: "18.16.1", Major: 18, Minor: 16}
}

// Probe asks the server what it supports: its version, then explicit
// feature checks (a failing probe query means "not supported").
func Probe(ctx context.Context, conn driver.Conn) (Capabilities, error) {
	var c Capabilities
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&c.Version); err != nil {
		return c, fmt.Errorf("clickhouse probe version: %w", err)
	}
	parts := strings.SplitN(c.Version, ".", 3)
	if len(parts) >= 2 {
		c.Major, _ = strconv.Atoi(parts[0])
		c.Minor, _ = strconv.Atoi(parts[1])
	}
	ok := func(q string) bool {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return false
		}
		for rows.Next() {
		}
		err = rows.Err()
		_ = rows.Close()
		return err == nil
	}
	c.DateTime64 = ok("SELECT toDateTime64('2020-01-01 00:00:00', 3, 'UTC')")
	// LowCardinality exists on 18.x but is experimental there (needs
	// allow_experimental_low_cardinality_type): use it from 19.x on.
	c.LowCardinality = c.Major >= 19 && ok("SELECT toLowCardinality('x')")
	// system.columns grew compression_codec together with codecs (19.1).
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'columns' AND name = 'compression_codec'").Scan(&n); err == nil {
		c.Codecs = n > 0
	}
	// Table TTL arrived in 19.6; no side-effect-free probe query exists, so
	// it goes by version, confirmed by the system.parts TTL columns.
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'parts' AND name LIKE '%ttl%'").Scan(&n); err == nil {
		c.TTL = n > 0 && (c.Major > 19 || (c.Major == 19 && c.Minor >= 6))
	}
	return c, nil
}

// String is a one-line summary for logs.
func (c Capabilities) String() string {
	return fmt.Sprintf("version=%s datetime64=%t lowcardinality=%t codecs=%t ttl=%t", c.Version, c.DateTime64, c.LowCardinality, c.Codecs, c.TTL)
}

// kind is a column's logical type; the dialect picks the physical type.
type kind int

const (
	kTS      kind = iota // DateTime64(3,'UTC') | DateTime
	kTSNano              // DateTime64(9,'UTC') | DateTime
	kLC                  // LowCardinality(String) | String
	kStr                 // String
	kF64                 // Float64
	kU64                 // UInt64
	kU64Mono             // UInt64, monotonic along the sort key (counters)
	kU32                 // UInt32
	kI32                 // Int32
	kI64                 // Int64
	kU64Seq              // UInt64 increasing along the sort key (ts_ns, seq)
	kU8                  // UInt8 (flags)
)

type column struct {
	name string
	kind kind
}

// table is one base table.
type table struct {
	name    string
	cols    []column
	orderBy string
	// version column of the ReplacingMergeTree ("" = last inserted wins).
	version string
	// retention: which retention setting applies ("" none).
	retention string
	// partition: "day" (modern) or always monthly.
	noPartition bool
}

func (c column) typ(caps Capabilities) string {
	switch c.kind {
	case kTS:
		if caps.DateTime64 {
			return "DateTime64(3, 'UTC')"
		}
		return "DateTime('UTC')"
	case kTSNano:
		if caps.DateTime64 {
			return "DateTime64(9, 'UTC')"
		}
		return "DateTime('UTC')"
	case kLC:
		if caps.LowCardinality {
			return "LowCardinality(String)"
		}
		return "String"
	case kStr:
		return "String"
	case kF64:
		return "Float64"
	case kU64, kU64Mono, kU64Seq:
		return "UInt64"
	case kU32:
		return "UInt32"
	case kU8:
		return "UInt8"
	case kI32:
		return "Int32"
	case kI64:
		return "Int64"
	}
	panic("unknown column kind")
}

func (c column) codec(caps Capabilities) string {
	if !caps.Codecs {
		return ""
	}
	switch c.kind {
	case kTS, kTSNano, kU64Seq:
		return " CODEC(DoubleDelta, ZSTD(1))"
	case kU64Mono:
		return " CODEC(Delta, ZSTD(1))"
	case kF64:
		return " CODEC(Gorilla, ZSTD(1))"
	case kStr:
		return " CODEC(ZSTD(1))"
	}
	return ""
}

func cols(kind kind, names ...string) []column {
	out := make([]column, len(names))
	for i, n := range names {
		out[i] = column{n, kind}
	}
	return out
}

func concat(parts ...[]column) []column {
	var out []column
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Retention classes.
const (
	retKPI    = "kpi"
	retRaw    = "raw"
	retRollup = "rollup"
)

// Table names (the schema contract in docs/architecture.md).
const (
	TableInterfaceKPIs     = "interface_kpis"
	TableLinkKPIs          = "link_kpis"
	TablePipelineKPIs      = "pipeline_kpis"
	TableInterfaceCounters = "interface_counters"
	TableInterfaceState    = "interface_state"
	TableProbeResults      = "probe_results"
	TableRemediationEvents = "remediation_events"
	TableDevices           = "devices"
	TableDeviceKPIs        = "device_kpis"
	TableDeadLetters       = "deadletters"
	TableSchemaMigrations  = "schema_migrations"
)

// baseTables is the schema of every table the sink writes, in the column
// order the sink inserts.
var baseTables = []table{
	{
		name: TableInterfaceKPIs,
		cols: concat(cols(kTS, "ts"), cols(kLC, "site", "device", "interface"),
			cols(kF64, "util_in", "util_out", "loss_ratio", "in_errors_ps", "in_discards_ps", "out_discards_ps", "out_errors_ps"),
			cols(kU64, "speed_bps"), cols(kF64, "in_bps", "out_bps", "in_pps", "out_pps"),
			cols(kLC, "oper_status"), cols(kU32, "window_s", "samples"), cols(kStr, "kpi_id")),
		orderBy:   "site, device, interface, ts",
		retention: retKPI,
	},
	{
		name: TableLinkKPIs,
		cols: concat(cols(kTS, "ts"), cols(kLC, "src_site", "src_device", "dst_site", "dst_device"),
			cols(kF64, "rtt_ms", "rtt_p50_ms", "rtt_p95_ms", "rtt_p99_ms", "jitter_ms", "loss_ratio"),
			cols(kU64, "probes_sent", "probes_received"), cols(kU32, "window_s"), cols(kStr, "kpi_id")),
		orderBy:   "src_site, src_device, dst_site, dst_device, ts",
		retention: retKPI,
	},
	{
		name: TablePipelineKPIs,
		cols: concat(cols(kTS, "ts"), cols(kLC, "instance"),
			cols(kF64, "delay_p50_ms", "delay_p99_ms", "delay_max_ms"), cols(kU64, "samples"), cols(kU32, "window_s")),
		orderBy:   "instance, ts",
		retention: retKPI,
	},
	{
		name: TableInterfaceCounters,
		cols: concat(cols(kTSNano, "ts"), cols(kU64Seq, "ts_ns"), cols(kTSNano, "receive_ts"),
			cols(kLC, "site", "device", "interface"),
			cols(kU64Mono, "in_octets", "in_unicast_pkts", "in_broadcast_pkts", "in_multicast_pkts", "in_errors", "in_discards",
				"out_octets", "out_unicast_pkts", "out_broadcast_pkts", "out_multicast_pkts", "out_errors", "out_discards"),
			cols(kU64, "speed_bps"), cols(kLC, "oper_status", "collector"), cols(kU64Seq, "seq")),
		orderBy:   "site, device, interface, ts_ns",
		retention: retRaw,
	},
	{
		name: TableProbeResults,
		cols: concat(cols(kTSNano, "ts"), cols(kU64Seq, "ts_ns"), cols(kLC, "src_site", "src_device", "dst_site", "dst_device"),
			cols(kF64, "min_delay_us", "max_delay_us", "avg_delay_us", "stddev_delay_us", "jitter_us", "loss_ratio"),
			cols(kU64Mono, "probes_sent", "probes_received")),
		orderBy:   "src_site, src_device, dst_site, dst_device, ts_ns",
		retention: retRaw,
	},
	{
		name: TableRemediationEvents,
		cols: concat(cols(kTS, "ts"), cols(kStr, "event_id"), cols(kLC, "rule", "state", "severity", "site", "device", "interface", "dst_site", "dst_device", "kpi"),
			cols(kF64, "value", "threshold"), cols(kTS, "fired_at"), cols(kLC, "action"), cols(kStr, "message"), cols(kU32, "attempt")),
		orderBy:   "event_id, state",
		retention: retKPI,
	},
	{
		name: TableDevices,
		cols: concat(cols(kLC, "site", "device"), cols(kStr, "address"), cols(kTS, "first_seen", "last_seen"),
			cols(kLC, "state"), cols(kStr, "last_error")),
		orderBy:     "site, device",
		version:     "last_seen",
		noPartition: true,
	},
	{
		name: TableDeadLetters,
		cols: concat(cols(kTS, "ts"), cols(kLC, "component"), cols(kStr, "reason"), cols(kLC, "source_topic"),
			cols(kI32, "source_partition"), cols(kI64, "source_offset"), cols(kStr, "key", "payload")),
		orderBy:   "source_topic, source_partition, source_offset, component",
		retention: retKPI,
	},
}

// laterTables are tables added by migrations after the first; each is
// created by its own versioned step (migration 1 stays as it was applied).
var laterTables = []table{
	{
		// State-only interface samples (ON_CHANGE oper-status, last-clear,
		// speed): kept apart from interface_counters so a state sample that
		// shares a device timestamp with a counters sample cannot replace it
		// (same ReplacingMergeTree key).
		name: TableInterfaceState,
		cols: concat(cols(kTSNano, "ts"), cols(kU64Seq, "ts_ns"), cols(kTSNano, "receive_ts"),
			cols(kLC, "site", "device", "interface"),
			cols(kU64, "speed_bps"), cols(kLC, "oper_status"), cols(kU64, "last_clear_ns"),
			cols(kLC, "collector"), cols(kU64Seq, "seq")),
		orderBy:   "site, device, interface, ts_ns",
		retention: retRaw,
	},
	{
		// Device reachability per KPI window (DeviceKPI): the history the
		// devices table (latest state only) does not keep.
		name: TableDeviceKPIs,
		cols: concat(cols(kTS, "ts"), cols(kLC, "site", "device"), cols(kU8, "reachable"), cols(kLC, "state"),
			cols(kStr, "last_error"), cols(kF64, "up_ratio"), cols(kU32, "window_s", "samples"), cols(kStr, "kpi_id")),
		orderBy:   "site, device, ts",
		retention: retKPI,
	},
}

// allTables is every table the sink writes, in creation order.
func allTables() []table { return append(append([]table(nil), baseTables...), laterTables...) }

func tableByName(name string) table {
	for _, t := range allTables() {
		if t.name == name {
			return t
		}
	}
	panic("unknown table " + name)
}

// columnNames lists a table's columns in insert order.
func (t table) columnNames() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

func retentionDays(cfg Configuration, class string) int {
	switch class {
	case retKPI:
		return cfg.RetentionDays
	case retRaw:
		return cfg.RawRetentionDays
	case retRollup:
		return cfg.RollupRetentionDays
	}
	return 0
}

// ttlClause renders the TTL of a table (modern servers only).
func ttlClause(caps Capabilities, days int) string {
	if !caps.TTL || days <= 0 {
		return ""
	}
	return fmt.Sprintf(" TTL toDateTime(ts) + toIntervalDay(%d)", days)
}

func partitionClause(caps Capabilities, t table) string {
	if t.noPartition {
		return ""
	}
	if caps.TTL {
		// Daily partitions: TTL drops whole parts (ttl_only_drop_parts).
		return " PARTITION BY toYYYYMMDD(ts)"
	}
	// Old servers: monthly partitions, dropped by the sink's retention step.
	return " PARTITION BY toYYYYMM(ts)"
}

func settingsClause(caps Capabilities, days int) string {
	if caps.TTL && days > 0 {
		return " SETTINGS ttl_only_drop_parts = 1"
	}
	return ""
}

func createTable(caps Capabilities, cfg Configuration, t table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", cfg.Database, t.name)
	for i, c := range t.cols {
		sep := ","
		if i == len(t.cols)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s%s\n", c.name, c.typ(caps), c.codec(caps), sep)
	}
	days := retentionDays(cfg, t.retention)
	fmt.Fprintf(&b, ") ENGINE = ReplacingMergeTree(%s)%s ORDER BY (%s)%s%s",
		t.version, partitionClause(caps, t), t.orderBy, ttlClause(caps, days), settingsClause(caps, days))
	return b.String()
}

// rollup is one AggregatingMergeTree rollup fed by a materialized view.
type rollup struct {
	name, source, bucket string
	keys                 []string
	// aggs: target column, function (avg|max), source column, source type.
	aggs [][4]string
	// retention class.
	retention string
}

func interfaceAggs() [][4]string {
	return [][4]string{
		{"util_in_avg", "avg", "util_in", "Float64"}, {"util_in_max", "max", "util_in", "Float64"},
		{"util_out_avg", "avg", "util_out", "Float64"}, {"util_out_max", "max", "util_out", "Float64"},
		{"loss_ratio_avg", "avg", "loss_ratio", "Float64"}, {"loss_ratio_max", "max", "loss_ratio", "Float64"},
		{"in_errors_ps_avg", "avg", "in_errors_ps", "Float64"}, {"in_discards_ps_avg", "avg", "in_discards_ps", "Float64"},
		{"out_discards_ps_avg", "avg", "out_discards_ps", "Float64"}, {"speed_bps", "max", "speed_bps", "UInt64"},
	}
}

func linkAggs() [][4]string {
	return [][4]string{
		{"rtt_ms_avg", "avg", "rtt_ms", "Float64"}, {"rtt_ms_max", "max", "rtt_ms", "Float64"},
		{"rtt_p95_ms_max", "max", "rtt_p95_ms", "Float64"}, {"jitter_ms_avg", "avg", "jitter_ms", "Float64"},
		{"loss_ratio_avg", "avg", "loss_ratio", "Float64"}, {"loss_ratio_max", "max", "loss_ratio", "Float64"},
	}
}

var rollups = []rollup{
	{name: "interface_kpis_1m", source: TableInterfaceKPIs, bucket: "toStartOfMinute", keys: []string{"site", "device", "interface"}, aggs: interfaceAggs(), retention: retKPI},
	{name: "interface_kpis_1h", source: TableInterfaceKPIs, bucket: "toStartOfHour", keys: []string{"site", "device", "interface"}, aggs: interfaceAggs(), retention: retRollup},
	{name: "link_kpis_1m", source: TableLinkKPIs, bucket: "toStartOfMinute", keys: []string{"src_site", "src_device", "dst_site", "dst_device"}, aggs: linkAggs(), retention: retKPI},
	{name: "link_kpis_1h", source: TableLinkKPIs, bucket: "toStartOfHour", keys: []string{"src_site", "src_device", "dst_site", "dst_device"}, aggs: linkAggs(), retention: retRollup},
}

// notUpAgg counts, per rollup bucket, the windows whose interface was not
// UP (migration 4), so status panels over long ranges read the rollups
// instead of scanning the base table's oper_status.
var notUpAgg = [4]string{"not_up_windows", "sum", "toUInt64(oper_status != 'UP')", "UInt64"}

// addNotUp is migration 4 for one interface rollup: the column, then the
// view recreated to fill it. Rows inserted between the DROP and the CREATE
// (milliseconds, only if a sink writes during the migration) miss the
// rollup; buckets from before the migration count 0 windows not UP.
func addNotUp(caps Capabilities, cfg Configuration, r rollup) []string {
	r.aggs = append(slices.Clone(r.aggs), notUpAgg)
	return []string{
		fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s AggregateFunction(%s, %s)", cfg.Database, r.name, notUpAgg[0], notUpAgg[1], notUpAgg[3]),
		fmt.Sprintf("DROP TABLE IF EXISTS %s.%s_mv", cfg.Database, r.name),
		createRollup(caps, cfg, r)[1],
	}
}

func createRollup(caps Capabilities, cfg Configuration, r rollup) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", cfg.Database, r.name)
	fmt.Fprintf(&b, "  ts %s%s,\n", column{kind: kTS}.typ(caps), column{kind: kTS}.codec(caps))
	for _, k := range r.keys {
		fmt.Fprintf(&b, "  %s %s,\n", k, column{kind: kLC}.typ(caps))
	}
	for i, a := range r.aggs {
		sep := ","
		if i == len(r.aggs)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s AggregateFunction(%s, %s)%s\n", a[0], a[1], a[3], sep)
	}
	days := retentionDays(cfg, r.retention)
	fmt.Fprintf(&b, ") ENGINE = AggregatingMergeTree()%s ORDER BY (%s, ts)%s%s",
		partitionClause(caps, table{}), strings.Join(r.keys, ", "), ttlClause(caps, days), settingsClause(caps, days))
	// "toStartOfMinute(ts) AS ts ... GROUP BY ts" groups by the bucket on
	// 18.16 and on 26.x alike (checked by the live and chdb tests).
	sel := []string{fmt.Sprintf("%s(ts) AS ts", r.bucket)}
	sel = append(sel, r.keys...)
	for _, a := range r.aggs {
		sel = append(sel, fmt.Sprintf("%sState(%s) AS %s", a[1], a[2], a[0]))
	}
	mv := fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s_mv TO %s.%s AS\nSELECT %s\nFROM %s.%s\nGROUP BY %s, ts",
		cfg.Database, r.name, cfg.Database, r.name, strings.Join(sel, ", "),
		cfg.Database, r.source, strings.Join(r.keys, ", "))
	return []string{b.String(), mv}
}

func createMigrations(cfg Configuration) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (\n  version UInt32,\n  name String,\n  applied_at DateTime('UTC')\n) ENGINE = ReplacingMergeTree() ORDER BY (version)",
		cfg.Database, TableSchemaMigrations)
}

// SchemaStatements renders the whole schema (database, schema_migrations,
// base tables, rollups and their views) for a server with caps, in the
// order they must run. Every statement is idempotent (IF NOT EXISTS).
func SchemaStatements(caps Capabilities, cfg Configuration) []string {
	out := []string{
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", cfg.Database),
		createMigrations(cfg),
	}
	for _, m := range migrations {
		out = append(out, m.statements(caps, cfg)...)
	}
	return out
}
