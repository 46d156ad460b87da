package reports

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/reports/internal/office"
	"github.com/meshtelemetry/telemetry/reports/internal/ooxmlcheck"
)

func newComponent(t testing.TB, conn driver.Conn, db string, mod func(*Configuration)) *Component {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.OutDir = t.TempDir()
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, Dependencies{Conn: conn, Database: db, Registerer: prometheus.NewRegistry(),
		Now: func() time.Time { return time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC) }})
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
	c := newComponent(t, conn, db, func(cfg *Configuration) { cfg.Scope = "Sample fabric (4 sites)" })
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
	if d.Remediation.Events != 15 || d.LastRemed.Events != 9 {
		t.Errorf("events %d/%d, want 15/9", d.Remediation.Events, d.LastRemed.Events)
	}
	if d.Remediation.MTTR <= 0 || d.Remediation.AutoResolved == 0 || d.Remediation.AutoResolved >= d.Remediation.Resolved {
		t.Errorf("remediation summary %+v", d.Remediation)
	}
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

// TestDeckOnMigratedSchema runs the report on the schema sinks/clickhouse
// creates, so the report's queries keep matching the real tables.
func TestDeckOnMigratedSchema(t *testing.T) {
	conn, db := migratedDB(t)
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
	for _, table := range []string{"interface_kpis", "link_kpis", "remediation_events", "devices"} {
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
