package reports

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// Summary is the week's headline numbers. Ratios are 0..1; NaN means no data.
type Summary struct {
	// Interface KPIs (interface_kpis).
	Interfaces   uint64  // distinct (site, device, interface); filled for the reported week only
	Windows      uint64  // KPI rows
	Availability float64 // share of window time with oper_status UP
	UtilAvg      float64 // mean of max(util_in, util_out) over windows
	UtilP95      float64 // 95th percentile of the same
	// Site-to-site links (link_kpis).
	Links      uint64  // distinct (src_site, dst_site)
	LinkWins   uint64  // KPI rows
	Loss       float64 // mean loss_ratio
	LatencyAvg float64 // mean rtt_ms
	LatencyP95 float64 // 95th percentile of rtt_ms
}

// InterfaceRow is one line of the congested-interfaces table.
type InterfaceRow struct {
	Site, Device, Interface   string
	SpeedBps                  uint64
	UtilAvg, UtilP95, UtilMax float64
	Congested                 time.Duration // window time at or above the congestion threshold
	Loss                      float64
}

// LinkRow is one site-to-site pair.
type LinkRow struct {
	SrcSite, DstSite string
	RTTAvg, RTTP95   float64
	Jitter, Loss     float64
	LastRTTAvg       float64 // NaN when the pair had no data last week
	Windows          uint64
}

// SiteRow is one site of the per-site table.
type SiteRow struct {
	Site         string
	Interfaces   uint64
	Availability float64
	UtilAvg      float64
	UtilP95      float64
	Loss         float64 // interface loss ratio
	RTTAvg       float64 // mean RTT of links from this site; NaN if none
	Events       int
	Coverage     float64 // share of the week's hours with interface data
	Missing      bool    // expected but no data at all
}

// Event is one remediation event that fired during the week, as its
// recorded transitions (remediation_events rows) tell it at the week's end.
type Event struct {
	ID, Rule, Severity, Site string
	// Device and KPI are the event's entity and the KPI its rule watches
	// (device.reachable for a device that stopped answering).
	Device, KPI string
	FiredAt     time.Time
	// ResolvedAt is when the engine recorded `resolved` (the KPI back within
	// its clear bound), if that happened before the week's end; zero otherwise.
	ResolvedAt time.Time
	// Dispatched: the dispatcher sent the rule's webhook action
	// (`dispatched`, `acknowledged`), whenever it wrote the record.
	Dispatched bool
	// Failed: the action was dead-lettered (`failed`).
	Failed bool
	// Escalated: the engine handed the event to people (`escalated`) before
	// the week's end. It is the only transition that records a person's
	// involvement: `acknowledged` is the webhook's 2xx, not a person.
	Escalated bool
}

// Outcome is what became of an event by the end of its week. Every event
// has exactly one, so the outcomes of a week add up to its events.
type Outcome int

// Outcomes.
const (
	// OutcomeAutoResolved: resolved after an automated action was dispatched (and
	// not dead-lettered), with no escalation.
	OutcomeAutoResolved Outcome = iota
	// OutcomeNoAction: resolved, not escalated, but no action took effect: the
	// rule has no webhook, or its delivery failed. The KPI recovered alone.
	OutcomeNoAction
	// OutcomeEscalated: escalated to people, resolved or not.
	OutcomeEscalated
	// OutcomeFailed: the action was dead-lettered and the event is not resolved.
	OutcomeFailed
	// OutcomeOpen: not resolved at the week's end (and not escalated, not failed).
	OutcomeOpen
)

// Outcome classifies the event.
func (e Event) Outcome() Outcome {
	resolved := !e.ResolvedAt.IsZero()
	switch {
	case e.Escalated:
		return OutcomeEscalated
	case resolved && e.Dispatched && !e.Failed:
		return OutcomeAutoResolved
	case resolved:
		return OutcomeNoAction
	case e.Failed:
		return OutcomeFailed
	}
	return OutcomeOpen
}

// RuleRow summarises the events of one rule.
type RuleRow struct {
	Rule                           string
	Events, AutoResolved, NoAction int
	Escalated, Failed, Open        int
	MTTR                           time.Duration // mean time to resolve; 0 without resolved events
}

