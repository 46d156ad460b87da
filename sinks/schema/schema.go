// Package schema is the ClickHouse table contract of the pipeline: the
// names of the tables, their columns (name, logical type, insert order),
// sort keys, retention classes, and the rollups the materialized views
// fill from them.
//
// It is the one place those names are written in Go. The sink
// (sinks/chsink) renders its DDL and its migrations from it and builds its
// rows in its column order; the dashboards and the weekly report name the
// tables they query with its constants, and their tests run every query on
// the DDL the sink renders from it, so a renamed table is a compile error
// and a renamed column a test failure. It imports nothing but the standard
// library: no driver, no other package of the pipeline.
package schema

import "strings"

// Table names.
const (
	InterfaceKPIs     = "interface_kpis"
	LinkKPIs          = "link_kpis"
	PipelineKPIs      = "pipeline_kpis"
	DeviceKPIs        = "device_kpis"
	InterfaceCounters = "interface_counters"
	InterfaceState    = "interface_state"
	ProbeResults      = "probe_results"
	RemediationEvents = "remediation_events"
	Devices           = "devices"
	DeadLetters       = "deadletters"
	// Migrations records the schema versions applied (the sink's migrate).
	Migrations = "schema_migrations"
)

// TenantColumn is the column of every table and rollup that names the
// tenant owning the row: the last column in insert order, the first of the
// sort key (of tables created at TenantSince or later).
const TenantColumn = "tenant"

// TenantSince is the schema version that adds the tenant column to the
// tables and rollups that existed before it.
const TenantSince uint32 = 6

// Rollup tables: a base table's name with the suffix of its bucket.
const (
	// Minute and Hour are the suffixes of the 1-minute and 1-hour rollups.
	Minute = "_1m"
	Hour   = "_1h"

	InterfaceKPIs1m = InterfaceKPIs + Minute
	InterfaceKPIs1h = InterfaceKPIs + Hour
	LinkKPIs1m      = LinkKPIs + Minute
	LinkKPIs1h      = LinkKPIs + Hour
)

// Kind is a column's logical type; the sink renders it for the server it
// finds (DateTime64 or DateTime, LowCardinality or String, codecs or not)
// and buffers it as Go type GoType.
type Kind uint8

// Column kinds.
const (
	Time           Kind = iota + 1 // DateTime64(3, 'UTC') | DateTime('UTC'); Unix ns in Go
	TimeNano                       // DateTime64(9, 'UTC') | DateTime('UTC'); Unix ns in Go
	LowCardinality                 // LowCardinality(String) | String
	String                         // String
	Float64                        // Float64
	UInt64                         // UInt64
	Counter                        // UInt64, monotonic along the sort key (a device counter)
	Sequence                       // UInt64, increasing along the sort key (ts_ns, seq)
	UInt32                         // UInt32
	UInt8                          // UInt8 (a flag)
	Int32                          // Int32
	Int64                          // Int64
	// Tenant is the tenant column: LowCardinality(String) | String, with
	// the default tenant as its DEFAULT (rows written before the column
	// existed, or by a writer that does not send it, belong to it).
	Tenant
)

var kindNames = [...]string{Time: "Time", TimeNano: "TimeNano", LowCardinality: "LowCardinality", String: "String",
	Float64: "Float64", UInt64: "UInt64", Counter: "Counter", Sequence: "Sequence", UInt32: "UInt32", UInt8: "UInt8",
	Int32: "Int32", Int64: "Int64", Tenant: "Tenant"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(?)"
}

// GoType is the Go type a row builder appends for the kind: timestamps as
// int64 Unix nanoseconds, strings as string.
func (k Kind) GoType() string {
	switch k {
	case Time, TimeNano, Int64:
		return "int64"
	case LowCardinality, String, Tenant:
		return "string"
	case Float64:
		return "float64"
	case UInt64, Counter, Sequence:
		return "uint64"
	case UInt32:
		return "uint32"
	case UInt8:
		return "uint8"
	case Int32:
		return "int32"
	}
	return ""
}

// Retention is the retention setting that applies to a table.
type Retention uint8

// Retention classes (the clickhouse section's settings).
const (
	KeepForever  Retention = iota // no TTL (devices)
	RetainKPI                     // retention-days: KPIs, events, dead letters, 1-minute rollups
	RetainRaw                     // raw-retention-days: raw samples
	RetainRollup                  // rollup-retention-days: 1-hour rollups
)

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
}

