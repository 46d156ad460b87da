package reports

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/reports/deck"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// rowsPerSlide is how many table rows fit on one slide; longer tables
// continue on the next slide.
const rowsPerSlide = 13

// Formatting shared by the slides and the tests that check them.

// FormatPct formats a ratio as a percentage with the given decimals; NaN is "n/a".
func FormatPct(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f%%", decimals, v*100)
}

// FormatMs formats milliseconds; NaN is "n/a".
func FormatMs(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", v)
}

// durUnit is a unit durations are shown in.
type durUnit struct {
	name     string
	size     time.Duration
	decimals int
}

var (
	unitSeconds = durUnit{"s", time.Second, 0}
	unitMinutes = durUnit{"min", time.Minute, 1}
	unitHours   = durUnit{"h", time.Hour, 1}
)

// unitFor is the unit that shows d best: seconds below a minute, minutes
// below an hour, hours from an hour (judged on the value as printed, so
// 59.97 min is "1.0 h", not "60.0 min").
func unitFor(d time.Duration) durUnit {
	switch {
	case d.Round(time.Second) < time.Minute:
		return unitSeconds
	case d.Round(6*time.Second) < time.Hour:
		return unitMinutes
	}
	return unitHours
}

// columnUnit is the one unit of a column of durations: the unit of its
// largest value, so a column never mixes "30 s" with "1.6 min".
func columnUnit(ds ...time.Duration) durUnit {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return unitFor(m)
}

// format writes d in u; a positive d too small to show is "< 0.1 h", never "0.0 h".
func (u durUnit) format(d time.Duration) string {
	v := float64(d) / float64(u.size)
	if d > 0 && math.Round(v*math.Pow10(u.decimals)) == 0 {
		return fmt.Sprintf("< %.*f %s", u.decimals, math.Pow10(-u.decimals), u.name)
	}
	return fmt.Sprintf("%.*f %s", u.decimals, v, u.name)
}

// FormatDuration formats a mean time to resolve in the unit that suits
// it (s, min, h); 0 is "n/a".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return unitFor(d).format(d)
}

// FormatElapsed formats a length of time such as congestion in the unit
// that suits it; 0 is "0 s".
func FormatElapsed(d time.Duration) string { return unitFor(d).format(d) }

func formatSpeed(bps uint64) string {
	switch {
	case bps == 0:
		return "?"
	case bps >= 1e9 && bps%1e9 == 0:
		return fmt.Sprintf("%dG", bps/1e9)
	case bps >= 1e9:
		return fmt.Sprintf("%.1fG", float64(bps)/1e9)
	}
	return fmt.Sprintf("%dM", bps/1e6)
}