// Remediation summarises the week's remediation events. Events =
// AutoResolved + NoAction + Escalated + Failed + Open; Resolved counts the
// events resolved by the week's end, whatever their outcome.
type Remediation struct {
	Events, Resolved                  int
	AutoResolved, NoAction, Escalated int
	Failed, Open                      int
	MTTR                              time.Duration
	Rules                             []RuleRow
	PerDay                            [7]int
	Unreachable                       Unreachable
}

// Unreachable sums up the week's device-unreachable events (rules over
// the device.reachable KPI): how many, on how many devices, for how long.
type Unreachable struct {
	Events, Devices, Open int
	// Total is the time devices were unreachable: from firing to resolved,
	// or to the week's end for an event still open.
	Total time.Duration
	// Longest is the longest event and LongestDevice its site/device.
	Longest       time.Duration
	LongestDevice string
}

// reachabilityKPI is the KPI of the device-unreachable rules.
const reachabilityKPI = "device.reachable"

// AutoShare is the share of the week's events resolved automatically; NaN without events.
func (r Remediation) AutoShare() float64 {
	if r.Events == 0 {
		return math.NaN()
	}
	return float64(r.AutoResolved) / float64(r.Events)
}

// Trend is an hourly series over the week (index = hour since the start).
type Trend struct {
	UtilAvg, UtilP95, LastUtilAvg []float64
	RTTAvg, LastRTTAvg            []float64
}

// Data is everything one deck shows.
type Data struct {
	Week        Week
	Location    *time.Location
	Start, End  time.Time
	Generated   time.Time
	Scope       string
	Threshold   float64
	Final       bool   // read with FINAL (exact deduplication)
	Dedup       string // the configured mode (auto, final, none)
	This, Last  Summary
	Congested   []InterfaceRow
	Links       []LinkRow
	Sites       []SiteRow
	Remediation Remediation
	LastRemed   Remediation
	Trend       Trend
	srcRTT      map[string]float64 // mean RTT of links by source site
	siteIfaces  map[string]uint64  // interfaces with data this week, by site

	// Notes are honest remarks about the data (empty week, missing sites,
	// partial coverage), shown on the title and summary slides.
	Notes []string
}

// Hours is the number of hours in the week (167 or 169 across DST changes).
func (d *Data) Hours() int { return int(d.End.Sub(d.Start) / time.Hour) }

// Query runs the report's queries for one week (and the week before).
type Query struct {
	Conn      driver.Conn
	Database  string
	Location  *time.Location
	TopN      int
	Threshold float64
	Expected  []string
	// NoFinal reads without FINAL: faster on old servers, but rows of a
	// replayed batch not merged yet count twice.
	NoFinal bool
}

// bounds returns [start, end) of w as Unix seconds.
func (q *Query) bounds(w Week) (uint32, uint32) {
	return uint32(w.Start(q.Location).Unix()), uint32(w.End(q.Location).Unix())
}

func (q *Query) table(name string) string {
	return "`" + strings.ReplaceAll(q.Database, "`", "") + "`." + name
}

// Both old (DateTime) and new (DateTime64) servers accept these.
const (
	tsIn   = "ts >= toDateTime(?) AND ts < toDateTime(?)"
	utilEx = "greatest(util_in, util_out)"
)

// DuplicateFree reports whether no table the deck reads holds two rows
// with the same natural key over week w and the week before: then plain
// reads are exact and FINAL is not needed. A hash collision can only make
// it answer false (FINAL then, still exact).
func (q *Query) DuplicateFree(ctx context.Context, w Week) (bool, error) {
	_, to := q.bounds(w)
	from, _ := q.bounds(w.Prev())
	checks := []struct{ table, key, where string }{
		{schema.InterfaceKPIs, "site, device, interface, ts", tsIn},
		{schema.LinkKPIs, "src_site, src_device, dst_site, dst_device, ts", tsIn},
		{schema.RemediationEvents, "event_id, state", "fired_at >= toDateTime(?) AND fired_at < toDateTime(?)"},
		{schema.Devices, "site, device", "1 OR ? = ?"},
	}
	for _, c := range checks {
		var n, distinct uint64
		sql := "SELECT count(), uniqExact(cityHash64(" + c.key + ")) FROM " + q.table(c.table) + " WHERE " + c.where
		if err := q.Conn.QueryRow(ctx, sql, from, to).Scan(&n, &distinct); err != nil {
			return false, fmt.Errorf("%s: %w", c.table, err)
		}
		if n != distinct {
			return false, nil
		}
	}
	return true, nil
}

