package dashboards

import (
	"fmt"
	"strings"

	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// The range of the dashboard in seconds, from the plugin's macros.
const rangeSeconds = "(toUInt32($__toTime) - toUInt32($__fromTime))"

// Range thresholds for picking the table that fits: raw KPIs (10 s
// windows, FINAL) up to 30 min, one-minute rollups up to 3 days, one-hour
// rollups beyond.
const (
	rawMaxRange = 30 * 60
	m1MaxRange  = 3 * 86400
)

// maxPoints bounds the points per series: buckets are at least range/maxPoints.
const maxPoints = 500

// topN is how many interfaces the per-interface time series show when
// more are selected (the worst ones by the panel's ranking).
const topN = 20

// tier is one of the three tables a KPI can be read from.
type tier struct {
	name    string // "raw", "1m", "1h"
	suffix  string // table suffix: "" (the base table), schema.Minute or schema.Hour
	guard   string // SQL true only when this tier fits the range
	minStep int    // smallest bucket in seconds
}

// tiers picks raw ≤ 30 min, 1-minute rollups ≤ 3 d, 1-hour rollups beyond:
// for time series, whose buckets need the resolution.
var tiers = makeTiers(rawMaxRange, m1MaxRange)

// coarseTiers read the 1-hour rollups above 30 min: for panels that
// aggregate the whole range over every interface (tables, matrices), where
// resolution does not matter but rows read do (with the key starting with
// site, device, interface, a time slice of the 1-minute rollup reads most
// of it). The first and last hour count whole.
var coarseTiers = []tier{
	tiers[0],
	{"1h", schema.Hour, fmt.Sprintf("%s > %d", rangeSeconds, rawMaxRange), 3600},
}

// statusTiers read the 1-minute rollups only up to 6 hours: the status
// timeline aggregates every interface, and a day of the 1-minute rollup is
// 1.4 million rows of aggregate states for 1,000 interfaces.
var statusTiers = makeTiers(rawMaxRange, 6*3600)

func makeTiers(rawMax, m1Max int) []tier {
	return []tier{
		{"raw", "", fmt.Sprintf("%s <= %d", rangeSeconds, rawMax), 1},
		{"1m", schema.Minute, fmt.Sprintf("%s > %d AND %s <= %d", rangeSeconds, rawMax, rangeSeconds, m1Max), 60},
		{"1h", schema.Hour, fmt.Sprintf("%s > %d", rangeSeconds, m1Max), 3600},
	}
}

func (t tier) raw() bool { return t.suffix == "" }

// from is the FROM clause: base tables with FINAL (exact before merges),
// rollups as they are (read with -Merge combinators).
func (t tier) from(base string) string {
	if t.raw() {
		return base + " FINAL"
	}
	return base + t.suffix
}

// agg is an aggregate of a KPI column: avg(x)/max(x) on the base table,
// avgMerge(x_avg)/maxMerge(x_max) on the rollups.
func (t tier) agg(fn, col string) string {
	if t.raw() {
		return fmt.Sprintf("%s(%s)", fn, col)
	}
	state := col + "_" + fn
	if col == "speed_bps" {
		state = col
	}
	return fmt.Sprintf("%sMerge(%s)", fn, state)
}

// bucket is the time bucket of a row, at least the tier's resolution.
// It avoids toStartOfInterval ($__timeInterval), which ClickHouse 18.16 lacks.
func (t tier) bucket() string {
	// greatest takes two arguments on ClickHouse 18.16.
	step := fmt.Sprintf("greatest(greatest($__interval_s, %d), intDiv(%s, %d))", t.minStep, rangeSeconds, maxPoints)
	return fmt.Sprintf("toDateTime(intDiv(toUInt32(ts), %s) * %s)", step, step)
}

// tiered returns one query reading whichever table fits the range: a UNION
// ALL of the three tiers, each guarded by a condition on the range length
// that is constant for the query, so only one branch returns rows; outer
// (an ORDER BY) is appended to every branch. body
// builds a branch's SELECT for a tier and must end with its WHERE clause
// open (guard is appended with AND) followed by the placeholder {{guard}}.
func tiered(body func(t tier) string, outer string) string {
	return tieredOver(tiers, body, outer)
}

// tieredOver is tiered over another set of tiers.
func tieredOver(ts []tier, body func(t tier) string, outer string) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strings.ReplaceAll(body(t), "{{guard}}", t.guard)
		if t.raw() {
			// With FINAL, ClickHouse 18.16 moves nothing to PREWHERE and
			// merges every row of the table; filtering the time (a key
			// column, equal in duplicates) first keeps FINAL exact and cheap.
			parts[i] = strings.ReplaceAll(parts[i], " FINAL\nWHERE $__timeFilter(ts) AND ", " FINAL\nPREWHERE $__timeFilter(ts)\nWHERE ")
		}
		if !t.raw() && t.minStep == 3600 {
			// Whole hours: the bucket holding the range start counts.
			parts[i] = strings.ReplaceAll(parts[i], "$__timeFilter(ts)", "ts >= toStartOfHour($__fromTime) AND ts <= $__toTime")
		}
	}
	// Each branch sorts itself (only one returns rows): wrapping the UNION
	// ALL in a subquery to sort it once costs ClickHouse 18.16 as much CPU
	// again as the branch itself (measured: 188 vs 108 ms for a 15-minute
	// interface series), as the optimizations of a top-level SELECT are lost.
	for i := range parts {
		parts[i] += outer
	}
	return strings.Join(parts, "\nUNION ALL\n")
}

