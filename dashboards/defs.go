package dashboards

import (
	"fmt"
	"strings"

	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// panelKind is the Grafana visualization of a panel.
type panelKind string

const (
	kindTimeseries    panelKind = "timeseries"
	kindTable         panelKind = "table"
	kindStat          panelKind = "stat"
	kindStateTimeline panelKind = "state-timeline"
	kindBarChart      panelKind = "barchart"
)

// step is one threshold step: from value (nil = base) the color.
type step struct {
	value *float64
	color string
}

func base(color string) step { return step{color: color} }
func at(v float64, color string) step {
	return step{value: &v, color: color}
}

// panelDef is one panel: a visualization and one query, with what the query
// must return (columns) so tests can check it on a real server.
type panelDef struct {
	title       string
	description string
	kind        panelKind
	unit        string
	min, max    *float64
	thresholds  []step
	mappings    map[string][2]string // value -> text, color
	w, h        uint32

	// Exactly one of sql (ClickHouse) and promQL (Prometheus) is set.
	sql     string
	format  Format
	columns []string // columns the SQL returns, in order
	promQL  []promTarget

	overrides []fieldOverride // per-column unit and thresholds

	matrix *[3]string // groupingToMatrix: row field, column field, value field
	xField string     // barchart x axis
}

// fieldOverride gives one column its own unit and, when steps are set,
// thresholds that color the column's text in tables.
type fieldOverride struct {
	field, unit string
	steps       []step
}

func unitOf(field, unit string, steps ...step) fieldOverride {
	return fieldOverride{field: field, unit: unit, steps: steps}
}

type promTarget struct {
	expr, legend string
}

// rowDef is a collapsible row of panels.
type rowDef struct {
	title  string
	panels []panelDef
}

// variableDef is a template variable fed by a ClickHouse query returning
// two columns: the option's value (optionKey of the name) and its text
// (the name); see sql.go.
type variableDef struct {
	name, label, sql string
}

// dashboardDef is one dashboard.
type dashboardDef struct {
	uid, title, description string
	tags                    []string
	from                    string
	variables               []variableDef
	rows                    []rowDef
}

func ptr[T any](v T) *T { return &v }

// Thresholds a NOC expects.
var (
	utilSteps  = []step{base("green"), at(0.7, "yellow"), at(0.9, "red")}
	lossSteps  = []step{base("green"), at(0.001, "yellow"), at(0.01, "red")}
	rttSteps   = []step{base("green"), at(50, "yellow"), at(150, "red")}
	jitterStep = []step{base("green"), at(10, "yellow"), at(30, "red")}
	errSteps   = []step{base("green"), at(1, "yellow"), at(10, "red")}
	countSteps = []step{base("green"), at(1, "red")}
	delaySteps = []step{base("green"), at(5000, "yellow"), at(30000, "red")}
)

// variables every dashboard carries: site → device → interface, each from
// the inventory and the hourly rollup (cheap for any range).
func commonVariables() []variableDef {
	return []variableDef{
		{"site", "Site", "SELECT " + optionKey("site") + " AS site_key, site FROM (SELECT DISTINCT site FROM " + schema.Devices + " UNION ALL SELECT DISTINCT site FROM " + schema.InterfaceKPIs1h + " WHERE ts >= toStartOfHour($__fromTime)) GROUP BY site ORDER BY site"},
		{"device", "Device", "SELECT " + optionKey("device") + " AS device_key, device FROM (SELECT DISTINCT device FROM " + schema.Devices + " WHERE " + nameIn("site", "site") + " UNION ALL SELECT DISTINCT device FROM " + schema.InterfaceKPIs1h + " WHERE ts >= toStartOfHour($__fromTime) AND " + nameIn("site", "site") + ") GROUP BY device ORDER BY device"},
		{"interface", "Interface", "SELECT " + optionKey("interface") + " AS interface_key, interface FROM " + schema.InterfaceKPIs1h + " WHERE ts >= toStartOfHour($__fromTime) AND " + nameIn("site", "site") + " AND " + nameIn("device", "device") + " GROUP BY interface ORDER BY interface"},
	}
}

// definitions returns the five dashboards, in a fixed order.
func definitions() []dashboardDef {
	return []dashboardDef{fabricOverview(), interfaceDrilldown(), siteLinks(), remediation(), pipelineHealth()}
}

// ifaceSeries is a per-interface time series over the tier that fits the
// range, for the topN interfaces ranked by rank (an aggregate, descending).
func ifaceSeries(values func(t tier) []string, rank func(t tier) string) string {
	return tiered(func(t tier) string {
		// Rank on the base table (without FINAL: a replayed window does
		// not change a peak) for short ranges, else on the hourly rollup,
		// which is cheap for any range.
		rt, rfrom, rwhere := t, schema.InterfaceKPIs, "$__timeFilter(ts)"
		if !t.raw() {
			rt, rfrom, rwhere = tiers[2], schema.InterfaceKPIs1h, "ts >= toStartOfHour($__fromTime) AND ts <= $__toTime"
		}
		top := fmt.Sprintf("(site, device, interface) IN (SELECT site, device, interface FROM %s WHERE %s AND %s AND {{guard}} GROUP BY site, device, interface ORDER BY %s DESC, site, device, interface LIMIT %d)",
			rfrom, rwhere, ifaceFilter, rank(rt), topN)
		return fmt.Sprintf("SELECT %s AS time, concat(device, ':', interface) AS series, %s\nFROM %s\nWHERE $__timeFilter(ts) AND %s AND {{guard}}\n  AND %s\nGROUP BY time, series",
			t.bucket(), strings.Join(values(t), ", "), t.from(schema.InterfaceKPIs), ifaceFilter, top)
	}, "\nORDER BY time, series")
}

func peakUtil(t tier) string {
	return "greatest(" + t.agg("max", "util_in") + ", " + t.agg("max", "util_out") + ")"
}
func peakLoss(t tier) string { return t.agg("max", "loss_ratio") }
func errRate(t tier) string {
	return t.agg("avg", "in_errors_ps") + " + " + t.agg("avg", "in_discards_ps") + " + " + t.agg("avg", "out_discards_ps")
}

func linkSeries(values func(t tier) []string) string {
	return tiered(func(t tier) string {
		return fmt.Sprintf("SELECT %s AS time, concat(src_site, ' > ', dst_site) AS pair, %s\nFROM %s\nWHERE $__timeFilter(ts) AND %s AND {{guard}}\nGROUP BY time, pair",
			t.bucket(), strings.Join(values(t), ", "), t.from(schema.LinkKPIs), linkFilter)
	}, "\nORDER BY time, pair")
}

func fabricOverview() dashboardDef {
	health := tieredOver(coarseTiers, func(t tier) string {
		return fmt.Sprintf("SELECT site, uniqExact(device, interface) AS interfaces, (%s + %s) / 2 AS util_avg, greatest(%s, %s) AS util_max, %s AS loss_avg, %s AS loss_max, %s AS errors_ps\nFROM %s\nWHERE $__timeFilter(ts) AND %s AND {{guard}}\nGROUP BY site",
			t.agg("avg", "util_in"), t.agg("avg", "util_out"), t.agg("max", "util_in"), t.agg("max", "util_out"),
			t.agg("avg", "loss_ratio"), t.agg("max", "loss_ratio"), t.agg("avg", "in_errors_ps"), t.from(schema.InterfaceKPIs), ifaceFilter)
	}, "\nORDER BY site")
	matrix := tieredOver(coarseTiers, func(t tier) string {
		return fmt.Sprintf("SELECT src_site, dst_site, %s AS rtt_ms\nFROM %s\nWHERE $__timeFilter(ts) AND %s AND {{guard}}\nGROUP BY src_site, dst_site",
			t.agg("avg", "rtt_ms"), t.from(schema.LinkKPIs), linkFilter)
	}, "\nORDER BY src_site, dst_site")
	// "Now" panels read the last five minutes of the range from the base
	// tables; argMax picks each key's latest window, exact before merges.
	worstIfaces := "SELECT site, device, interface, argMax(oper_status, ts) AS status, argMax(util_in, ts) AS util_in, argMax(util_out, ts) AS util_out, argMax(loss_ratio, ts) AS loss_ratio, argMax(in_errors_ps + out_errors_ps, ts) AS errors_ps\n" +
		"FROM " + schema.InterfaceKPIs + "\nWHERE ts >= $__toTime - 300 AND ts <= $__toTime AND " + ifaceFilter + "\n" +
		"GROUP BY site, device, interface\nORDER BY status = 'UP', greatest(greatest(util_in, util_out), loss_ratio * 100) DESC, site, device, interface\nLIMIT 10"
	worstLinks := "SELECT src_site, src_device, dst_site, dst_device, argMax(rtt_ms, ts) AS rtt_ms, argMax(rtt_p95_ms, ts) AS rtt_p95_ms, argMax(jitter_ms, ts) AS jitter_ms, argMax(loss_ratio, ts) AS loss_ratio\n" +
		"FROM " + schema.LinkKPIs + "\nWHERE ts >= $__toTime - 300 AND ts <= $__toTime AND " + linkFilter + "\n" +
		"GROUP BY src_site, src_device, dst_site, dst_device\nORDER BY loss_ratio DESC, rtt_p95_ms DESC, src_site, src_device, dst_site, dst_device\nLIMIT 10"
	down := "SELECT countIf(status != 'UP') AS interfaces_down\nFROM (SELECT argMax(oper_status, ts) AS status FROM " + schema.InterfaceKPIs + "\nWHERE ts >= $__toTime - 300 AND ts <= $__toTime AND " + ifaceFilter + "\nGROUP BY site, device, interface)"
	unreachable := "SELECT countIf(now_reachable = 0) AS devices_unreachable\nFROM (SELECT argMax(reachable, ts) AS now_reachable FROM " + schema.DeviceKPIs + "\nWHERE ts >= $__toTime - 300 AND ts <= $__toTime AND " + deviceFilter + "\nGROUP BY site, device)"
	activeCount := "SELECT count() AS active_events\nFROM (" + latestEvents("ts <= $__toTime") + ")\nWHERE state != 'resolved'"
	active := "SELECT event_id, rule, severity, state, site, device, interface, kpi, value, threshold, fired_at\nFROM (" + latestEvents("ts <= $__toTime") + ")\nWHERE state != 'resolved'\nORDER BY severity = 'critical' DESC, fired_at DESC\nLIMIT 50"
	return dashboardDef{
		uid: "telemetry-fabric-overview", title: "Fabric overview",
		description: "KPI health per site, site-to-site latency, worst links and interfaces now, unreachable devices, active remediation events.",
		tags:        []string{"telemetry", "noc"}, from: "now-6h",
		variables: commonVariables(),
		rows: []rowDef{
			{"Now", []panelDef{
				{title: "Interfaces down", kind: kindStat, unit: "none", thresholds: countSteps, w: 4, h: 4,
					sql: down, format: FormatTable, columns: []string{"interfaces_down"}},
				{title: "Devices unreachable", kind: kindStat, unit: "none", thresholds: countSteps, w: 4, h: 4,
					description: "Devices whose latest reachability window (" + schema.DeviceKPIs + ", last 5 minutes) has no gNMI session: down or still connecting.",
					sql:         unreachable, format: FormatTable, columns: []string{"devices_unreachable"}},
				{title: "Active remediation events", kind: kindStat, unit: "none", thresholds: countSteps, w: 4, h: 4,
					sql: activeCount, format: FormatTable, columns: []string{"active_events"}},
				{title: "KPI health per site", kind: kindTable, unit: "percentunit", thresholds: utilSteps, w: 12, h: 8,
					description: "Utilization and loss (0..1) per site over the range; errors in packets/s.",
					sql:         health, format: FormatTable, columns: []string{"site", "interfaces", "util_avg", "util_max", "loss_avg", "loss_max", "errors_ps"}},
			}},
			{"Latency and worst offenders", []panelDef{
				{title: "Site-to-site latency (avg RTT)", kind: kindTable, unit: "ms", thresholds: rttSteps, w: 12, h: 9,
					overrides: []fieldOverride{},
					sql:       matrix, format: FormatTable, columns: []string{"src_site", "dst_site", "rtt_ms"},
					matrix: &[3]string{"src_site", "dst_site", "rtt_ms"}},
				{title: "Worst interfaces now", kind: kindTable, unit: "percentunit", thresholds: utilSteps, w: 12, h: 9,
					overrides: []fieldOverride{unitOf("util_in", "percentunit", utilSteps...), unitOf("util_out", "percentunit", utilSteps...),
						unitOf("loss_ratio", "percentunit", lossSteps...), unitOf("errors_ps", "pps", errSteps...)},
					sql: worstIfaces, format: FormatTable, columns: []string{"site", "device", "interface", "status", "util_in", "util_out", "loss_ratio", "errors_ps"}},
				{title: "Worst links now", kind: kindTable, unit: "ms", thresholds: rttSteps, w: 12, h: 9,
					overrides: []fieldOverride{unitOf("rtt_ms", "ms", rttSteps...), unitOf("rtt_p95_ms", "ms", rttSteps...),
						unitOf("jitter_ms", "ms", jitterStep...), unitOf("loss_ratio", "percentunit", lossSteps...)},
					sql: worstLinks, format: FormatTable, columns: []string{"src_site", "src_device", "dst_site", "dst_device", "rtt_ms", "rtt_p95_ms", "jitter_ms", "loss_ratio"}},
				{title: "Active remediation events", kind: kindTable, w: 12, h: 9,
					sql: active, format: FormatTable, columns: []string{"event_id", "rule", "severity", "state", "site", "device", "interface", "kpi", "value", "threshold", "fired_at"}},
			}},
		},
	}
}

// latestEvents is one row per remediation event with its latest state
// (argMax over the lifecycle transitions: exact before merges).
func latestEvents(where string) string {
	return "SELECT event_id, any(rule) AS rule, any(severity) AS severity, argMax(state, ts) AS state, any(site) AS site, any(device) AS device, any(interface) AS interface, any(kpi) AS kpi, argMax(value, ts) AS value, any(threshold) AS threshold, min(fired_at) AS fired_at\n" +
		"FROM " + schema.RemediationEvents + " WHERE " + where + " AND " + eventIDFilter + " GROUP BY event_id"
}

func interfaceDrilldown() dashboardDef {
	// Buckets with a window not UP: the base table's oper_status up to 30
	// minutes, the rollups' count of such windows (not_up_windows,
	// migration 4) beyond, so a week does not scan every window's status.
	status := tieredOver(statusTiers, func(t tier) string {
		if t.raw() {
			return "SELECT " + t.bucket() + " AS time, concat(device, ':', interface) AS series, 1 AS down\n" +
				"FROM " + schema.InterfaceKPIs + "\nWHERE $__timeFilter(ts) AND oper_status != 'UP' AND " + ifaceFilter + " AND {{guard}}\nGROUP BY time, series"
		}
		return "SELECT " + t.bucket() + " AS time, concat(device, ':', interface) AS series, 1 AS down\n" +
			"FROM " + schema.InterfaceKPIs + t.suffix + "\nWHERE $__timeFilter(ts) AND " + ifaceFilter + " AND {{guard}}\nGROUP BY time, series\nHAVING sumMerge(not_up_windows) > 0"
	}, "\nORDER BY time, series\nLIMIT 20000")
	current := "SELECT site, device, interface, argMax(oper_status, ts) AS status, argMax(speed_bps, ts) AS speed_bps, argMax(in_bps, ts) AS in_bps, argMax(out_bps, ts) AS out_bps, max(ts) AS last_seen\n" +
		"FROM " + schema.InterfaceKPIs + "\nWHERE ts >= $__toTime - 900 AND ts <= $__toTime AND " + ifaceFilter + "\nGROUP BY site, device, interface\nORDER BY site, device, interface"
	return dashboardDef{
		uid: "telemetry-interface", title: "Interface drill-down",
		description: "Utilization in/out, throughput, loss, errors and discards, oper-status timeline per interface.",
		tags:        []string{"telemetry", "noc"}, from: "now-6h",
		variables: commonVariables(),
		rows: []rowDef{
			{"Traffic", []panelDef{
				{title: "Utilization in/out", kind: kindTimeseries, unit: "percentunit", min: ptr(0.0), max: ptr(1.0), thresholds: utilSteps, w: 12, h: 8,
					description: "The 20 selected interfaces with the highest peak utilization (0..1).",
					sql: ifaceSeries(func(t tier) []string {
						return []string{t.agg("avg", "util_in") + " AS util_in", t.agg("avg", "util_out") + " AS util_out"}
					}, peakUtil), format: FormatTimeSeries, columns: []string{"time", "series", "util_in", "util_out"}},
				{title: "Throughput in/out", kind: kindTimeseries, unit: "bps", w: 12, h: 8,
					description: "Average utilization times port speed (bits/s), for the 20 selected interfaces with the highest peak utilization.",
					sql: ifaceSeries(func(t tier) []string {
						return []string{t.agg("avg", "util_in") + " * " + t.agg("max", "speed_bps") + " AS in_bps",
							t.agg("avg", "util_out") + " * " + t.agg("max", "speed_bps") + " AS out_bps"}
					}, peakUtil), format: FormatTimeSeries, columns: []string{"time", "series", "in_bps", "out_bps"}},
			}},
			{"Health", []panelDef{
				{title: "Packet loss", kind: kindTimeseries, unit: "percentunit", min: ptr(0.0), thresholds: lossSteps, w: 12, h: 8,
					description: "The 20 selected interfaces with the highest peak loss ratio (0..1).",
					sql: ifaceSeries(func(t tier) []string {
						return []string{t.agg("avg", "loss_ratio") + " AS loss_avg", t.agg("max", "loss_ratio") + " AS loss_max"}
					}, peakLoss), format: FormatTimeSeries, columns: []string{"time", "series", "loss_avg", "loss_max"}},
				{title: "Errors and discards", kind: kindTimeseries, unit: "pps", thresholds: errSteps, w: 12, h: 8,
					description: "Packets/s, for the 20 selected interfaces with the most errors and discards.",
					sql: ifaceSeries(func(t tier) []string {
						return []string{t.agg("avg", "in_errors_ps") + " AS in_errors_ps", t.agg("avg", "in_discards_ps") + " AS in_discards_ps", t.agg("avg", "out_discards_ps") + " AS out_discards_ps"}
					}, errRate), format: FormatTimeSeries, columns: []string{"time", "series", "in_errors_ps", "in_discards_ps", "out_discards_ps"}},
				{title: "Interfaces not UP", kind: kindStateTimeline, w: 24, h: 8,
					description: "Buckets in which an interface reported an oper status other than UP; interfaces UP all along are not listed.",
					mappings:    map[string][2]string{"0": {"UP", "green"}, "1": {"DOWN", "red"}},
					sql:         status, format: FormatTimeSeries, columns: []string{"time", "series", "down"}},
				{title: "Current state", kind: kindTable, unit: "bps", w: 24, h: 8,
					overrides: []fieldOverride{unitOf("last_seen", "dateTimeAsIso")},
					sql:       current, format: FormatTable, columns: []string{"site", "device", "interface", "status", "speed_bps", "in_bps", "out_bps", "last_seen"}},
			}},
		},
	}
}

func siteLinks() dashboardDef {
	pct := tieredOver(coarseTiers, func(t tier) string {
		if t.raw() {
			return "SELECT src_site, dst_site, quantile(0.5)(rtt_ms) AS p50_ms, quantile(0.95)(rtt_ms) AS p95_ms, quantile(0.99)(rtt_ms) AS p99_ms, max(rtt_p99_ms) AS worst_p99_ms, avg(jitter_ms) AS jitter_ms, avg(loss_ratio) AS loss_ratio\n" +
				"FROM " + schema.LinkKPIs + " FINAL\nWHERE $__timeFilter(ts) AND " + linkFilter + " AND {{guard}}\nGROUP BY src_site, dst_site"
		}
		// Rollups keep no quantile states: percentiles of the per-bucket averages.
		return "SELECT src_site, dst_site, quantile(0.5)(rtt) AS p50_ms, quantile(0.95)(rtt) AS p95_ms, quantile(0.99)(rtt) AS p99_ms, max(p99) AS worst_p99_ms, avg(jitter) AS jitter_ms, avg(loss) AS loss_ratio\n" +
			"FROM (SELECT ts, src_site, src_device, dst_site, dst_device, avgMerge(rtt_ms_avg) AS rtt, maxMerge(rtt_p95_ms_max) AS p99, avgMerge(jitter_ms_avg) AS jitter, avgMerge(loss_ratio_avg) AS loss\n" +
			"FROM " + t.from(schema.LinkKPIs) + "\nWHERE $__timeFilter(ts) AND " + linkFilter + " AND {{guard}}\nGROUP BY ts, src_site, src_device, dst_site, dst_device)\nGROUP BY src_site, dst_site"
	}, "\nORDER BY src_site, dst_site")
	return dashboardDef{
		uid: "telemetry-links", title: "Site-to-site links",
		description: "RTT, jitter and loss per site pair over time, and RTT percentiles.",
		tags:        []string{"telemetry", "noc"}, from: "now-6h",
		variables: commonVariables(),
		rows: []rowDef{
			{"Latency", []panelDef{
				{title: "RTT per site pair", kind: kindTimeseries, unit: "ms", thresholds: rttSteps, w: 12, h: 8,
					sql: linkSeries(func(t tier) []string {
						return []string{t.agg("avg", "rtt_ms") + " AS rtt_ms", t.tierP95() + " AS rtt_p95_ms"}
					}), format: FormatTimeSeries, columns: []string{"time", "pair", "rtt_ms", "rtt_p95_ms"}},
				{title: "Jitter per site pair", kind: kindTimeseries, unit: "ms", thresholds: jitterStep, w: 12, h: 8,
					sql: linkSeries(func(t tier) []string {
						return []string{t.agg("avg", "jitter_ms") + " AS jitter_ms"}
					}), format: FormatTimeSeries, columns: []string{"time", "pair", "jitter_ms"}},
			}},
			{"Loss and percentiles", []panelDef{
				{title: "Loss per site pair", kind: kindTimeseries, unit: "percentunit", min: ptr(0.0), thresholds: lossSteps, w: 12, h: 8,
					sql: linkSeries(func(t tier) []string {
						return []string{t.agg("avg", "loss_ratio") + " AS loss_avg", t.agg("max", "loss_ratio") + " AS loss_max"}
					}), format: FormatTimeSeries, columns: []string{"time", "pair", "loss_avg", "loss_max"}},
				{title: "RTT percentiles per site pair", kind: kindTable, unit: "ms", thresholds: rttSteps, w: 12, h: 8,
					description: "Percentiles of the window RTTs up to 30 min, of the hourly averages beyond. worst_p99_ms: worst window p99 (p95 beyond 6 h, the rollups keep no p99).",
					sql:         pct, format: FormatTable, columns: []string{"src_site", "dst_site", "p50_ms", "p95_ms", "p99_ms", "worst_p99_ms", "jitter_ms", "loss_ratio"}},
			}},
		},
	}
}

// tierP95 is the worst window p95 RTT in a bucket.
func (t tier) tierP95() string {
	if t.raw() {
		return "max(rtt_p95_ms)"
	}
	return "maxMerge(rtt_p95_ms_max)"
}

// Lifecycle states as numbers for the state timeline (value mappings turn them back).
const stateCode = "multiIf(state = 'firing', 1, state = 'dispatched', 2, state = 'acknowledged', 3, state = 'escalated', 4, state = 'failed', 5, state = 'resolved', 6, 0)"

func remediation() dashboardDef {
	timeline := "SELECT ts AS time, concat(rule, ' ', device, if(interface = '', '', concat(':', interface))) AS event, " + stateCode + " AS state\n" +
		"FROM " + schema.RemediationEvents + "\nWHERE $__timeFilter(ts) AND " + eventFilter + "\nORDER BY time, event\nLIMIT 10000"
	lifecycle := "SELECT event_id, any(rule) AS rule, any(severity) AS severity, argMax(state, ts) AS current_state, any(site) AS site, any(device) AS device, any(interface) AS interface, min(fired_at) AS fired_at, " +
		"if(countIf(state = 'resolved') > 0, toInt64(toUInt32(maxIf(ts, state = 'resolved'))) - toInt64(toUInt32(fired_at)), NULL) AS time_to_resolve_s\n" +
		"FROM " + schema.RemediationEvents + "\nWHERE $__timeFilter(ts) AND " + eventIDFilter + "\nGROUP BY event_id\nORDER BY fired_at DESC, event_id\nLIMIT 500"
	ttr := "SELECT rule, count() AS resolved, avg(ttr) AS avg_time_to_resolve_s, quantile(0.9)(ttr) AS p90_time_to_resolve_s, max(ttr) AS max_time_to_resolve_s\n" +
		"FROM (SELECT event_id, any(rule) AS rule, toInt64(toUInt32(maxIf(ts, state = 'resolved'))) - toInt64(toUInt32(min(fired_at))) AS ttr\n" +
		"FROM " + schema.RemediationEvents + " WHERE $__timeFilter(ts) AND " + eventFilter + "\nGROUP BY event_id HAVING countIf(state = 'resolved') > 0)\nGROUP BY rule\nORDER BY rule"
	perRule := "SELECT rule, uniqExact(event_id) AS events, uniqExactIf(event_id, severity = 'critical') AS critical, uniqExactIf(event_id, state = 'escalated') AS escalated, uniqExactIf(event_id, state = 'failed') AS failed\n" +
		"FROM " + schema.RemediationEvents + "\nWHERE $__timeFilter(ts) AND " + eventFilter + "\nGROUP BY rule\nORDER BY events DESC, rule"
	transitions := "SELECT " + tiers[0].bucket() + " AS time, state, count() AS transitions\n" +
		"FROM " + schema.RemediationEvents + "\nWHERE $__timeFilter(ts) AND " + eventFilter + "\nGROUP BY time, state\nORDER BY time, state"
	return dashboardDef{
		uid: "telemetry-remediation", title: "Remediation",
		description: "Remediation event lifecycle: timeline, time to resolve, counts per rule.",
		tags:        []string{"telemetry", "noc", "remediation"}, from: "now-24h",
		variables: commonVariables(),
		rows: []rowDef{
			{"Timeline", []panelDef{
				{title: "Event lifecycle", kind: kindStateTimeline, w: 24, h: 10,
					mappings: map[string][2]string{"1": {"firing", "red"}, "2": {"dispatched", "orange"}, "3": {"acknowledged", "yellow"}, "4": {"escalated", "purple"}, "5": {"failed", "dark-red"}, "6": {"resolved", "green"}},
					sql:      timeline, format: FormatTimeSeries, columns: []string{"time", "event", "state"}},
				{title: "Transitions per state", kind: kindTimeseries, unit: "none", w: 24, h: 7,
					sql: transitions, format: FormatTimeSeries, columns: []string{"time", "state", "transitions"}},
			}},
			{"Resolution", []panelDef{
				{title: "Events", kind: kindTable, unit: "s", w: 24, h: 9,
					sql: lifecycle, format: FormatTable, columns: []string{"event_id", "rule", "severity", "current_state", "site", "device", "interface", "fired_at", "time_to_resolve_s"}},
				{title: "Time to resolve per rule", kind: kindTable, unit: "s", thresholds: []step{base("green"), at(300, "yellow"), at(1800, "red")}, w: 12, h: 8,
					overrides: []fieldOverride{unitOf("resolved", "none")},
					sql:       ttr, format: FormatTable, columns: []string{"rule", "resolved", "avg_time_to_resolve_s", "p90_time_to_resolve_s", "max_time_to_resolve_s"}},
				{title: "Events per rule", kind: kindBarChart, unit: "none", w: 12, h: 8, xField: "rule",
					sql: perRule, format: FormatTable, columns: []string{"rule", "events", "critical", "escalated", "failed"}},
			}},
		},
	}
}

func pipelineHealth() dashboardDef {
	delay := "SELECT " + tiers[0].bucket() + " AS time, instance, max(delay_p50_ms) AS delay_p50_ms, max(delay_p99_ms) AS delay_p99_ms, max(delay_max_ms) AS delay_max_ms\n" +
		"FROM " + schema.PipelineKPIs + " FINAL\nPREWHERE $__timeFilter(ts)\nGROUP BY time, instance\nORDER BY time, instance"
	devices := "SELECT site, device, address, state, last_seen\nFROM " + schema.Devices + " FINAL\nWHERE " + deviceFilter + "\nORDER BY state = 'up', site, device"
	dead := "SELECT " + tiers[0].bucket() + " AS time, concat(component, ': ', reason) AS reason, count() AS deadletters\n" +
		"FROM " + schema.DeadLetters + "\nWHERE $__timeFilter(ts)\nGROUP BY time, reason\nORDER BY time, reason"
	return dashboardDef{
		uid: "telemetry-pipeline", title: "Pipeline health",
		description: "Collector targets, sample rates, Kafka consumer lag, sink rows, telemetry delay and dead letters.",
		tags:        []string{"telemetry", "pipeline"}, from: "now-3h",
		variables: commonVariables(),
		rows: []rowDef{
			{"Collectors", []panelDef{
				{title: "Collector targets", kind: kindStat, unit: "none", w: 8, h: 8,
					description: "Targets with an established gNMI session, and assigned targets without one.",
					promQL: []promTarget{
						{`sum(telemetry_collector_targets_up)`, "up"},
						{`sum(telemetry_collector_targets_assigned) - sum(telemetry_collector_targets_up)`, "not up"},
					}},
				{title: "Samples per second", kind: kindTimeseries, unit: "suffix: /s", w: 16, h: 8,
					promQL: []promTarget{
						{`sum(rate(telemetry_collector_samples_total[$__rate_interval]))`, "collected"},
						{`sum(rate(telemetry_collector_samples_produced_total[$__rate_interval]))`, "produced to Kafka"},
						{`sum(rate(telemetry_processor_samples_total[$__rate_interval]))`, "processed"},
						{`sum(rate(telemetry_processor_kpis_total[$__rate_interval]))`, "KPIs"},
						{`sum by (reason) (rate(telemetry_collector_samples_dropped_total[$__rate_interval]))`, "collector dropped: {{reason}}"},
						{`sum by (reason) (rate(telemetry_processor_drops_total[$__rate_interval]))`, "processor dropped: {{reason}}"},
					}},
				{title: "Devices", kind: kindTable, w: 24, h: 8,
					sql: devices, format: FormatTable, columns: []string{"site", "device", "address", "state", "last_seen"}},
			}},
			{"Kafka and ClickHouse", []panelDef{
				{title: "Consumer lag", kind: kindTimeseries, unit: "short", thresholds: []step{base("green"), at(10000, "yellow"), at(100000, "red")}, w: 12, h: 8,
					description: "Records behind the log end per consumer and topic, and records the processor holds uncommitted (open windows).",
					promQL: []promTarget{
						{`sum by (__name__, topic) ({__name__=~"telemetry_.+_consumer_lag_records"})`, "{{__name__}} {{topic}}"},
						{`sum(telemetry_processor_uncommitted_records)`, "processor uncommitted"},
					}},
				{title: "Processing lag behind device time", kind: kindTimeseries, unit: "s", thresholds: []step{base("green"), at(5, "yellow"), at(30, "red")}, w: 12, h: 8,
					promQL: []promTarget{{`max by (instance) (telemetry_processor_device_time_lag_seconds)`, "{{instance}}"}}},
				{title: "Sink rows per second", kind: kindTimeseries, unit: "suffix: rows/s", w: 12, h: 8,
					promQL: []promTarget{
						{`sum by (table) (rate(telemetry_sink_rows_total[$__rate_interval]))`, "{{table}}"},
						{`sum by (table) (rate(telemetry_sink_insert_errors_total[$__rate_interval]))`, "insert errors: {{table}}"},
						{`sum by (reason) (rate(telemetry_sink_deadletters_total[$__rate_interval]))`, "dead letters: {{reason}}"},
					}},
				{title: "Telemetry delay (device time to KPI)", kind: kindTimeseries, unit: "ms", thresholds: delaySteps, w: 12, h: 8,
					sql: delay, format: FormatTimeSeries, columns: []string{"time", "instance", "delay_p50_ms", "delay_p99_ms", "delay_max_ms"}},
				{title: "Dead letters", kind: kindTimeseries, unit: "none", thresholds: countSteps, w: 12, h: 8,
					sql: dead, format: FormatTimeSeries, columns: []string{"time", "reason", "deadletters"}},
			}},
		},
	}
}