// from returns " FROM db.name[ FINAL]".
func (q *Query) from(name string) string {
	if q.NoFinal {
		return " FROM " + q.table(name) + " "
	}
	return " FROM " + q.table(name) + " FINAL "
}

func nanIf(cond bool, v float64) float64 {
	if cond || math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

// siteAgg is one row of the per-site query (or its totals).
type siteAgg struct {
	site                   string
	n, hours               uint64
	avail, util, p95, loss float64
}

const siteCols = `count(), uniqExact(intDiv(toUInt32(toDateTime(ts)) - ?, 3600)),
		sumIf(window_s, oper_status = 'UP') / sum(window_s), avg(u), quantileExact(0.95)(u), avg(loss_ratio)`

func scanSite(dest func(...any) error, withSite bool) (siteAgg, error) {
	var a siteAgg
	args := []any{&a.n, &a.hours, &a.avail, &a.util, &a.p95, &a.loss}
	if withSite {
		args = append([]any{&a.site}, args...)
	}
	err := dest(args...)
	return a, err
}

func (a siteAgg) summary(s *Summary) {
	s.Windows = a.n
	s.Availability, s.UtilAvg, s.UtilP95 = nanIf(a.n == 0, a.avail), nanIf(a.n == 0, a.util), nanIf(a.n == 0, a.p95)
}

// sitesAndSummary scans interface_kpis once for week w: per site, and
// WITH TOTALS for the whole fabric.
func (q *Query) sitesAndSummary(ctx context.Context, w Week, d *Data) error {
	from, to := q.bounds(w)
	sql := `SELECT site, ` + siteCols + `
		FROM (SELECT site, ts, window_s, oper_status, loss_ratio, ` + utilEx + ` AS u` + q.from(schema.InterfaceKPIs) + `WHERE ` + tsIn + `)
		GROUP BY site WITH TOTALS ORDER BY site`
	rows, err := q.Conn.Query(ctx, sql, from, from, to)
	if err != nil {
		return fmt.Errorf("sites: %w", err)
	}
	defer rows.Close()
	hours := d.Hours()
	for rows.Next() {
		a, err := scanSite(rows.Scan, true)
		if err != nil {
			return fmt.Errorf("sites: %w", err)
		}
		d.Sites = append(d.Sites, SiteRow{Site: a.site, Availability: a.avail, UtilAvg: a.util, UtilP95: a.p95,
			Loss: a.loss, RTTAvg: math.NaN(), Coverage: float64(a.hours) / float64(hours)})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sites: %w", err)
	}
	tot, err := scanSite(rows.Totals, true)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	tot.summary(&d.This)
	return nil
}

// lastSummary is the fabric summary of the week before w (interface part).
func (q *Query) lastSummary(ctx context.Context, w Week, d *Data) error {
	from, to := q.bounds(w.Prev())
	sql := `SELECT ` + siteCols + `
		FROM (SELECT ts, window_s, oper_status, loss_ratio, ` + utilEx + ` AS u` + q.from(schema.InterfaceKPIs) + `WHERE ` + tsIn + `)`
	a, err := scanSite(q.Conn.QueryRow(ctx, sql, from, from, to).Scan, false)
	if err != nil {
		return fmt.Errorf("last week summary: %w", err)
	}
	a.summary(&d.Last)
	return nil
}

// interfaces reads every interface's aggregates for week w in one scan:
// the top N congested interfaces, and interface counts.
func (q *Query) interfaces(ctx context.Context, w Week, d *Data) error {
	from, to := q.bounds(w)
	sql := `SELECT site, device, interface, max(speed_bps),
		avg(u), quantileExact(0.95)(u), max(u), sumIf(window_s, u >= ?), avg(loss_ratio)
		FROM (SELECT site, device, interface, speed_bps, window_s, loss_ratio, ` + utilEx + ` AS u` +
		q.from(schema.InterfaceKPIs) + `WHERE ` + tsIn + `)
		GROUP BY site, device, interface`
	rows, err := q.Conn.Query(ctx, sql, q.Threshold, from, to)
	if err != nil {
		return fmt.Errorf("interfaces: %w", err)
	}
	defer rows.Close()
	var all []InterfaceRow
	d.siteIfaces = map[string]uint64{}
	for rows.Next() {
		var r InterfaceRow
		var congested uint64 // seconds
		if err := rows.Scan(&r.Site, &r.Device, &r.Interface, &r.SpeedBps, &r.UtilAvg, &r.UtilP95, &r.UtilMax, &congested, &r.Loss); err != nil {
			return fmt.Errorf("interfaces: %w", err)
		}
		r.Congested = time.Duration(congested) * time.Second
		d.This.Interfaces++
		d.siteIfaces[r.Site]++
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("interfaces: %w", err)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.UtilP95 != b.UtilP95 {
			return a.UtilP95 > b.UtilP95
		}
		if a.UtilAvg != b.UtilAvg {
			return a.UtilAvg > b.UtilAvg
		}
		return a.Site+"/"+a.Device+"/"+a.Interface < b.Site+"/"+b.Device+"/"+b.Interface
	})
	d.Congested = all[:min(q.TopN, len(all))]
	return nil
}