// Names in SQL. A site, device or interface name can be any string
// (ingestion refuses control and invisible characters, but whoever can
// write to Kafka can store anything), and Grafana has no format that is
// safe inside a ClickHouse string literal for any value: singlequote
// escapes ' but not \, which ClickHouse also takes as an escape, and the
// plugin's default format escapes nothing. So a name never reaches the SQL
// text as itself:
//
//   - the variables' options carry the name as their text and a key as
//     their value (the plugin takes a variable query's first column as
//     the value, the second as the text): optionKey, 'x' then the name's
//     bytes in upper-case hex, made by ClickHouse from the stored bytes, so
//     it is exact for any name (invalid UTF-8 included), never empty and
//     never "$__all" (which $__conditionalAll would read as All);
//   - panels and variable queries receive the selection as
//     ${var:percentencode}, which is made of A-Z a-z 0-9 - _ . ~ and %XX
//     only, whatever the value (even one typed into the URL), so it cannot
//     leave its string literal; Grafana writes a multi-value selection as
//     the percent-encoded glob {k1,k2}, and the keys hold no comma or brace;
//   - ClickHouse decodes it back (selectedNames): decodeURLComponent, the
//     keys extracted, unhex'd. 18.16 and current servers have all three.
//
// The SQL of a filter is built here and nowhere else.

// optionKey is the SQL of a variable option's value for the name in col.
func optionKey(col string) string { return "concat('x', hex(" + col + "))" }

// selectedNames is the SQL of the names selected in variable v, an
// Array(String).
func selectedNames(v string) string {
	return "arrayMap(k -> unhex(substring(k, 2)), extractAll(decodeURLComponent('${" + v + ":percentencode}'), 'x[0-9A-F]*'))"
}

// nameIn is the SQL test "col is one of the names selected in variable v";
// IN a subquery, so the primary key still prunes.
func nameIn(col, v string) string {
	return col + " IN (SELECT arrayJoin(" + selectedNames(v) + "))"
}

// Template-variable filters of the panels. Each is wrapped in the plugin's
// $__conditionalAll, so a variable on "All" (the default) filters nothing
// instead of testing every row against the list of every value: that test
// was half the CPU of the interface drill-down's queries on a 15-minute
// range of 1,000 interfaces. The variables' own queries keep their lists.
var (
	siteCond     = "$__conditionalAll(" + nameIn("site", "site") + ", $site)"
	deviceCond   = "$__conditionalAll(" + nameIn("device", "device") + ", $device)"
	ifaceFilter  = siteCond + " AND " + deviceCond + " AND $__conditionalAll(" + nameIn("interface", "interface") + ", $interface)"
	deviceFilter = siteCond + " AND " + deviceCond
	linkFilter   = "$__conditionalAll((" + nameIn("src_site", "site") + " OR " + nameIn("dst_site", "site") + "), $site) AND $__conditionalAll((" + nameIn("src_device", "device") + " OR " + nameIn("dst_device", "device") + "), $device)"
	eventFilter  = siteCond + " AND " + deviceCond
)

// eventIDFilter filters events in queries whose aggregates are aliased to
// site/device (ClickHouse resolves aliases in WHERE).
var eventIDFilter = "event_id IN (SELECT event_id FROM " + schema.RemediationEvents + " WHERE " + eventFilter + ")"
