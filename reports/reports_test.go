package reports

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/reports/deck"
	"github.com/meshtelemetry/telemetry/reports/internal/office"
	"github.com/meshtelemetry/telemetry/reports/internal/ooxmlcheck"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

func newComponent(t testing.TB, conn driver.Conn, db string, mod func(*Configuration)) *Component {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.OutDir = t.TempDir()
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, Dependencies{Conn: conn, Database: db, Registerer: prometheus.NewRegistry(),
		Now: func() time.Time { return sampleNow }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// slideTexts returns the text runs of every slide, by slide number.
func slideTexts(t *testing.T, data []byte) map[int][]string {
	t.Helper()
	p, err := ooxmlcheck.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for name, b := range p.Parts {
		var n int
		if _, err := fmt.Sscanf(name, "ppt/slides/slide%d.xml", &n); err != nil || !strings.HasSuffix(name, ".xml") {
			continue
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		inT := false
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			switch tk := tok.(type) {
			case xml.StartElement:
				inT = tk.Name.Local == "t"
			case xml.EndElement:
				inT = false
			case xml.CharData:
				if inT {
					out[n] = append(out[n], string(tk))
				}
			}
		}
	}
	return out
}

// independent computes the summary straight from the raw rows, in Go.
type independent struct {
	avail, utilAvg, utilP95, loss, rttAvg, rttP95 float64
}

func quantileExact(v []float64, level float64) float64 {
	// ClickHouse's quantileExact: the element at floor(level × n) of the sorted values.
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(level*float64(len(s)))]
}

func queryIndependent(t *testing.T, conn driver.Conn, db string, w Week) independent {
	t.Helper()
	ctx := context.Background()
	from, to := w.Start(time.UTC), w.End(time.UTC)
	rows, err := conn.Query(ctx, "SELECT site, device, interface, ts, util_in, util_out, oper_status, window_s FROM "+db+".interface_kpis WHERE ts >= ? AND ts < ?", from, to)
	if err != nil {
		t.Fatal(err)
	}
	var utils []float64
	var up, total float64
	seen := map[string]bool{} // replayed rows count once
	for rows.Next() {
		var in, out float64
		var site, dev, ifc, st string
		var ts time.Time
		var win uint32
		if err := rows.Scan(&site, &dev, &ifc, &ts, &in, &out, &st, &win); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(site, "/", dev, "/", ifc, "@", ts.Unix())
		if seen[key] {
			continue
		}
		seen[key] = true
		utils = append(utils, math.Max(in, out))
		total += float64(win)
		if st == "UP" {
			up += float64(win)
		}
	}
	rows.Close()
	var r independent
	r.avail = up / total
	for _, u := range utils {
		r.utilAvg += u
	}
	r.utilAvg /= float64(len(utils))
	r.utilP95 = quantileExact(utils, 0.95)
	lrows, err := conn.Query(ctx, "SELECT rtt_ms, loss_ratio FROM "+db+".link_kpis WHERE ts >= ? AND ts < ?", from, to)
	if err != nil {
		t.Fatal(err)
	}
	var rtts []float64
	for lrows.Next() {
		var rtt, loss float64
		if err := lrows.Scan(&rtt, &loss); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, rtt)
		r.loss += loss
		r.rttAvg += rtt
	}
	lrows.Close()
	r.loss /= float64(len(rtts))
	r.rttAvg /= float64(len(rtts))
	r.rttP95 = quantileExact(rtts, 0.95)
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestDeckFromLiveClickHouse(t *testing.T) {
	conn, db := testDB(t)
	fillSample(t, conn, db)
	// A replayed batch: one day of fra's interface KPIs inserted again.
	// With report.dedup auto (the default) the deck finds them and counts them once.
	if err := conn.Exec(context.Background(), fmt.Sprintf("INSERT INTO %[1]s.interface_kpis SELECT * FROM %[1]s.interface_kpis WHERE site = 'fra' AND ts < toDateTime(%[2]d)",
		db, sampleWeek.Start(time.UTC).AddDate(0, 0, 1).Unix())); err != nil {
		t.Fatal(err)
	}
	c := newComponent(t, conn, db, func(cfg *Configuration) { cfg.Scope = sampleScope() })
	if got := c.LastFullWeek(); got != sampleWeek {
		t.Fatalf("default week %s, want %s", got, sampleWeek)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, FileName(sampleWeek))
	start := time.Now()
	d, err := c.WriteFile(context.Background(), sampleWeek, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated in %v", time.Since(start))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ooxmlcheck.Check(data); err != nil {
		t.Fatalf("invalid package:\n%v", err)
	}

	// The summary numbers equal the aggregates computed from the raw rows.
	for _, w := range []struct {
		name string
		s    Summary
		week Week
	}{{"this week", d.This, sampleWeek}, {"last week", d.Last, sampleWeek.Prev()}} {
		want := queryIndependent(t, conn, db, w.week)
		for _, m := range []struct {
			name      string
			got, want float64
		}{
			{"availability", w.s.Availability, want.avail}, {"avg util", w.s.UtilAvg, want.utilAvg}, {"p95 util", w.s.UtilP95, want.utilP95},
			{"loss", w.s.Loss, want.loss}, {"avg rtt", w.s.LatencyAvg, want.rttAvg}, {"p95 rtt", w.s.LatencyP95, want.rttP95},
		} {
			if !near(m.got, m.want) {
				t.Errorf("%s %s: deck %v, raw rows %v", w.name, m.name, m.got, m.want)
			}
		}
	}
	want := queryIndependent(t, conn, db, sampleWeek)
	last := queryIndependent(t, conn, db, sampleWeek.Prev())
	texts := slideTexts(t, data)
	summary := strings.Join(texts[2], "\n")
	for _, v := range []string{
		FormatPct(want.avail, 2), FormatPct(want.utilAvg, 1), FormatPct(want.utilP95, 1),
		FormatPct(want.loss, 3), FormatMs(want.rttAvg), FormatMs(want.rttP95),
		"(" + FormatPct(last.utilAvg, 1) + ")", "(" + FormatMs(last.rttAvg) + ")",
	} {
		if !strings.Contains(summary, v) {
			t.Errorf("summary slide lacks %q:\n%s", v, summary)
		}
	}
	// Arrows: utilization grew 8% between the weeks.
	if !strings.Contains(summary, "▲ +") {
		t.Errorf("summary slide has no up arrow:\n%s", summary)
	}

	// Honest about missing and partial sites.
	all := ""
	for _, ts := range texts {
		all += strings.Join(ts, "\n") + "\n"
	}
	for _, v := range []string{"Sites without any data this week: osl", "Partial data: lon", "no data this week", "fra-leaf1", "fra", "lon",
		// The data holds a replayed batch: dedup auto must find it and read with FINAL.
		"Rows deduplicated exactly (FINAL): replayed rows were not merged yet."} {
		if !strings.Contains(all, v) {
			t.Errorf("deck lacks %q", v)
		}
	}
	// The title slide's scope and site count agree, both from the data.
	title := strings.Join(texts[1], "")
	wantSites := fmt.Sprintf("%d sites (1 without data)", len(sampleInventory))
	if !strings.Contains(title, sampleScope()+" — ") || !strings.Contains(title, wantSites) || len(d.Sites) != len(sampleInventory) {
		t.Errorf("title slide says %q; want the scope %q and %q (%d sites in the deck)", title, sampleScope(), wantSites, len(d.Sites))
	}

	// Remediation: the figures of the lifecycles the pipeline recorded.
	evs := sampleEvents()
	thisW, lastW := expectRemediation(evs[1], sampleWeek), expectRemediation(evs[0], sampleWeek.Prev())
	if d.Remediation.Events != 15 || d.LastRemed.Events != 9 {
		t.Errorf("events %d/%d, want 15/9", d.Remediation.Events, d.LastRemed.Events)
	}
	checkRemediation(t, texts, thisW, lastW, true)
	if len(d.Congested) != 10 || d.Congested[0].Site != "fra" || d.Congested[0].Device != "fra-leaf1" || d.Congested[0].Interface != "Ethernet1" {
		t.Errorf("top congested: %+v", d.Congested)
	}
	if len(d.Links) == 0 || d.Links[0].SrcSite != "fra" || d.Links[0].DstSite != "lon" {
		t.Errorf("worst link: %+v", d.Links)
	}

	// LibreOffice renders one page per slide.
	pdf := office.ToPDF(t, path, dir)
	if n := office.Pages(t, pdf); n != len(texts) || n != 8 {
		t.Errorf("PDF has %d pages, deck %d slides, want 8", n, len(texts))
	}
	if out := os.Getenv("REPORT_PNG_DIR"); out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		files := office.PNGs(t, pdf, filepath.Join(out, "slide"), 1600)
		t.Logf("rendered %d slides into %s", len(files), out)
		if err := os.WriteFile(filepath.Join(out, "sample.pptx"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeckOnMigratedSchema runs the report on the schema sinks/chsink's
// Migrate creates (as every test of the package does, see testDB) and
// checks its figures against the raw rows.
func TestDeckOnMigratedSchema(t *testing.T) {
	conn, db := testDB(t)
	fillSample(t, conn, db)
	c := newComponent(t, conn, db, nil)
	var buf bytes.Buffer
	d, err := c.Generate(context.Background(), sampleWeek, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := ooxmlcheck.Check(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	want := queryIndependent(t, conn, db, sampleWeek)
	if !near(d.This.UtilP95, want.utilP95) || !near(d.This.Availability, want.avail) || !near(d.This.LatencyP95, want.rttP95) {
		t.Errorf("summary %+v, raw rows %+v", d.This, want)
	}
	if d.Remediation.Events != 15 || len(d.Sites) != 5 {
		t.Errorf("events %d sites %d", d.Remediation.Events, len(d.Sites))
	}
}

func TestEmptyWeekIsHonest(t *testing.T) {
	conn, db := testDB(t)
	c := newComponent(t, conn, db, func(cfg *Configuration) { cfg.ExpectedSites = []string{"fra", "par"} })
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.pptx")
	d, err := c.WriteFile(context.Background(), sampleWeek, path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if err := ooxmlcheck.Check(data); err != nil {
		t.Fatalf("invalid package:\n%v", err)
	}
	texts := slideTexts(t, data)
	if len(texts) != 8 {
		t.Errorf("%d slides, want 8", len(texts))
	}
	all := ""
	for i := 1; i <= len(texts); i++ {
		all += strings.Join(texts[i], "\n") + "\n"
	}
	for _, v := range []string{"No KPI data was recorded for this week", "No data for the previous week", "Sites without any data this week: fra, par",
		"no data this week", "No remediation events fired this week.", "n/a"} {
		if !strings.Contains(all, v) {
			t.Errorf("empty deck lacks %q", v)
		}
	}
	if len(d.Sites) != 2 || !d.Sites[0].Missing {
		t.Errorf("sites %+v", d.Sites)
	}
	pdf := office.ToPDF(t, path, dir)
	if n := office.Pages(t, pdf); n != 8 {
		t.Errorf("PDF has %d pages, want 8", n)
	}
}

// TestDedupAutoReadsPlainWhenMerged: once ClickHouse has merged a replayed
// batch away, dedup auto reads without FINAL and gives the same figures as
// FINAL does.
func TestDedupAutoReadsPlainWhenMerged(t *testing.T) {
	conn, db := testDB(t)
	fillSample(t, conn, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %[1]s.interface_kpis SELECT * FROM %[1]s.interface_kpis WHERE site = 'fra' AND ts < toDateTime(%[2]d)",
		db, sampleWeek.Start(time.UTC).AddDate(0, 0, 1).Unix())); err != nil {
		t.Fatal(err)
	}
	final := newComponent(t, conn, db, func(cfg *Configuration) { cfg.Dedup = DedupFinal })
	want, err := final.Collect(ctx, sampleWeek)
	if err != nil {
		t.Fatal(err)
	}
	auto := newComponent(t, conn, db, nil)
	before, err := auto.Collect(ctx, sampleWeek)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Final {
		t.Fatal("dedup auto read without FINAL although a replayed batch is not merged")
	}
	for _, table := range []string{schema.InterfaceKPIs, schema.LinkKPIs, schema.RemediationEvents, schema.Devices} {
		if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s FINAL", db, table)); err != nil {
			t.Fatal(err)
		}
	}
	after, err := auto.Collect(ctx, sampleWeek)
	if err != nil {
		t.Fatal(err)
	}
	if after.Final {
		t.Fatal("dedup auto read with FINAL although every table is merged")
	}
	if after.This.Interfaces != want.This.Interfaces || after.This.Windows != want.This.Windows ||
		math.Abs(after.This.UtilAvg-want.This.UtilAvg) > 1e-9 || math.Abs(after.This.UtilP95-want.This.UtilP95) > 1e-9 ||
		math.Abs(after.This.Loss-want.This.Loss) > 1e-12 || math.Abs(after.This.LatencyAvg-want.This.LatencyAvg) > 1e-9 {
		t.Fatalf("plain read after merge %+v differs from FINAL %+v", after.This, want.This)
	}
}

// slideWith returns the texts of the first slide whose title starts with title.
func slideWith(t *testing.T, texts map[int][]string, title string) []string {
	t.Helper()
	for i := 1; i <= len(texts); i++ {
		if len(texts[i]) > 0 && strings.HasPrefix(texts[i][0], title) {
			return texts[i]
		}
	}
	t.Fatalf("no slide titled %q", title)
	return nil
}

// remediationWant is what the deck must say about a week's events,
// computed from the lifecycles written into ClickHouse.
type remediationWant struct {
	events, auto, noAction, escalated, failedOpen int
	mttr                                          time.Duration
	rules                                         map[string][]int // events, auto, no action, escalated, failed/open
	ruleMTTR                                      map[string]time.Duration
	ruleOrder                                     []string
}

func expectRemediation(evs []sampleEvent, w Week) remediationWant {
	end := w.End(time.UTC)
	r := remediationWant{rules: map[string][]int{}, ruleMTTR: map[string]time.Duration{}}
	var ttr time.Duration
	resolved := 0
	ruleRes := map[string]int{}
	for _, e := range evs {
		if r.rules[e.rule] == nil {
			r.rules[e.rule] = make([]int, 5)
			r.ruleOrder = append(r.ruleOrder, e.rule)
		}
		row := r.rules[e.rule]
		r.events++
		row[0]++
		switch e.lc.want {
		case OutcomeAutoResolved:
			r.auto++
			row[1]++
		case OutcomeNoAction:
			r.noAction++
			row[2]++
		case OutcomeEscalated:
			r.escalated++
			row[3]++
		default:
			r.failedOpen++
			row[4]++
		}
		if e.resolvedBy(end) {
			ttr += e.lc.ttr
			resolved++
			r.ruleMTTR[e.rule] += e.lc.ttr
			ruleRes[e.rule]++
		}
	}
	if resolved > 0 {
		r.mttr = ttr / time.Duration(resolved)
	}
	for rule, n := range ruleRes {
		r.ruleMTTR[rule] /= time.Duration(n)
	}
	return r
}

// inUnit writes d in the unit a whole column of values up to largest is
// shown in: seconds below a minute, minutes below an hour, else hours.
func inUnit(d, largest time.Duration) string {
	switch {
	case largest < time.Minute:
		return fmt.Sprintf("%d s", int(math.Round(d.Seconds())))
	case largest < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	case d > 0 && d < 3*time.Minute: // rounds to 0.0 h: shown as less than 0.1 h
		return "< 0.1 h"
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

func pct(n, of int) string { return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of)) }

// checkRemediation reads the remediation figures back from the deck's
// summary and remediation slides.
func checkRemediation(t *testing.T, texts map[int][]string, this, last remediationWant, hasLast bool) {
	t.Helper()
	if this.events != this.auto+this.noAction+this.escalated+this.failedOpen {
		t.Fatalf("test data: outcomes do not add up: %+v", this)
	}
	summary := strings.Join(slideWith(t, texts, "Executive summary"), "\n")
	vsLast := "no comparison (no data last week)"
	if hasLast {
		vsLast = fmt.Sprintf("vs last week (%d)", last.events)
	}
	for _, want := range []string{
		fmt.Sprintf("%d remediation events, ", this.events), vsLast,
		fmt.Sprintf("Of these, %d resolved automatically (%s), ", this.auto, pct(this.auto, this.events)),
		fmt.Sprintf(", %d recovered without an action, ", this.noAction),
		fmt.Sprintf(", %d escalated to people, ", this.escalated),
		fmt.Sprintf(", %d failed or still open at the week's end; ", this.failedOpen),
		"mean time to resolve " + inUnit(this.mttr, this.mttr) + ".",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary slide lacks %q:\n%s", want, summary)
		}
	}
	rem := slideWith(t, texts, "Remediation summary")
	all := strings.Join(rem, "\n")
	tiles := []string{"Remediation events\n" + fmt.Sprint(this.events), "Resolved automatically\n" + pct(this.auto, this.events),
		"Mean time to resolve\n" + inUnit(this.mttr, this.mttr)}
	if hasLast {
		tiles = append(tiles, "vs last week ("+pct(last.auto, last.events)+")", "vs last week ("+inUnit(last.mttr, last.mttr)+")")
	} else {
		if n := strings.Count(all, "no comparison (no data last week)"); n != 3 {
			t.Errorf("remediation slide says %d times \"no comparison (no data last week)\", want 3 (one per tile):\n%s", n, all)
		}
	}
	for _, want := range tiles {
		if !strings.Contains(all, want) {
			t.Errorf("remediation slide lacks %q:\n%s", want, all)
		}
	}
	// The per-rule table, cell by cell; the MTTR column in one unit.
	var largest time.Duration
	for _, d := range this.ruleMTTR {
		largest = max(largest, d)
	}
	for _, rule := range this.ruleOrder {
		i := slices.Index(rem, rule)
		if i < 0 || i+6 >= len(rem) {
			t.Errorf("remediation table has no row %q:\n%s", rule, all)
			continue
		}
		want := []string{}
		for _, n := range this.rules[rule] {
			want = append(want, fmt.Sprint(n))
		}
		mttr := "n/a"
		if d, ok := this.ruleMTTR[rule]; ok {
			mttr = inUnit(d, largest)
		}
		want = append(want, mttr)
		if got := rem[i+1 : i+7]; !slices.Equal(got, want) {
			t.Errorf("rule %s: row %q, want %q (events, auto-resolved, recovered no action, escalated, failed/open, MTTR)", rule, got, want)
		}
	}
}

// TestSparseWeekTellsTheTruth: a week whose data is one hour of KPIs and a
// set of remediation events with every lifecycle the pipeline records, and
// nothing the week before. The deck, read back from the .pptx, counts an
// event resolved automatically only when the KPI recovered after a webhook
// action with no escalation (acknowledged is the webhook's 2xx, not a
// person); says "no comparison (no data last week)" wherever it compares;
// shows 90 s of congestion as 1.5 min with one unit per column; and marks
// the single point of each trend series so LibreOffice draws it.
func TestSparseWeekTellsTheTruth(t *testing.T) {
	conn, db := testDB(t)
	ctx := context.Background()
	hour := sampleWeek.Start(time.UTC).AddDate(0, 0, 2).Add(10 * time.Hour) // Wednesday 10:00
	// 30 s windows: Ethernet1 90 s at or above 80 %, Ethernet2 30 s, Ethernet3 none.
	ib, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".interface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, speed_bps, oper_status, window_s, samples, kpi_id)")
	if err != nil {
		t.Fatal(err)
	}
	for ifc, utils := range map[string][]float64{"Ethernet1": {0.9, 0.92, 0.85, 0.5, 0.4}, "Ethernet2": {0.82, 0.3, 0.3}, "Ethernet3": {0.5, 0.5}} {
		for k, u := range utils {
			ts := hour.Add(time.Duration(30*k) * time.Second)
			if err := ib.Append(ts, "fra", "fra-leaf1", ifc, u, u*0.5, 0.0, uint64(10e9), "UP", uint32(30), uint32(3), fmt.Sprint(ifc, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ib.Send(); err != nil {
		t.Fatal(err)
	}
	lb, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".link_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p95_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id)")
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.Append(hour, "fra", "fra-leaf1", "lon", "lon-leaf1", 12.5, 14.0, 0.4, 0.0, uint64(30), uint64(30), uint32(30), "l1"); err != nil {
		t.Fatal(err)
	}
	if err := lb.Send(); err != nil {
		t.Fatal(err)
	}
	// Events: one rule per lifecycle, so each table row tells one story.
	var evs []sampleEvent
	for i, e := range []struct {
		rule string
		lc   lifecycle
		n    int
	}{{"webhook-fixes", lcAuto, 3}, {"people-fix", lcHuman, 2}, {"recovers-alone", lcNoAction, 2}, {"webhook-fails", lcFailed, 1},
		{"still-open", lcOpen, 1}, {"late-resolve", lcLate, 1}} {
		for k := 0; k < e.n; k++ {
			fired := sampleWeek.Start(time.UTC).Add(time.Duration(i*24+k*3+1) * time.Hour)
			if e.lc.name == lcLate.name {
				fired = sampleWeek.End(time.UTC).Add(-20 * time.Minute)
			}
			evs = append(evs, sampleEvent{id: fmt.Sprintf("%s-%d", e.rule, k), rule: e.rule, site: "fra", fired: fired, lc: e.lc})
		}
	}
	// A switch that stopped answering for 4 min, and another for 40 s.
	wed := sampleWeek.Start(time.UTC).AddDate(0, 0, 2)
	evs = append(evs, sampleEvent{id: "unreachable-0", rule: "device-unreachable", site: "fra", device: "fra-spine1", fired: wed, lc: lcNoAction},
		sampleEvent{id: "unreachable-1", rule: "device-unreachable", site: "lon", device: "lon-leaf2", fired: wed.Add(time.Hour),
			lc: lifecycle{"short", lcNoAction.states, "", 40 * time.Second, OutcomeNoAction}})
	insertEvents(t, conn, db, evs)

	c := newComponent(t, conn, db, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "sparse.pptx")
	if _, err := c.WriteFile(ctx, sampleWeek, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ooxmlcheck.Check(data); err != nil {
		t.Fatalf("invalid package:\n%v", err)
	}
	texts := slideTexts(t, data)
	want := expectRemediation(evs, sampleWeek)
	if want.auto != 3 || want.failedOpen != 3 {
		t.Fatalf("test data: %+v", want)
	}
	checkRemediation(t, texts, want, remediationWant{}, false)

	// No comparison anywhere, in the same words.
	all := ""
	for i := 1; i <= len(texts); i++ {
		all += strings.Join(texts[i], "\n") + "\n"
	}
	if strings.Contains(all, "vs last week (") { // a change: "+6 vs last week (9)", "unchanged vs last week (9)"
		t.Errorf("the deck compares with a week without data:\n%s", all)
	}
	summary := strings.Join(slideWith(t, texts, "Executive summary"), "\n")
	// 6 tiles and the events key point.
	if n := strings.Count(summary, "no comparison (no data last week)"); n != 7 {
		t.Errorf("summary slide says \"no comparison (no data last week)\" %d times, want 7:\n%s", n, summary)
	}
	links := strings.Join(slideWith(t, texts, "Worst 1 site-to-site links"), "\n")
	if !strings.Contains(links, "no comparison (no data last week)") {
		t.Errorf("links slide:\n%s", links)
	}

	// Device reachability: a key point of its own.
	if want := "Devices unreachable: 2 events on 2 devices, 4.7 min in all; longest fra/fra-spine1 (4.0 min)."; !strings.Contains(summary, want) {
		t.Errorf("summary slide lacks %q:\n%s", want, summary)
	}

	// Congestion: minutes below an hour, one unit per column.
	if !strings.Contains(summary, "fra/fra-leaf1 Ethernet1, p95 utilization 92.0% (1.5 min at or above 80%)") {
		t.Errorf("summary slide does not give Ethernet1's 90 s above 80%% as 1.5 min:\n%s", summary)
	}
	cong := slideWith(t, texts, "Top 3 congested interfaces")
	for ifc, want := range map[string]string{"Ethernet1": "1.5 min", "Ethernet2": "0.5 min", "Ethernet3": "0.0 min"} {
		i := slices.Index(cong, ifc)
		if i < 0 || i+6 >= len(cong) || cong[i+5] != want {
			t.Errorf("congested table, %s: time at or above 80%% is not %q: %q", ifc, want, cong[max(i, 0):min(max(i, 0)+7, len(cong))])
		}
	}

	// Trends: every series of one point carries a marker.
	p, _ := ooxmlcheck.Open(data)
	var charts []string
	for name := range p.Parts {
		if strings.HasPrefix(name, "ppt/charts/chart") && strings.HasSuffix(name, ".xml") && strings.Contains(string(p.Parts[name]), "<c:lineChart>") {
			charts = append(charts, name)
		}
	}
	if len(charts) != 2 {
		t.Fatalf("%d line charts, want 2 (utilization, RTT)", len(charts))
	}
	for _, name := range charts {
		x := string(p.Parts[name])
		ser, marked := strings.Count(x, "<c:ser>"), strings.Count(x, `<c:marker><c:symbol val="circle"/>`)
		if ser == 0 || marked != ser {
			t.Errorf("%s: %d series, %d with markers; want every single-point series marked", name, ser, marked)
		}
		// Each series' values: one point, at Wednesday 10:00 (hour 58).
		for _, vals := range strings.Split(x, "<c:numCache>")[1:] {
			vals, _, _ = strings.Cut(vals, "</c:numCache>")
			if strings.Count(vals, "<c:pt ") != 1 || !strings.Contains(vals, `<c:pt idx="58">`) {
				t.Errorf("%s: series values %s, want one point at hour 58", name, vals)
			}
		}
	}
	// LibreOffice draws them: the series' colour in the upper half of each
	// trend chart, where only the points can be.
	pdf := office.ToPDF(t, path, dir)
	if n := office.Pages(t, pdf); n != len(texts) {
		t.Errorf("PDF has %d pages, deck %d slides", n, len(texts))
	}
	pngs := office.PNGs(t, pdf, filepath.Join(dir, "page"), 1280)
	sort.Strings(pngs)
	trend := -1
	for i := 1; i <= len(texts); i++ {
		if len(texts[i]) > 0 && texts[i][0] == "Trends over the week" {
			trend = i
		}
	}
	if trend < 1 || trend > len(pngs) {
		t.Fatalf("trend slide %d of %d rendered pages", trend, len(pngs))
	}
	for _, r := range []deck.Rect{trendLeft, trendRight} {
		if n := office.ColourPixels(t, pngs[trend-1], deck.Rect{X: r.X, Y: r.Y, W: r.W, H: r.H / 2}, deck.ColorBlue); n < 20 {
			t.Errorf("trend chart at %+v: %d pixels of the series colour in its upper half, want a visible point", r, n)
		}
	}
}