// linksAndSummary scans link_kpis once for both weeks: per site pair, and
// WITH TOTALS for the fabric.
func (q *Query) linksAndSummary(ctx context.Context, w Week, d *Data) error {
	from, to := q.bounds(w)
	pfrom, _ := q.bounds(w.Prev())
	sql := `SELECT src_site, dst_site,
		countIf(tw), avgIf(rtt_ms, tw), quantileExactIf(0.95)(rtt_ms, tw), avgIf(jitter_ms, tw), avgIf(loss_ratio, tw),
		countIf(NOT tw), avgIf(rtt_ms, NOT tw), quantileExactIf(0.95)(rtt_ms, NOT tw), avgIf(loss_ratio, NOT tw)
		FROM (SELECT src_site, dst_site, rtt_ms, jitter_ms, loss_ratio, ts >= toDateTime(?) AS tw` +
		q.from(schema.LinkKPIs) + `WHERE ts >= toDateTime(?) AND ts < toDateTime(?))
		GROUP BY src_site, dst_site WITH TOTALS`
	rows, err := q.Conn.Query(ctx, sql, from, pfrom, to)
	if err != nil {
		return fmt.Errorf("links: %w", err)
	}
	defer rows.Close()
	type agg struct {
		src, dst                 string
		n                        uint64
		rtt, p95, jitter, loss   float64
		lastN                    uint64
		lastRTT, lastP95, lastLs float64
	}
	scan := func(dest func(...any) error) (agg, error) {
		var a agg
		err := dest(&a.src, &a.dst, &a.n, &a.rtt, &a.p95, &a.jitter, &a.loss, &a.lastN, &a.lastRTT, &a.lastP95, &a.lastLs)
		return a, err
	}
	srcSum, srcN := map[string]float64{}, map[string]uint64{}
	for rows.Next() {
		a, err := scan(rows.Scan)
		if err != nil {
			return fmt.Errorf("links: %w", err)
		}
		if a.lastN > 0 {
			d.Last.Links++
		}
		if a.n == 0 {
			continue
		}
		d.This.Links++
		srcSum[a.src] += a.rtt * float64(a.n)
		srcN[a.src] += a.n
		d.Links = append(d.Links, LinkRow{SrcSite: a.src, DstSite: a.dst, RTTAvg: a.rtt, RTTP95: a.p95, Jitter: a.jitter, Loss: a.loss,
			LastRTTAvg: nanIf(a.lastN == 0, a.lastRTT), Windows: a.n})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("links: %w", err)
	}
	tot, err := scan(rows.Totals)
	if err != nil {
		return fmt.Errorf("link summary: %w", err)
	}
	d.This.LinkWins, d.Last.LinkWins = tot.n, tot.lastN
	d.This.Loss, d.This.LatencyAvg, d.This.LatencyP95 = nanIf(tot.n == 0, tot.loss), nanIf(tot.n == 0, tot.rtt), nanIf(tot.n == 0, tot.p95)
	d.Last.Loss, d.Last.LatencyAvg, d.Last.LatencyP95 = nanIf(tot.lastN == 0, tot.lastLs), nanIf(tot.lastN == 0, tot.lastRTT), nanIf(tot.lastN == 0, tot.lastP95)
	// Worst first: loss, then tail latency.
	sort.Slice(d.Links, func(i, j int) bool {
		a, b := d.Links[i], d.Links[j]
		if a.Loss != b.Loss {
			return a.Loss > b.Loss
		}
		if a.RTTP95 != b.RTTP95 {
			return a.RTTP95 > b.RTTP95
		}
		return a.SrcSite+">"+a.DstSite < b.SrcSite+">"+b.DstSite
	})
	d.srcRTT = map[string]float64{}
	for s, n := range srcN {
		d.srcRTT[s] = srcSum[s] / float64(n)
	}
	return nil
}

