package dashboards

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// benchFabric is 1,000 interfaces (10 sites × 10 devices × 10 interfaces)
// and 90 site-to-site links (one probe device per site), with 7 days of raw
// KPIs at the processor's default 10 s window.
func benchFabric(end time.Time) fabric {
	return fabric{sites: 10, devices: 10, ifaces: 10, end: end, span: 7 * 24 * time.Hour, step: 10}
}

// benchLoad fills the benchmark database as a week of the pipeline would:
//   - interface_kpis: 7 days at 10 s windows (60.5M rows), a day per
//     statement; the materialized views fill the 1-minute and 1-hour
//     rollups from them, as the sink's inserts do;
//   - link_kpis: the same for the 90 links (5.4M rows);
//   - pipeline KPIs, devices, events and dead letters (small).
func benchLoad(f fabric) []string {
	const day = 24 * time.Hour
	links := fabric{sites: f.sites, devices: 1, ifaces: 1, end: f.end}
	start := f.end.Add(-f.span)
	perDay := int(day.Seconds()) / f.step
	var stmts []string
	for d := start; d.Before(f.end); d = d.Add(day) {
		stmts = append(stmts, f.interfaceKPIs(d, perDay, f.step), links.linkKPIs(d, perDay, f.step))
	}
	return append(stmts, f.others(start, int(f.span.Seconds())/f.step, f.step)...)
}

// BenchmarkDashboardQueries times every ClickHouse query of each dashboard
// (variables and panels, run one after the other as a cold dashboard load
// would, results read in full as JSONCompact over HTTP) on the live server,
// for 15 min (raw KPIs), 1 h, 12 h, 24 h (1-minute and 1-hour rollups) and
// 7 d (1-hour rollups) ranges over 7 days of data (see benchLoad),
// with every template variable on "All" (1,000 interfaces).
//
//	go test ./dashboards -run '^$' -bench DashboardQueries -benchtime 5x
func BenchmarkDashboardQueries(b *testing.B) {
	for _, layout := range []string{"monthly", "daily"} {
		b.Run(layout, func(b *testing.B) { benchDashboards(b, layout) })
	}
}

// benchDashboards runs the benchmark on the old-server DDL with monthly
// partitions (as the contract says for 18.16) or daily ones.
func benchDashboards(b *testing.B, layout string) {
	l := newLiveWith(b, func(db string) []string {
		// The sink's own DDL for this server (monthly partitions on 18.16).
		ddl := schemaFor(chsink.LegacyCapabilities(), db)
		if layout == "daily" {
			for i, s := range ddl {
				ddl[i] = strings.ReplaceAll(s, "PARTITION BY toYYYYMM(ts)", "PARTITION BY toYYYYMMDD(ts)")
			}
		}
		return ddl
	})
	end := time.Now().UTC().Truncate(time.Minute)
	f := benchFabric(end)
	start := time.Now()
	mustRun(b, l, benchLoad(f))
	b.Logf("loaded sample data in %s", time.Since(start).Round(time.Millisecond))
	// Let the server finish merging what was just inserted, so the timings
	// are the queries', not the background merges'.
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		n, err := l.query("system", "SELECT count() FROM merges WHERE database = '"+l.db+"'")
		if err != nil || strings.TrimSpace(n) == "0" {
			break
		}
	}
	b.Logf("merges settled after %s", time.Since(start).Round(time.Millisecond))
	if rows, err := l.query(l.db, "SELECT concat(toString((SELECT count() FROM interface_kpis)), ' raw, ', toString((SELECT count() FROM interface_kpis_1m)), ' 1m, ', toString((SELECT count() FROM interface_kpis_1h)), ' 1h interface rows')"); err == nil {
		b.Logf("%s", strings.TrimSpace(rows))
	}
	vars := allSelected(f.values())
	ranges := testRanges(end)
	for _, d := range definitions() {
		qs := clickHouseQueries([]dashboardDef{d})
		for _, rn := range rangeOrder {
			stmts := make([]string, len(qs))
			for i, q := range qs {
				s, err := Expand(q.sql, ranges[rn], vars)
				if err != nil {
					b.Fatal(err)
				}
				stmts[i] = s + "\nFORMAT JSONCompact"
			}
			b.Run(d.uid+"/"+rn, func(b *testing.B) {
				qidPrefix := fmt.Sprintf("dashbench-%s-%s-%s-", l.db, d.uid, rn)
				var slowest, sum, wall time.Duration
				bestWall := time.Duration(1 << 62)
				slowName := ""
				n := 0
				for b.Loop() {
					n++
					// As Grafana loads a dashboard: variables first, then every
					// panel at once (at most 6 queries in flight, a browser's limit).
					t0 := time.Now()
					times := make([]time.Duration, len(stmts))
					errs := make([]error, len(stmts))
					sem := make(chan struct{}, 6)
					var wg sync.WaitGroup
					for i, s := range stmts {
						if !strings.Contains(qs[i].name, "/$") {
							continue
						}
						t1 := time.Now()
						errs[i] = l.drain(s, fmt.Sprintf("%s%d-%d", qidPrefix, n, i))
						times[i] = time.Since(t1)
					}
					for i, s := range stmts {
						if strings.Contains(qs[i].name, "/$") {
							continue
						}
						wg.Add(1)
						sem <- struct{}{}
						go func() {
							defer wg.Done()
							defer func() { <-sem }()
							t1 := time.Now()
							errs[i] = l.drain(s, fmt.Sprintf("%s%d-%d", qidPrefix, n, i))
							times[i] = time.Since(t1)
						}()
					}
					wg.Wait()
					w := time.Since(t0)
					wall += w
					bestWall = min(bestWall, w)
					for i, err := range errs {
						if err != nil {
							b.Fatalf("%s: %v", qs[i].name, err)
						}
						sum += times[i]
						if times[i] > slowest {
							slowest, slowName = times[i], qs[i].name
						}
					}
				}
				b.ReportMetric(float64(wall.Microseconds())/1000/float64(n), "dashboard-ms")
				b.ReportMetric(float64(bestWall.Microseconds())/1000, "best-dashboard-ms")
				b.ReportMetric(float64(sum.Microseconds())/1000/float64(n), "sum-ms")
				b.ReportMetric(float64(slowest.Microseconds())/1000, "slowest-ms")
				b.ReportMetric(float64(len(stmts)), "queries")
				// What the server read, from its query log: independent of
				// how busy the machine is.
				if _, err := l.query("system", "SYSTEM FLUSH LOGS"); err == nil {
					out, err := l.query("system", "SELECT sum(read_rows), sum(read_bytes) FROM query_log WHERE type = 2 AND query_id LIKE '"+qidPrefix+"%'")
					var rows, bytes float64
					if _, serr := fmt.Sscan(strings.TrimSpace(out), &rows, &bytes); err == nil && serr == nil && n > 0 {
						b.ReportMetric(rows/float64(n), "read-rows")
						b.ReportMetric(bytes/1e6/float64(n), "read-MB")
					}
				}
				b.Logf("slowest query: %s (%s)", slowName, slowest.Round(time.Millisecond))
			})
		}
	}
}

// drain runs a query (logged in system.query_log under queryID) and reads
// its whole answer.
func (l *liveCH) drain(sql, queryID string) error {
	u := "http://" + l.addr + "/?" + url.Values{"database": {l.db}, "query_id": {queryID}, "log_queries": {"1"}}.Encode()
	resp, err := http.Post(u, "text/plain", strings.NewReader(sql))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s", msg)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
