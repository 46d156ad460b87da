package reports

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/reports/deck"
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

// FormatDuration formats a mean time to resolve; 0 is "n/a".
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "n/a"
	case d < time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

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
}

func (m metric) tile(r deck.Rect) *deck.Tile {
	t := &deck.Tile{Rect: r, Label: m.label, Value: m.format(m.this)}
	if math.IsNaN(m.this) || math.IsNaN(m.old) {
		t.Trend = deck.Unknown
		t.Delta = "no comparison (no data last week)"
		if math.IsNaN(m.this) {
			t.Delta = "no data this week"
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
	return []metric{
		{label: "Availability (interfaces up)", this: d.This.Availability, old: d.Last.Availability, format: pct(2), unit: "pp", scale: 100, decimals: 2, flatBelow: 0.005},
		{label: "Average utilization", this: d.This.UtilAvg, old: d.Last.UtilAvg, format: pct(1), unit: "pp", scale: 100, decimals: 1, higherBad: true, flatBelow: 0.05},
		{label: "P95 utilization", this: d.This.UtilP95, old: d.Last.UtilP95, format: pct(1), unit: "pp", scale: 100, decimals: 1, higherBad: true, flatBelow: 0.05},
		{label: "Packet loss (site-to-site)", this: d.This.Loss, old: d.Last.Loss, format: pct(3), unit: "pp", scale: 100, decimals: 3, higherBad: true, flatBelow: 0.0005},
		{label: "Average latency (RTT)", this: d.This.LatencyAvg, old: d.Last.LatencyAvg, format: FormatMs, unit: "ms", scale: 1, decimals: 1, higherBad: true, flatBelow: 0.05},
		{label: "P95 latency (RTT)", this: d.This.LatencyP95, old: d.Last.LatencyP95, format: FormatMs, unit: "ms", scale: 1, decimals: 1, higherBad: true, flatBelow: 0.05},
	}
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
		runs(deck.Run{Text: "Scope: ", Bold: true}, deck.Run{Text: fmt.Sprintf("%s — %s interfaces, %s site-to-site links, %d sites",
			d.Scope, formatCount(d.This.Interfaces), formatCount(d.This.Links), len(d.Sites))}),
		runs(deck.Run{Text: "Generated: ", Bold: true}, deck.Run{Text: d.Generated.In(d.Location).Format("Mon 2 Jan 2006 15:04 MST")}),
	}
	for _, n := range d.Notes {
		paras = append(paras, runs(deck.Run{Text: "⚠ " + n, Color: deck.ColorAmber}))
	}
	return deck.Slide{Title: "Network telemetry — weekly executive report", Elements: []deck.Element{
		text(deck.Rect{X: 0.5, Y: 1.7, W: 12.3, H: 5}, 18, paras...),
	}}
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
		points = append(points, deck.Bullet(fmt.Sprintf("%d remediation events (%+d vs last week); %s resolved automatically; mean time to resolve %s.",
			r.Events, r.Events-d.LastRemed.Events, FormatPct(r.AutoShare(), 0), FormatDuration(r.MTTR))))
	} else {
		points = append(points, deck.Bullet("No remediation events fired this week."))
	}
	if len(d.Congested) > 0 {
		c := d.Congested[0]
		points = append(points, deck.Bullet(fmt.Sprintf("Most congested interface: %s/%s %s, p95 utilization %s (%.1f h above %s).",
			c.Site, c.Device, c.Interface, FormatPct(c.UtilP95, 1), c.CongestedHours, FormatPct(d.Threshold, 0))))
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
	var rows [][]deck.Cell
	for i, c := range d.Congested {
		p95 := cellR(FormatPct(c.UtilP95, 1))
		if c.UtilP95 >= d.Threshold {
			p95.Color, p95.Bold = deck.ColorRed, true
		}
		rows = append(rows, []deck.Cell{cellR(fmt.Sprint(i + 1)), {Text: c.Site}, {Text: c.Device}, {Text: c.Interface},
			cellR(formatSpeed(c.SpeedBps)), cellR(FormatPct(c.UtilAvg, 1)), p95, cellR(FormatPct(c.UtilMax, 1)),
			cellR(fmt.Sprintf("%.1f", c.CongestedHours)), cellR(FormatPct(c.Loss, 3))})
	}
	return paginate(title, rows, func(rs [][]deck.Cell) []deck.Element {
		return []deck.Element{
			&deck.Table{Rect: deck.Rect{X: 0.5, Y: 1.45, W: 12.3, H: 5.2},
				Header:    []string{"#", "Site", "Device", "Interface", "Speed", "Avg util", "P95 util", "Max util", fmt.Sprintf("Hours ≥ %s", FormatPct(d.Threshold, 0)), "Loss"},
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
		change := cellR("n/a")
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
	hasLast := d.Last.Windows > 0 || d.Last.LinkWins > 0 || last.Events > 0
	events := metric{label: "Remediation events", this: float64(r.Events), old: float64(last.Events),
		format: func(v float64) string { return fmt.Sprint(int(v)) }, unit: "", scale: 1, decimals: 0, higherBad: true, flatBelow: 0.5}
	if !hasLast {
		events.old = math.NaN()
	}
	auto := metric{label: "Resolved automatically", this: r.AutoShare(), old: last.AutoShare(),
		format: func(v float64) string { return FormatPct(v, 0) }, unit: "pp", scale: 100, decimals: 0, flatBelow: 0.5}
	mttr := func(x time.Duration) float64 {
		if x <= 0 {
			return math.NaN()
		}
		return x.Minutes()
	}
	mt := metric{label: "Mean time to resolve", this: mttr(r.MTTR), old: mttr(last.MTTR),
		format: func(v float64) string { return FormatDuration(time.Duration(v * float64(time.Minute))) }, unit: "min", scale: 1, decimals: 1, higherBad: true, flatBelow: 0.05}
	els := []deck.Element{
		events.tile(deck.Rect{X: 0.5, Y: 1.45, W: 3.95, H: 1.45}),
		auto.tile(deck.Rect{X: 4.67, Y: 1.45, W: 3.95, H: 1.45}),
		mt.tile(deck.Rect{X: 8.84, Y: 1.45, W: 3.95, H: 1.45}),
	}
	if r.Events == 0 {
		els = append(els, text(deck.Rect{X: 0.5, Y: 3.2, W: 12.3, H: 1}, 16,
			runs(deck.Run{Text: "No remediation events fired this week.", Color: deck.ColorGrey})))
		return deck.Slide{Title: "Remediation summary", Elements: els}
	}
	var rows [][]deck.Cell
	for i, rr := range r.Rules {
		if i == 8 {
			rows = append(rows, []deck.Cell{{Text: fmt.Sprintf("… %d more rules", len(r.Rules)-8)}})
			break
		}
		rows = append(rows, []deck.Cell{{Text: rr.Rule}, cellR(fmt.Sprint(rr.Events)), cellR(fmt.Sprint(rr.AutoResolved)),
			cellR(fmt.Sprint(rr.Escalated)), cellR(fmt.Sprint(rr.Failed + rr.Open)), cellR(FormatDuration(rr.MTTR))})
	}
	els = append(els, &deck.Table{Rect: deck.Rect{X: 0.5, Y: 3.15, W: 7.4, H: 3.5},
		Header:    []string{"Rule", "Events", "Auto-resolved", "Escalated", "Failed/open", "MTTR"},
		ColWidths: []float64{2.4, 0.9, 1.3, 1.1, 1.1, 0.9},
		ColAlign:  []deck.Align{deck.Left, deck.Right, deck.Right, deck.Right, deck.Right, deck.Right},
		Size:      11, Rows: rows})
	var cats []string
	var this, prev []float64
	for i := 0; i < 7; i++ {
		cats = append(cats, d.Start.AddDate(0, 0, i).Format("Mon 2"))
		this = append(this, float64(r.PerDay[i]))
		prev = append(prev, float64(last.PerDay[i]))
	}
	series := []deck.Series{{Name: "This week", Values: this, Color: deck.ColorBlue}}
	if hasLast {
		series = append(series, deck.Series{Name: "Last week", Values: prev, Color: "A6A6A6"})
	}
	els = append(els, &deck.Chart{Rect: deck.Rect{X: 8.1, Y: 3.05, W: 4.8, H: 3.7}, Kind: deck.Bar, Title: "Events fired per day",
		Categories: cats, Series: series, ValueFormat: "0"})
	return deck.Slide{Title: "Remediation summary", Elements: els}
}

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
	left := deck.Rect{X: 0.4, Y: 1.4, W: 6.2, H: 5.5}
	right := deck.Rect{X: 6.75, Y: 1.4, W: 6.2, H: 5.5}
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
		def("Congested", fmt.Sprintf("an interface-window at or above %s utilization; hours ≥ threshold sum those windows.", FormatPct(d.Threshold, 0))),
		def("Remediation", "events that fired during the week; auto-resolved = resolved without being acknowledged or escalated by a person; mean time to resolve = fired → resolved over resolved events."),
		def("Data coverage", "share of the week's hours with at least one interface KPI for the site; below 95% is flagged as partial."),
		def("Source", "ClickHouse tables interface_kpis, link_kpis, remediation_events and devices; timestamps UTC, shown in the report time zone. "+dedup(d)),
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
