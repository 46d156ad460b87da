package dashboards

import (
	"fmt"
	"strings"
)

// The range of the dashboard in seconds, from the plugin's macros.
const rangeSeconds = "(toUInt32($__toTime) - toUInt32($__fromTime))"

// Range thresholds for picking the table that fits: raw KPIs up to 6 h,
// one-minute rollups up to 3 days, one-hour rollups beyond.
const (
	rawMaxRange = 6 * 3600
	m1MaxRange  = 3 * 86400
)

// tier is one of the three tables a KPI can be read from.
type tier struct {
	name    string // "raw", "1m", "1h"
	suffix  string // table suffix
	guard   string // SQL true only when this tier fits the range
	minStep int    // smallest bucket in seconds
}

var tiers = []tier{
	{"raw", "", fmt.Sprintf("%s <= %d", rangeSeconds, rawMaxRange), 1},
	{"1m", "_1m", fmt.Sprintf("%s > %d AND %s <= %d", rangeSeconds, rawMaxRange, rangeSeconds, m1MaxRange), 60},
	{"1h", "_1h", fmt.Sprintf("%s > %d", rangeSeconds, m1MaxRange), 3600},
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
	step := "$__interval_s"
	if t.minStep > 1 {
		step = fmt.Sprintf("greatest($__interval_s, %d)", t.minStep)
	}
	return fmt.Sprintf("toDateTime(intDiv(toUInt32(ts), %s) * %s)", step, step)
}

// tiered returns one query reading whichever table fits the range: a UNION
// ALL of the three tiers, each guarded by a condition on the range length
// that is constant for the query, so only one branch returns rows. body
// builds a branch's SELECT for a tier and must end with its WHERE clause
// open (guard is appended with AND) followed by the placeholder {{guard}}.
func tiered(body func(t tier) string, outer string) string {
	parts := make([]string, len(tiers))
	for i, t := range tiers {
		parts[i] = strings.ReplaceAll(body(t), "{{guard}}", t.guard)
	}
	return "SELECT * FROM (\n" + strings.Join(parts, "\nUNION ALL\n") + "\n)" + outer
}

// Template-variable filters.
const (
	ifaceFilter  = "site IN (${site:singlequote}) AND device IN (${device:singlequote}) AND interface IN (${interface:singlequote})"
	deviceFilter = "site IN (${site:singlequote}) AND device IN (${device:singlequote})"
	linkFilter   = "(src_site IN (${site:singlequote}) OR dst_site IN (${site:singlequote})) AND (src_device IN (${device:singlequote}) OR dst_device IN (${device:singlequote}))"
	eventFilter  = "site IN (${site:singlequote}) AND device IN (${device:singlequote})"
)

// eventIDFilter filters events in queries whose aggregates are aliased to
// site/device (ClickHouse resolves aliases in WHERE).
const eventIDFilter = "event_id IN (SELECT event_id FROM remediation_events WHERE " + eventFilter + ")"