// Table is one base table: a ReplacingMergeTree whose sort key is a row's
// identity, so a replayed row replaces itself.
type Table struct {
	Name string
	// Columns in insert order: the order the sink's row builders append.
	Columns []Column
	// OrderBy is the sort key.
	OrderBy string
	// Version is the ReplacingMergeTree version column: the row kept among
	// rows of one key ("": the last inserted).
	Version string
	// Retention is the retention class.
	Retention Retention
	// Partitioned tables are partitioned by ts (daily on servers with TTL,
	// monthly otherwise).
	Partitioned bool
	// Since is the schema version (the sink's migration) that creates the
	// table.
	Since uint32
}

// Untenanted is the table as it was before TenantSince: without the tenant
// column, its sort key without the tenant. A table created before then
// keeps that sort key after the upgrade (the column is added, the key
// cannot change in place).
func (t Table) Untenanted() Table {
	var cols []Column
	for _, c := range t.Columns {
		if c.Name != TenantColumn {
			cols = append(cols, c)
		}
	}
	t.Columns = cols
	t.OrderBy = strings.TrimPrefix(t.OrderBy, TenantColumn+", ")
	return t
}

// ColumnNames lists the table's columns in insert order.
func (t Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Column returns the column named name.
func (t Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Agg is one aggregate column of a rollup.
type Agg struct {
	// Column is the rollup's column, AggregateFunction(Func, Type).
	Column string
	// Func is the aggregate: avg, max or sum (read back with avgMerge...).
	Func string
	// Expr is the source column, or an expression of source columns.
	Expr string
	// Type is Expr's type.
	Type string
	// Since is the schema version that adds the column.
	Since uint32
}

// Rollup is an AggregatingMergeTree filled by a materialized view
// (<Name>_mv) from every insert into its source table.
type Rollup struct {
	Name, Source string
	// Bucket is the function of ts that makes the rollup's ts.
	Bucket string
	// Keys are the source's key columns kept as they are, the tenant
	// first (KeysAt: the keys before TenantSince).
	Keys []string
	Aggs []Agg
	// Retention is the retention class.
	Retention Retention
	// Since is the schema version that creates the rollup.
	Since uint32
}

// KeysAt lists the rollup's keys at schema version v: without the tenant
// before TenantSince.
func (r Rollup) KeysAt(v uint32) []string {
	if v >= TenantSince {
		return r.Keys
	}
	var out []string
	for _, k := range r.Keys {
		if k != TenantColumn {
			out = append(out, k)
		}
	}
	return out
}

// AggsAt lists the rollup's aggregates at schema version v.
func (r Rollup) AggsAt(v uint32) []Agg {
	var out []Agg
	for _, a := range r.Aggs {
		if a.Since <= v {
			out = append(out, a)
		}
	}
	return out
}

// ColumnNames lists the rollup's columns (ts, the keys, the aggregates) at
// the latest version.
func (r Rollup) ColumnNames() []string {
	out := append([]string{"ts"}, r.Keys...)
	for _, a := range r.Aggs {
		out = append(out, a.Column)
	}
	return out
}

func cols(kind Kind, names ...string) []Column {
	out := make([]Column, len(names))
	for i, n := range names {
		out[i] = Column{n, kind}
	}
	return out
}

func concat(parts ...[]Column) []Column {
	var out []Column
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Tables returns every base table, in creation order (by Since, then as
// listed). Each call returns fresh slices: callers may keep or modify them.
func Tables() []Table {
	ts := []Table{
		{
			Name: InterfaceKPIs,
			Columns: concat(cols(Time, "ts"), cols(LowCardinality, "site", "device", "interface"),
				cols(Float64, "util_in", "util_out", "loss_ratio", "in_errors_ps", "in_discards_ps", "out_discards_ps", "out_errors_ps"),
				cols(UInt64, "speed_bps"), cols(Float64, "in_bps", "out_bps", "in_pps", "out_pps"),
				cols(LowCardinality, "oper_status"), cols(UInt32, "window_s", "samples"), cols(String, "kpi_id")),
			OrderBy:   "tenant, site, device, interface, ts",
			Retention: RetainKPI, Partitioned: true, Since: 1,
		},
		{
			Name: LinkKPIs,
			Columns: concat(cols(Time, "ts"), cols(LowCardinality, "src_site", "src_device", "dst_site", "dst_device"),
				cols(Float64, "rtt_ms", "rtt_p50_ms", "rtt_p95_ms", "rtt_p99_ms", "jitter_ms", "loss_ratio"),
				cols(UInt64, "probes_sent", "probes_received"), cols(UInt32, "window_s"), cols(String, "kpi_id")),
			OrderBy:   "tenant, src_site, src_device, dst_site, dst_device, ts",
			Retention: RetainKPI, Partitioned: true, Since: 1,
		},
		{
			Name: PipelineKPIs,
			Columns: concat(cols(Time, "ts"), cols(LowCardinality, "instance"),
				cols(Float64, "delay_p50_ms", "delay_p99_ms", "delay_max_ms"), cols(UInt64, "samples"), cols(UInt32, "window_s")),
			OrderBy:   "tenant, instance, ts",
			Retention: RetainKPI, Partitioned: true, Since: 1,
		},
		{
			Name: InterfaceCounters,
			Columns: concat(cols(TimeNano, "ts"), cols(Sequence, "ts_ns"), cols(TimeNano, "receive_ts"),
				cols(LowCardinality, "site", "device", "interface"),
				cols(Counter, "in_octets", "in_unicast_pkts", "in_broadcast_pkts", "in_multicast_pkts", "in_errors", "in_discards",
					"out_octets", "out_unicast_pkts", "out_broadcast_pkts", "out_multicast_pkts", "out_errors", "out_discards"),
				cols(UInt64, "speed_bps"), cols(LowCardinality, "oper_status", "collector"), cols(Sequence, "seq")),
			OrderBy:   "tenant, site, device, interface, ts_ns",
			Retention: RetainRaw, Partitioned: true, Since: 1,
		},
		{
			Name: ProbeResults,
			Columns: concat(cols(TimeNano, "ts"), cols(Sequence, "ts_ns"), cols(LowCardinality, "src_site", "src_device", "dst_site", "dst_device"),
				cols(Float64, "min_delay_us", "max_delay_us", "avg_delay_us", "stddev_delay_us", "jitter_us", "loss_ratio"),
				cols(Counter, "probes_sent", "probes_received")),
			OrderBy:   "tenant, src_site, src_device, dst_site, dst_device, ts_ns",
			Retention: RetainRaw, Partitioned: true, Since: 1,
		},
		{
			Name: RemediationEvents,
			Columns: concat(cols(Time, "ts"), cols(String, "event_id"), cols(LowCardinality, "rule", "state", "severity", "site", "device", "interface", "dst_site", "dst_device", "kpi"),
				cols(Float64, "value", "threshold"), cols(Time, "fired_at"), cols(LowCardinality, "action"), cols(String, "message"), cols(UInt32, "attempt")),
			OrderBy:   "tenant, event_id, state",
			Retention: RetainKPI, Partitioned: true, Since: 1,
		},
		{
			// The inventory: one row per device, the latest state wins.
			Name: Devices,
			Columns: concat(cols(LowCardinality, "site", "device"), cols(String, "address"), cols(Time, "first_seen", "last_seen"),
				cols(LowCardinality, "state"), cols(String, "last_error")),
			OrderBy: "tenant, site, device",
			Version: "last_seen",
			Since:   1,
		},
		{
			Name: DeadLetters,
			Columns: concat(cols(Time, "ts"), cols(LowCardinality, "component"), cols(String, "reason"), cols(LowCardinality, "source_topic"),
				cols(Int32, "source_partition"), cols(Int64, "source_offset"), cols(String, "key", "payload")),
			OrderBy:   "tenant, source_topic, source_partition, source_offset, component",
			Retention: RetainKPI, Partitioned: true, Since: 1,
		},
		{
			// State-only interface samples (ON_CHANGE oper-status, last-clear,
			// speed): kept apart from interface_counters so a state sample that
			// shares a device timestamp with a counters sample cannot replace it
			// (same ReplacingMergeTree key).
			Name: InterfaceState,
			Columns: concat(cols(TimeNano, "ts"), cols(Sequence, "ts_ns"), cols(TimeNano, "receive_ts"),
				cols(LowCardinality, "site", "device", "interface"),
				cols(UInt64, "speed_bps"), cols(LowCardinality, "oper_status"), cols(UInt64, "last_clear_ns"),
				cols(LowCardinality, "collector"), cols(Sequence, "seq")),
			OrderBy:   "tenant, site, device, interface, ts_ns",
			Retention: RetainRaw, Partitioned: true, Since: 3,
		},
		{
			// Device reachability per KPI window (DeviceKPI): the history the
			// devices table (latest state only) does not keep.
			Name: DeviceKPIs,
			Columns: concat(cols(Time, "ts"), cols(LowCardinality, "site", "device"), cols(UInt8, "reachable"), cols(LowCardinality, "state"),
				cols(String, "last_error"), cols(Float64, "up_ratio"), cols(UInt32, "window_s", "samples"), cols(String, "kpi_id")),
			OrderBy:   "tenant, site, device, ts",
			Retention: RetainKPI, Partitioned: true, Since: 5,
		},
	}
	// Every table ends with the tenant column.
	for i := range ts {
		ts[i].Columns = append(ts[i].Columns, Column{TenantColumn, Tenant})
	}
	return ts
}

// TableNamed returns the base table named name.
func TableNamed(name string) (Table, bool) {
	for _, t := range Tables() {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Names lists the base tables' names, in creation order.
func Names() []string {
	ts := Tables()
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// NotUpWindows counts, per rollup bucket, the windows whose interface was
// not UP (version 4), so status panels over long ranges read the rollups
// instead of scanning the base table's oper_status.
func NotUpWindows() Agg {
	return Agg{"not_up_windows", "sum", "toUInt64(oper_status != 'UP')", "UInt64", 4}
}

func interfaceAggs() []Agg {
	return []Agg{
		{"util_in_avg", "avg", "util_in", "Float64", 2}, {"util_in_max", "max", "util_in", "Float64", 2},
		{"util_out_avg", "avg", "util_out", "Float64", 2}, {"util_out_max", "max", "util_out", "Float64", 2},
		{"loss_ratio_avg", "avg", "loss_ratio", "Float64", 2}, {"loss_ratio_max", "max", "loss_ratio", "Float64", 2},
		{"in_errors_ps_avg", "avg", "in_errors_ps", "Float64", 2}, {"in_discards_ps_avg", "avg", "in_discards_ps", "Float64", 2},
		{"out_discards_ps_avg", "avg", "out_discards_ps", "Float64", 2}, {"speed_bps", "max", "speed_bps", "UInt64", 2},
		NotUpWindows(),
	}
}

func linkAggs() []Agg {
	return []Agg{
		{"rtt_ms_avg", "avg", "rtt_ms", "Float64", 2}, {"rtt_ms_max", "max", "rtt_ms", "Float64", 2},
		{"rtt_p95_ms_max", "max", "rtt_p95_ms", "Float64", 2}, {"jitter_ms_avg", "avg", "jitter_ms", "Float64", 2},
		{"loss_ratio_avg", "avg", "loss_ratio", "Float64", 2}, {"loss_ratio_max", "max", "loss_ratio", "Float64", 2},
	}
}

// Rollups returns the rollups, in creation order. Each call returns fresh
// slices.
func Rollups() []Rollup {
	ifKeys := func() []string { return []string{TenantColumn, "site", "device", "interface"} }
	linkKeys := func() []string { return []string{TenantColumn, "src_site", "src_device", "dst_site", "dst_device"} }
	return []Rollup{
		{Name: InterfaceKPIs1m, Source: InterfaceKPIs, Bucket: "toStartOfMinute", Keys: ifKeys(), Aggs: interfaceAggs(), Retention: RetainKPI, Since: 2},
		{Name: InterfaceKPIs1h, Source: InterfaceKPIs, Bucket: "toStartOfHour", Keys: ifKeys(), Aggs: interfaceAggs(), Retention: RetainRollup, Since: 2},
		{Name: LinkKPIs1m, Source: LinkKPIs, Bucket: "toStartOfMinute", Keys: linkKeys(), Aggs: linkAggs(), Retention: RetainKPI, Since: 2},
		{Name: LinkKPIs1h, Source: LinkKPIs, Bucket: "toStartOfHour", Keys: linkKeys(), Aggs: linkAggs(), Retention: RetainRollup, Since: 2},
	}
}

// RollupNamed returns the rollup named name.
func RollupNamed(name string) (Rollup, bool) {
	for _, r := range Rollups() {
		if r.Name == name {
			return r, true
		}
	}
	return Rollup{}, false
}