func formatCount(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Metric says how to format and judge one summary number.
type metric struct {
	label     string
	this, old float64
	format    func(float64) string
	unit      string  // of the delta: "pp" (percentage points) or "ms"
	scale     float64 // delta multiplier (100 for ratios → pp)
	decimals  int
	higherBad bool
	flatBelow float64 // |delta| under this (in unit) is "flat"
	// noThis and noOld say why this or last week's value is missing
	// (NaN); empty is "no data this week" / "no data last week".
	noThis, noOld string
}

// noComparison is the one wording of a missing week-over-week change,
// on tiles, in key points and in tables.
func noComparison(why string) string { return "no comparison (" + why + ")" }

const noDataLastWeek = "no data last week"

func (m metric) tile(r deck.Rect) *deck.Tile {
	t := &deck.Tile{Rect: r, Label: m.label, Value: m.format(m.this)}
	if math.IsNaN(m.this) || math.IsNaN(m.old) {
		t.Trend = deck.Unknown
		switch {
		case math.IsNaN(m.this):
			t.Delta = cmp.Or(m.noThis, "no data this week")
		default:
			t.Delta = noComparison(cmp.Or(m.noOld, noDataLastWeek))
		}
		return t
	}
	d := (m.this - m.old) * m.scale
	sign := "+"
	if d < 0 {
		sign = "−"
	}
	unit := ""
	if m.unit != "" {
		unit = " " + m.unit
	}
	t.Delta = fmt.Sprintf("%s%.*f%s vs last week (%s)", sign, m.decimals, math.Abs(d), unit, m.format(m.old))
	switch {
	case math.Abs(d) < m.flatBelow:
		t.Trend = deck.Flat
		t.Delta = fmt.Sprintf("unchanged vs last week (%s)", m.format(m.old))
	case d > 0:
		t.Trend = deck.Up
		good := !m.higherBad
		t.Good = &good
	default:
		t.Trend = deck.Down
		good := m.higherBad
		t.Good = &good
	}
	return t
}

// summaryMetrics are the six headline numbers, in tile order.
func summaryMetrics(d *Data) []metric {
	pct := func(dec int) func(float64) string { return func(v float64) string { return FormatPct(v, dec) } }
	ifaceOld, linkOld := "no interface KPIs last week", "no link KPIs last week"
	if !d.HasLast() {
		ifaceOld, linkOld = noDataLastWeek, noDataLastWeek
	}
	return []metric{
		{label: "Availability (interfaces up)", this: d.This.Availability, old: d.Last.Availability, format: pct(2), unit: "pp", scale: 100, decimals: 2, flatBelow: 0.005, noOld: ifaceOld},
		{label: "Average utilization", this: d.This.UtilAvg, old: d.Last.UtilAvg, format: pct(1), unit: "pp", scale: 100, decimals: 1, higherBad: true, flatBelow: 0.05, noOld: ifaceOld},
		{label: "P95 utilization", this: d.This.UtilP95, old: d.Last.UtilP95, format: pct(1), unit: "pp", scale: 100, decimals: 1, higherBad: true, flatBelow: 0.05, noOld: ifaceOld},
		{label: "Packet loss (site-to-site)", this: d.This.Loss, old: d.Last.Loss, format: pct(3), unit: "pp", scale: 100, decimals: 3, higherBad: true, flatBelow: 0.0005, noOld: linkOld},
		{label: "Average latency (RTT)", this: d.This.LatencyAvg, old: d.Last.LatencyAvg, format: FormatMs, unit: "ms", scale: 1, decimals: 1, higherBad: true, flatBelow: 0.05, noOld: linkOld},
		{label: "P95 latency (RTT)", this: d.This.LatencyP95, old: d.Last.LatencyP95, format: FormatMs, unit: "ms", scale: 1, decimals: 1, higherBad: true, flatBelow: 0.05, noOld: linkOld},
	}
}

// remediationMetrics are the three remediation tiles: events, share
// resolved automatically, mean time to resolve.
func remediationMetrics(d *Data) []metric {
	r, last := d.Remediation, d.LastRemed
	hasLast := d.HasLast()
	count := func(v float64) string { return fmt.Sprint(int(v)) }
	events := metric{label: "Remediation events", this: float64(r.Events), old: float64(last.Events),
		format: count, scale: 1, decimals: 0, higherBad: true, flatBelow: 0.5}
	auto := metric{label: "Resolved automatically", this: r.AutoShare(), old: last.AutoShare(),
		format: func(v float64) string { return FormatPct(v, 0) }, unit: "pp", scale: 100, decimals: 0, flatBelow: 0.5,
		noThis: "no events this week", noOld: "no events last week"}
	secs := func(x time.Duration) float64 {
		if x <= 0 {
			return math.NaN()
		}
		return x.Seconds()
	}
	// The change is shown in the unit of the larger of the two means.
	u := columnUnit(r.MTTR, last.MTTR)
	mt := metric{label: "Mean time to resolve", this: secs(r.MTTR), old: secs(last.MTTR),
		format: func(v float64) string { return FormatDuration(time.Duration(v * float64(time.Second))) },
		unit:   u.name, scale: float64(time.Second) / float64(u.size), decimals: u.decimals, higherBad: true,
		flatBelow: 0.5 * math.Pow10(-u.decimals), noThis: "nothing resolved this week", noOld: "nothing resolved last week"}
	if !hasLast {
		for _, m := range []*metric{&events, &auto, &mt} {
			m.old, m.noOld = math.NaN(), noDataLastWeek
		}
	}
	return []metric{events, auto, mt}
}

// HasLast reports whether the previous week has any data (KPIs or
// remediation events) to compare with. Without it every comparison in the
// deck says "no comparison (no data last week)".
func (d *Data) HasLast() bool {
	return d.Last.Windows > 0 || d.Last.LinkWins > 0 || d.LastRemed.Events > 0
}

// eventsVsLast is the change in the number of events in the words of the
// events tile, e.g. "+6 vs last week (9)" or "no comparison (no data last week)".
func eventsVsLast(d *Data) string { return remediationMetrics(d)[0].tile(deck.Rect{}).Delta }

// remediationOutcomes says what became of the week's events, in figures
// that add up to the number of events.
func remediationOutcomes(r Remediation) string {
	return fmt.Sprintf("%d resolved automatically (%s), %d recovered without an action, %d escalated to people, %d failed or still open at the week's end",
		r.AutoResolved, FormatPct(r.AutoShare(), 0), r.NoAction, r.Escalated, r.Failed+r.Open)
}

func (d *Data) period() string {
	last := d.End.AddDate(0, 0, -1)
	return fmt.Sprintf("%s to %s", d.Start.Format("Mon 2 Jan 2006"), last.Format("Mon 2 Jan 2006"))
}

func text(r deck.Rect, size float64, paras ...deck.Paragraph) *deck.Text {
	return &deck.Text{Rect: r, Size: size, Paragraphs: paras}
}

func runs(rs ...deck.Run) deck.Paragraph { return deck.Paragraph{Runs: rs} }

// Build turns the week's data into the deck.
func Build(d *Data) *deck.Deck {
	footer := fmt.Sprintf("Network telemetry · %s · %s · %s", d.Week, d.period(), d.Scope)
	dk := &deck.Deck{
		Title:   fmt.Sprintf("Network telemetry weekly report %s", d.Week),
		Subject: fmt.Sprintf("%s, %s (%s)", d.Scope, d.period(), d.Location),
		Author:  "telemetry report",
		Created: d.Generated,
	}
	add := func(s deck.Slide) {
		s.Footer = footer
		dk.Slides = append(dk.Slides, s)
	}
	add(titleSlide(d))
	add(summarySlide(d))
	for _, s := range congestedSlides(d) {
		add(s)
	}
	for _, s := range linkSlides(d) {
		add(s)
	}
	add(remediationSlide(d))
	for _, s := range siteSlides(d) {
		add(s)
	}
	add(trendSlide(d))
	add(appendixSlide(d))
	return dk
}

func titleSlide(d *Data) deck.Slide {
	paras := []deck.Paragraph{
		runs(deck.Run{Text: "Week " + d.Week.String(), Size: 36, Bold: true, Color: deck.ColorNavy}),
		runs(deck.Run{Text: d.period() + " (" + d.Location.String() + ")", Size: 22, Color: deck.ColorGrey}),
		runs(deck.Run{Text: " ", Size: 12}),
		runs(deck.Run{Text: "Scope: ", Bold: true}, deck.Run{Text: fmt.Sprintf("%s — %s interfaces, %s site-to-site links, %s",
			d.Scope, formatCount(d.This.Interfaces), formatCount(d.This.Links), siteCount(d.Sites))}),
		runs(deck.Run{Text: "Generated: ", Bold: true}, deck.Run{Text: d.Generated.In(d.Location).Format("Mon 2 Jan 2006 15:04 MST")}),
	}
	for _, n := range d.Notes {
		paras = append(paras, runs(deck.Run{Text: "⚠ " + n, Color: deck.ColorAmber}))
	}
	return deck.Slide{Title: "Network telemetry — weekly executive report", Elements: []deck.Element{
		text(deck.Rect{X: 0.5, Y: 1.7, W: 12.3, H: 5}, 18, paras...),
	}}
}

// siteCount is "5 sites" or "5 sites (1 without data)".
func siteCount(sites []SiteRow) string {
	missing := 0
	for _, s := range sites {
		if s.Missing {
			missing++
		}
	}
	out := fmt.Sprintf("%d sites", len(sites))
	if len(sites) == 1 {
		out = "1 site"
	}
	if missing > 0 {
		out += fmt.Sprintf(" (%d without data)", missing)
	}
	return out
}

func summarySlide(d *Data) deck.Slide {
	var els []deck.Element
	ms := summaryMetrics(d)
	for i, m := range ms {
		col, row := i%3, i/3
		els = append(els, m.tile(deck.Rect{X: 0.5 + float64(col)*4.17, Y: 1.45 + float64(row)*1.62, W: 3.95, H: 1.45}))
	}
	var points []deck.Paragraph
	points = append(points, runs(deck.Run{Text: "Key points", Bold: true, Color: deck.ColorNavy, Size: 16}))
	r := d.Remediation
	if r.Events > 0 {
		points = append(points, deck.Bullet(fmt.Sprintf("%d remediation events, %s. Of these, %s; mean time to resolve %s.",
			r.Events, eventsVsLast(d), remediationOutcomes(r), FormatDuration(r.MTTR))))
	} else {
		points = append(points, deck.Bullet(fmt.Sprintf("No remediation events fired this week; %s.", eventsVsLast(d))))
	}
	points = append(points, deck.Bullet(reachabilityPoint(r.Unreachable)))
	if len(d.Congested) > 0 {
		c := d.Congested[0]
		points = append(points, deck.Bullet(fmt.Sprintf("Most congested interface: %s/%s %s, p95 utilization %s (%s at or above %s).",
			c.Site, c.Device, c.Interface, FormatPct(c.UtilP95, 1), FormatElapsed(c.Congested), FormatPct(d.Threshold, 0))))
	}
	if len(d.Links) > 0 {
		l := d.Links[0]
		points = append(points, deck.Bullet(fmt.Sprintf("Worst site-to-site link: %s → %s, loss %s, p95 RTT %s.",
			l.SrcSite, l.DstSite, FormatPct(l.Loss, 3), FormatMs(l.RTTP95))))
	}
	for _, n := range d.Notes {
		points = append(points, deck.Paragraph{Runs: []deck.Run{{Text: "⚠ " + n, Color: deck.ColorAmber}}, Bullet: true})
	}
	els = append(els, text(deck.Rect{X: 0.5, Y: 4.8, W: 12.3, H: 2.3}, 14, points...))
	return deck.Slide{Title: "Executive summary", Elements: els}
}

// reachabilityPoint is the key point on devices that stopped answering.
func reachabilityPoint(u Unreachable) string {
	if u.Events == 0 {
		return "Every device stayed reachable (no device-unreachable event)."
	}
	s := fmt.Sprintf("Devices unreachable: %d %s on %d %s, %s in all; longest %s (%s)",
		u.Events, plural(u.Events, "event", "events"), u.Devices, plural(u.Devices, "device", "devices"),
		FormatElapsed(u.Total), u.LongestDevice, FormatElapsed(u.Longest))
	if u.Open > 0 {
		s += fmt.Sprintf("; %d still unreachable at the week's end", u.Open)
	}
	return s + "."
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// paginate splits rows into slides titled title, title (2/3)…
func paginate(title string, rows [][]deck.Cell, mk func([][]deck.Cell) []deck.Element) []deck.Slide {
	n := (len(rows) + rowsPerSlide - 1) / rowsPerSlide
	var out []deck.Slide
	for i := 0; i < n; i++ {
		end := min((i+1)*rowsPerSlide, len(rows))
		t := title
		if n > 1 {
			t = fmt.Sprintf("%s (%d/%d)", title, i+1, n)
		}
		out = append(out, deck.Slide{Title: t, Elements: mk(rows[i*rowsPerSlide : end])})
	}
	return out
}

func empty(title, why string) []deck.Slide {
	return []deck.Slide{{Title: title, Elements: []deck.Element{
		text(deck.Rect{X: 0.5, Y: 1.6, W: 12.3, H: 1}, 18, runs(deck.Run{Text: why, Color: deck.ColorAmber})),
	}}}
}

func cellR(s string) deck.Cell { return deck.Cell{Text: s, Align: deck.Right} }

func congestedSlides(d *Data) []deck.Slide {
	title := fmt.Sprintf("Top %d congested interfaces", len(d.Congested))
	if len(d.Congested) == 0 {
		return empty("Top congested interfaces", "No interface KPIs were recorded this week, so no interface can be ranked.")
	}
	var times []time.Duration
	for _, c := range d.Congested {
		times = append(times, c.Congested)
	}
	unit := columnUnit(times...)
	var rows [][]deck.Cell
	for i, c := range d.Congested {
		p95 := cellR(FormatPct(c.UtilP95, 1))
		if c.UtilP95 >= d.Threshold {
			p95.Color, p95.Bold = deck.ColorRed, true
		}
		rows = append(rows, []deck.Cell{cellR(fmt.Sprint(i + 1)), {Text: c.Site}, {Text: c.Device}, {Text: c.Interface},
			cellR(formatSpeed(c.SpeedBps)), cellR(FormatPct(c.UtilAvg, 1)), p95, cellR(FormatPct(c.UtilMax, 1)),
			cellR(unit.format(c.Congested)), cellR(FormatPct(c.Loss, 3))})
	}
	return paginate(title, rows, func(rs [][]deck.Cell) []deck.Element {
		return []deck.Element{
			&deck.Table{Rect: deck.Rect{X: 0.5, Y: 1.45, W: 12.3, H: 5.2},
				Header:    []string{"#", "Site", "Device", "Interface", "Speed", "Avg util", "P95 util", "Max util", fmt.Sprintf("Time ≥ %s", FormatPct(d.Threshold, 0)), "Loss"},
				ColWidths: []float64{0.5, 1.3, 1.8, 2, 0.9, 1.1, 1.1, 1.1, 1.3, 1},
				ColAlign:  []deck.Align{deck.Right, deck.Left, deck.Left, deck.Left, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right},
				Rows:      rs},
			text(deck.Rect{X: 0.5, Y: 6.65, W: 12.3, H: 0.45}, 11, runs(deck.Run{Color: deck.ColorGrey,
				Text: "Ranked by 95th-percentile utilization (max of in/out per KPI window). Red: p95 at or above the congestion threshold."})),
		}
	})
}

func linkSlides(d *Data) []deck.Slide {
	if len(d.Links) == 0 {
		return empty("Worst site-to-site links", "No site-to-site link KPIs (probes) were recorded this week.")
	}
	links := d.Links
	if len(links) > rowsPerSlide {
		links = links[:rowsPerSlide]
	}
	var rows [][]deck.Cell
	for _, l := range links {
		loss := cellR(FormatPct(l.Loss, 3))
		if l.Loss >= 0.001 {
			loss.Color, loss.Bold = deck.ColorRed, true
		}
		change := cellR(noComparison(noDataLastWeek))
		if !math.IsNaN(l.LastRTTAvg) {
			delta := l.RTTAvg - l.LastRTTAvg
			change = cellR(fmt.Sprintf("%+.1f ms", delta))
			switch {
			case delta > 0.05:
				change.Text, change.Color = "▲ "+change.Text, deck.ColorRed
			case delta < -0.05:
				change.Text, change.Color = "▼ "+change.Text, deck.ColorGreen
			}
		}
		rows = append(rows, []deck.Cell{{Text: l.SrcSite}, {Text: l.DstSite}, cellR(FormatMs(l.RTTAvg)), cellR(FormatMs(l.RTTP95)),
			cellR(FormatMs(l.Jitter)), loss, change})
	}
	title := fmt.Sprintf("Worst %d site-to-site links", len(rows))
	return paginate(title, rows, func(rs [][]deck.Cell) []deck.Element {
		return []deck.Element{
			&deck.Table{Rect: deck.Rect{X: 0.5, Y: 1.45, W: 12.3, H: 5.2},
				Header:    []string{"From site", "To site", "Avg RTT", "P95 RTT", "Jitter", "Loss", "Avg RTT vs last week"},
				ColWidths: []float64{1.6, 1.6, 1.2, 1.2, 1.2, 1.2, 1.8},
				ColAlign:  []deck.Align{deck.Left, deck.Left, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right},
				Rows:      rs},
			text(deck.Rect{X: 0.5, Y: 6.65, W: 12.3, H: 0.45}, 11, runs(deck.Run{Color: deck.ColorGrey,
				Text: fmt.Sprintf("Ranked by mean loss, then p95 RTT, over all probe windows; %d of %d site pairs shown. Red loss: 0.1%% or more.", len(rows), len(d.Links))})),
		}
	})
}

func remediationSlide(d *Data) deck.Slide {
	r, last := d.Remediation, d.LastRemed
	var els []deck.Element
	for i, m := range remediationMetrics(d) {
		els = append(els, m.tile(deck.Rect{X: 0.5 + float64(i)*4.17, Y: 1.45, W: 3.95, H: 1.45}))
	}
	if r.Events == 0 {
		els = append(els, text(deck.Rect{X: 0.5, Y: 3.2, W: 12.3, H: 1}, 16,
			runs(deck.Run{Text: "No remediation events fired this week.", Color: deck.ColorGrey})))
		return deck.Slide{Title: "Remediation summary", Elements: els}
	}
	var mttrs []time.Duration
	for _, rr := range r.Rules {
		mttrs = append(mttrs, rr.MTTR)
	}
	unit := columnUnit(mttrs...)
	var rows [][]deck.Cell
	for i, rr := range r.Rules {
		if i == 8 {
			rows = append(rows, []deck.Cell{{Text: fmt.Sprintf("… %d more rules", len(r.Rules)-8)}})
			break
		}
		mttr := "n/a"
		if rr.MTTR > 0 {
			mttr = unit.format(rr.MTTR)
		}
		rows = append(rows, []deck.Cell{{Text: rr.Rule}, cellR(fmt.Sprint(rr.Events)), cellR(fmt.Sprint(rr.AutoResolved)),
			cellR(fmt.Sprint(rr.NoAction)), cellR(fmt.Sprint(rr.Escalated)), cellR(fmt.Sprint(rr.Failed + rr.Open)), cellR(mttr)})
	}
	els = append(els, &deck.Table{Rect: deck.Rect{X: 0.5, Y: 3.1, W: 8.1, H: 3.1},
		Header:    []string{"Rule", "Events", "Auto-resolved", "Recovered, no action", "Escalated", "Failed/open", "MTTR"},
		ColWidths: []float64{2.0, 0.8, 1.2, 1.25, 1.05, 1.0, 1.0},
		ColAlign:  []deck.Align{deck.Left, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right},
		Size:      11, Rows: rows})
	var cats []string
	var this, prev []float64
	for i := 0; i < 7; i++ {
		cats = append(cats, d.Start.AddDate(0, 0, i).Format("Mon 2"))
		this = append(this, float64(r.PerDay[i]))
		prev = append(prev, float64(last.PerDay[i]))
	}
	series := []deck.Series{{Name: "This week", Values: this, Color: deck.ColorBlue}}
	if d.HasLast() {
		series = append(series, deck.Series{Name: "Last week", Values: prev, Color: "A6A6A6"})
	}
	els = append(els, &deck.Chart{Rect: deck.Rect{X: 8.75, Y: 3.0, W: 4.15, H: 3.3}, Kind: deck.Bar, Title: "Events fired per day",
		Categories: cats, Series: series, ValueFormat: "0"})
	els = append(els, text(deck.Rect{X: 0.5, Y: 6.3, W: 12.3, H: 0.8}, 10, runs(deck.Run{Color: deck.ColorGrey, Text: remediationLegend})))
	return deck.Slide{Title: "Remediation summary", Elements: els}
}

// remediationLegend defines the outcomes of the remediation table (also in
// the appendix and docs/report.md).
const remediationLegend = "Auto-resolved: the KPI recovered (the rules engine recorded resolved) after the rule's webhook action was " +
	"dispatched, with no escalation. Recovered, no action: resolved without a delivered action (rule without a webhook, or delivery failed). " +
	"Escalated: handed to people by the escalate-after timer — the only step the pipeline records as a person's; a webhook's acknowledgement " +
	"is not one. Failed/open: not resolved by the week's end. Each event has one outcome, as known at the week's end."

func siteSlides(d *Data) []deck.Slide {
	if len(d.Sites) == 0 {
		return empty("Per-site overview", "No site reported data this week and the inventory lists no site.")
	}
	var rows [][]deck.Cell
	for _, s := range d.Sites {
		if s.Missing {
			rows = append(rows, []deck.Cell{{Text: s.Site, Bold: true}, {Text: "no data this week", Color: deck.ColorRed}, {}, {}, {}, {}, {}, cellR(fmt.Sprint(s.Events)), cellR(FormatPct(0, 0))})
			continue
		}
		cov := cellR(FormatPct(s.Coverage, 0))
		if s.Coverage < 0.95 {
			cov.Color, cov.Bold = deck.ColorAmber, true
		}
		avail := cellR(FormatPct(s.Availability, 2))
		if !math.IsNaN(s.Availability) && s.Availability < 0.999 {
			avail.Color = deck.ColorRed
		}
		rows = append(rows, []deck.Cell{{Text: s.Site, Bold: true}, cellR(formatCount(s.Interfaces)), avail,
			cellR(FormatPct(s.UtilAvg, 1)), cellR(FormatPct(s.UtilP95, 1)), cellR(FormatPct(s.Loss, 3)), cellR(FormatMs(s.RTTAvg)),
			cellR(fmt.Sprint(s.Events)), cov})
	}
	return paginate("Per-site overview", rows, func(rs [][]deck.Cell) []deck.Element {
		return []deck.Element{
			&deck.Table{Rect: deck.Rect{X: 0.5, Y: 1.45, W: 12.3, H: 5.2},
				Header:    []string{"Site", "Interfaces", "Availability", "Avg util", "P95 util", "Interface loss", "Avg RTT (out)", "Events", "Data coverage"},
				ColWidths: []float64{1.6, 1.1, 1.2, 1.1, 1.1, 1.3, 1.3, 0.9, 1.3},
				ColAlign:  []deck.Align{deck.Left, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right},
				Rows:      rs},
			text(deck.Rect{X: 0.5, Y: 6.65, W: 12.3, H: 0.45}, 11, runs(deck.Run{Color: deck.ColorGrey,
				Text: "Data coverage: share of the week's hours with interface KPIs. Sites from the inventory or the expected list without any data are shown as such."})),
		}
	})
}

func allNaN(s []float64) bool {
	for _, v := range s {
		if !math.IsNaN(v) {
			return false
		}
	}
	return true
}

// Where the trend slide's two charts go.
var (
	trendLeft  = deck.Rect{X: 0.4, Y: 1.4, W: 6.2, H: 5.5}
	trendRight = deck.Rect{X: 6.75, Y: 1.4, W: 6.2, H: 5.5}
)

func trendSlide(d *Data) deck.Slide {
	var cats []string
	for h := 0; h < d.Hours(); h++ {
		t := d.Start.Add(time.Duration(h) * time.Hour).In(d.Location)
		if t.Hour() == 0 {
			cats = append(cats, t.Format("Mon 2"))
		} else {
			cats = append(cats, "")
		}
	}
	var els []deck.Element
	left, right := trendLeft, trendRight
	if allNaN(d.Trend.UtilAvg) {
		els = append(els, text(left, 16, runs(deck.Run{Text: "Utilization: no interface KPIs this week.", Color: deck.ColorAmber})))
	} else {
		series := []deck.Series{
			{Name: "Average", Values: d.Trend.UtilAvg, Color: deck.ColorBlue},
			{Name: "P95", Values: d.Trend.UtilP95, Color: deck.ColorOrange},
		}
		if !allNaN(d.Trend.LastUtilAvg) {
			series = append(series, deck.Series{Name: "Average, last week", Values: d.Trend.LastUtilAvg, Color: "A6A6A6"})
		}
		els = append(els, &deck.Chart{Rect: left, Kind: deck.Line, Title: "Interface utilization by hour", Categories: cats, ValueFormat: "0%", Series: series})
	}
	if allNaN(d.Trend.RTTAvg) {
		els = append(els, text(right, 16, runs(deck.Run{Text: "Latency: no site-to-site link KPIs this week.", Color: deck.ColorAmber})))
	} else {
		series := []deck.Series{{Name: "This week", Values: d.Trend.RTTAvg, Color: deck.ColorBlue}}
		if !allNaN(d.Trend.LastRTTAvg) {
			series = append(series, deck.Series{Name: "Last week", Values: d.Trend.LastRTTAvg, Color: "A6A6A6"})
		}
		els = append(els, &deck.Chart{Rect: right, Kind: deck.Line, Title: "Average site-to-site RTT by hour (ms)", Categories: cats, ValueFormat: "0.0", Series: series})
	}
	return deck.Slide{Title: "Trends over the week", Elements: els}
}

func appendixSlide(d *Data) deck.Slide {
	def := func(term, text string) deck.Paragraph {
		return deck.Paragraph{Bullet: true, Runs: []deck.Run{{Text: term + ": ", Bold: true}, {Text: text}}}
	}
	paras := []deck.Paragraph{
		def("Period", fmt.Sprintf("ISO week %s, Monday 00:00 to Monday 00:00 in %s; compared with %s.", d.Week, d.Location, d.Week.Prev())),
		def("Utilization", "per KPI window, the larger of inbound and outbound bit rate over port speed; average and 95th percentile over every interface-window of the week."),
		def("Availability", "share of interface KPI window time with operational status UP."),
		def("Packet loss", "mean loss ratio of site-to-site probe windows (link KPIs); interface loss is the mean interface loss ratio."),
		def("Latency", "round-trip time of site-to-site probes: mean of window RTTs, and the 95th percentile of window RTTs."),
		def("Congested", fmt.Sprintf("an interface-window at or above %s utilization; time ≥ threshold sums those windows.", FormatPct(d.Threshold, 0))),
		def("Remediation", "events that fired during the week, as their recorded transitions stand at the week's end. Resolved automatically = "+
			"resolved (the KPI recovered) after the rule's webhook action was dispatched (and not dead-lettered), with no escalation; the share is "+
			"over all the week's events, open ones included. An acknowledgement is the webhook's HTTP 2xx, not a person: escalation is the only "+
			"human step recorded. Mean time to resolve = fired → resolved over events resolved by the week's end."),
		def("Data coverage", "share of the week's hours with at least one interface KPI for the site; below 95% is flagged as partial."),
		def("Source", "ClickHouse tables "+schema.InterfaceKPIs+", "+schema.LinkKPIs+", "+schema.RemediationEvents+" and "+schema.Devices+
			"; timestamps UTC, shown in the report time zone. "+dedup(d)),
	}
	return deck.Slide{Title: "Appendix — definitions", Elements: []deck.Element{
		text(deck.Rect{X: 0.5, Y: 1.45, W: 12.3, H: 5.6}, 13, paras...),
	}}
}

func dedup(d *Data) string {
	switch {
	case d.Final && d.Dedup == DedupAuto:
		return "Rows deduplicated exactly (FINAL): replayed rows were not merged yet."
	case d.Final:
		return "Rows deduplicated exactly (FINAL)."
	case d.Dedup == DedupAuto:
		return "Rows read as stored: a check found no duplicate rows in the period, so the figures are exact."
	}
	return "Rows read as stored (report.dedup: none): a replayed batch that ClickHouse has not merged yet would count twice."
}

// SlideTitles lists the deck's slide titles (for logs and tests).
func SlideTitles(d *deck.Deck) string {
	var t []string
	for _, s := range d.Slides {
		t = append(t, s.Title)
	}
	return strings.Join(t, " | ")
}