// addMissingSites completes the per-site table with link latency and with
// the sites that should be there (inventory, configuration) but sent no
// interface data.
func (q *Query) addMissingSites(ctx context.Context, w Week, d *Data) error {
	_, to := q.bounds(w)
	expected, err := q.inventorySites(ctx, to)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range d.Sites {
		seen[d.Sites[i].Site] = true
		d.Sites[i].Interfaces = d.siteIfaces[d.Sites[i].Site]
		if v, ok := d.srcRTT[d.Sites[i].Site]; ok {
			d.Sites[i].RTTAvg = v
		}
	}
	expected = append(expected, q.Expected...)
	for s := range d.srcRTT {
		expected = append(expected, s)
	}
	for _, s := range expected {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		r := SiteRow{Site: s, Availability: math.NaN(), UtilAvg: math.NaN(), UtilP95: math.NaN(), Loss: math.NaN(), RTTAvg: math.NaN(), Missing: true}
		if v, ok := d.srcRTT[s]; ok {
			r.RTTAvg, r.Missing = v, false
		}
		d.Sites = append(d.Sites, r)
	}
	sort.Slice(d.Sites, func(i, j int) bool { return d.Sites[i].Site < d.Sites[j].Site })
	return nil
}

// inventorySites lists the sites of the devices inventory known before end.
func (q *Query) inventorySites(ctx context.Context, end uint32) ([]string, error) {
	rows, err := q.Conn.Query(ctx, `SELECT DISTINCT site`+q.from(schema.Devices)+`WHERE first_seen < toDateTime(?) ORDER BY site`, end)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// eventsSQL reads one row per event fired in [start, end) from the
// transitions the pipeline records. The engine's transitions (resolved,
// escalated) carry KPI time and count only before the week's end, so a
// deck says what was known when the week closed and is the same whenever
// it is generated. The dispatcher's (dispatched, acknowledged, failed)
// carry its wall clock, which a replayed backlog moves, so they count
// whenever they were written.
const eventsSQL = `SELECT event_id, any(rule), any(severity), any(site), any(device), any(kpi), min(fired_at),
		minIf(ts, state = 'resolved' AND ts < toDateTime(?)), countIf(state = 'resolved' AND ts < toDateTime(?)) > 0,
		countIf(state IN ('dispatched', 'acknowledged')) > 0, countIf(state = 'failed') > 0,
		countIf(state = 'escalated' AND ts < toDateTime(?)) > 0`

func (q *Query) events(ctx context.Context, w Week) ([]Event, error) {
	from, to := q.bounds(w)
	sql := eventsSQL + q.from(schema.RemediationEvents) + `
		WHERE fired_at >= toDateTime(?) AND fired_at < toDateTime(?)
		GROUP BY event_id ORDER BY event_id`
	rows, err := q.Conn.Query(ctx, sql, to, to, to, from, to)
	if err != nil {
		return nil, fmt.Errorf("remediation events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var resolvedAt time.Time
		var resolved, dispatched, failed, esc uint8
		if err := rows.Scan(&e.ID, &e.Rule, &e.Severity, &e.Site, &e.Device, &e.KPI, &e.FiredAt, &resolvedAt, &resolved, &dispatched, &failed, &esc); err != nil {
			return nil, fmt.Errorf("remediation events: %w", err)
		}
		if resolved != 0 {
			e.ResolvedAt = resolvedAt
		}
		e.Dispatched, e.Failed, e.Escalated = dispatched != 0, failed != 0, esc != 0
		out = append(out, e)
	}
	return out, rows.Err()
}

// unreachable sums up the device-unreachable events; end is the week's end.
func unreachable(events []Event, end time.Time) Unreachable {
	var u Unreachable
	devices := map[string]bool{}
	for _, e := range events {
		if e.KPI != reachabilityKPI {
			continue
		}
		u.Events++
		dev := e.Site + "/" + e.Device
		devices[dev] = true
		until := e.ResolvedAt
		if until.IsZero() {
			u.Open++
			until = end
		}
		d := max(until.Sub(e.FiredAt), 0)
		u.Total += d
		if d > u.Longest || (d == u.Longest && dev < u.LongestDevice) {
			u.Longest, u.LongestDevice = d, dev
		}
	}
	u.Devices = len(devices)
	return u
}

// summarize folds events into the remediation summary.
func summarize(events []Event, start time.Time, loc *time.Location) Remediation {
	var r Remediation
	r.Unreachable = unreachable(events, start.AddDate(0, 0, 7))
	rules := map[string]*RuleRow{}
	ruleTTR := map[string]time.Duration{}
	ruleRes := map[string]int{}
	var ttr time.Duration
	for _, e := range events {
		rr := rules[e.Rule]
		if rr == nil {
			rr = &RuleRow{Rule: e.Rule}
			rules[e.Rule] = rr
		}
		r.Events++
		rr.Events++
		day := int(e.FiredAt.In(loc).Sub(start) / (24 * time.Hour))
		if day >= 0 && day < 7 {
			r.PerDay[day]++
		}
		if !e.ResolvedAt.IsZero() {
			r.Resolved++
			d := e.ResolvedAt.Sub(e.FiredAt)
			ttr += d
			ruleTTR[e.Rule] += d
			ruleRes[e.Rule]++
		}
		switch e.Outcome() {
		case OutcomeAutoResolved:
			r.AutoResolved++
			rr.AutoResolved++
		case OutcomeNoAction:
			r.NoAction++
			rr.NoAction++
		case OutcomeEscalated:
			r.Escalated++
			rr.Escalated++
		case OutcomeFailed:
			r.Failed++
			rr.Failed++
		default:
			r.Open++
			rr.Open++
		}
	}
	if r.Resolved > 0 {
		r.MTTR = ttr / time.Duration(r.Resolved)
	}
	for name, rr := range rules {
		if n := ruleRes[name]; n > 0 {
			rr.MTTR = ruleTTR[name] / time.Duration(n)
		}
		r.Rules = append(r.Rules, *rr)
	}
	sort.Slice(r.Rules, func(i, j int) bool {
		if r.Rules[i].Events != r.Rules[j].Events {
			return r.Rules[i].Events > r.Rules[j].Events
		}
		return r.Rules[i].Rule < r.Rules[j].Rule
	})
	return r
}

// hourly fills per-hour series of both weeks in one scan per table (NaN
// where there is no data): index 0 is the first hour of last week.
func (q *Query) hourly(ctx context.Context, w Week, hours int) (util, p95, rtt []float64, err error) {
	pfrom, _ := q.bounds(w.Prev())
	_, to := q.bounds(w)
	util, p95, rtt = nans(hours), nans(hours), nans(hours)
	// p95 only for week w: last week is drawn as its average.
	from, _ := q.bounds(w)
	rows, err := q.Conn.Query(ctx, `SELECT intDiv(toUInt32(toDateTime(ts)) - ?, 3600) AS h, avg(u), quantileExactIf(0.95)(u, ts >= toDateTime(?))
		FROM (SELECT ts, `+utilEx+` AS u`+q.from(schema.InterfaceKPIs)+`WHERE `+tsIn+`) GROUP BY h`, pfrom, from, pfrom, to)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("hourly utilization: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h int64
		var a, p float64
		if err := rows.Scan(&h, &a, &p); err != nil {
			return nil, nil, nil, fmt.Errorf("hourly utilization: %w", err)
		}
		if h >= 0 && h < int64(hours) {
			util[h], p95[h] = a, p
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("hourly utilization: %w", err)
	}
	lrows, err := q.Conn.Query(ctx, `SELECT intDiv(toUInt32(toDateTime(ts)) - ?, 3600) AS h, avg(rtt_ms)`+
		q.from(schema.LinkKPIs)+`WHERE `+tsIn+` GROUP BY h`, pfrom, pfrom, to)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("hourly latency: %w", err)
	}
	defer lrows.Close()
	for lrows.Next() {
		var h int64
		var a float64
		if err := lrows.Scan(&h, &a); err != nil {
			return nil, nil, nil, fmt.Errorf("hourly latency: %w", err)
		}
		if h >= 0 && h < int64(hours) {
			rtt[h] = a
		}
	}
	return util, p95, rtt, lrows.Err()
}

func nans(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// Collect runs every query of the deck for week w, concurrently. Each
// large table is read at most three times for both weeks together.
func (q *Query) Collect(ctx context.Context, w Week) (*Data, error) {
	d := &Data{
		Week: w, Location: q.Location, Threshold: q.Threshold, Final: !q.NoFinal,
		Start: w.Start(q.Location), End: w.End(q.Location),
	}
	hours := d.Hours()
	prev := w.Prev()
	prevHours := int(prev.End(q.Location).Sub(prev.Start(q.Location)) / time.Hour)
	var thisEvents, lastEvents []Event
	var util, p95, rtt []float64
	g := newGroup(ctx)
	gctx := g.ctx
	g.Go(func() error { return q.sitesAndSummary(gctx, w, d) })
	g.Go(func() error { return q.lastSummary(gctx, w, d) })
	g.Go(func() error { return q.linksAndSummary(gctx, w, d) })
	g.Go(func() error { return q.interfaces(gctx, w, d) })
	g.Go(func() (err error) { thisEvents, err = q.events(gctx, w); return })
	g.Go(func() (err error) { lastEvents, err = q.events(gctx, prev); return })
	g.Go(func() (err error) { util, p95, rtt, err = q.hourly(gctx, w, prevHours+hours); return })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := q.addMissingSites(ctx, w, d); err != nil {
		return nil, err
	}
	d.Trend = Trend{
		UtilAvg: util[prevHours:], UtilP95: p95[prevHours:], RTTAvg: rtt[prevHours:],
		LastUtilAvg: fit(util[:prevHours], hours), LastRTTAvg: fit(rtt[:prevHours], hours),
	}
	d.Remediation = summarize(thisEvents, d.Start, q.Location)
	d.LastRemed = summarize(lastEvents, prev.Start(q.Location), q.Location)
	for _, e := range thisEvents {
		for i := range d.Sites {
			if d.Sites[i].Site == e.Site {
				d.Sites[i].Events++
			}
		}
	}
	d.Notes = notes(d)
	return d, nil
}

// fit resizes an hourly series to n hours (weeks across DST differ by one).
func fit(s []float64, n int) []float64 {
	out := nans(n)
	copy(out, s)
	return out
}

// notes are the honest remarks about the data.
func notes(d *Data) []string {
	var out []string
	if d.This.Windows == 0 && d.This.LinkWins == 0 {
		out = append(out, "No KPI data was recorded for this week: every figure below is empty.")
	} else {
		if d.This.Windows == 0 {
			out = append(out, "No interface KPIs were recorded this week.")
		}
		if d.This.LinkWins == 0 {
			out = append(out, "No site-to-site link KPIs were recorded this week.")
		}
	}
	switch {
	case !d.HasLast():
		out = append(out, "No data for the previous week: week-over-week changes are not available.")
	case d.Last.Windows == 0 && d.Last.LinkWins == 0:
		out = append(out, "No KPI data for the previous week: KPI changes are not available.")
	}
	var missing, partial []string
	for _, s := range d.Sites {
		switch {
		case s.Missing:
			missing = append(missing, s.Site)
		case s.Interfaces > 0 && s.Coverage < 0.95:
			partial = append(partial, fmt.Sprintf("%s (%.0f%% of hours)", s.Site, s.Coverage*100))
		}
	}
	if len(missing) > 0 {
		out = append(out, "Sites without any data this week: "+strings.Join(missing, ", ")+".")
	}
	if len(partial) > 0 {
		out = append(out, "Partial data: "+strings.Join(partial, ", ")+".")
	}
	return out
}

// group runs functions concurrently; the first error cancels the others.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) *group {
	g := &group{}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err; g.cancel() })
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}
