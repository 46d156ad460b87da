package reports

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// fillBench writes two weeks (benchWeek and the week before) of KPIs for
// ifaces interfaces over 20 sites at one row per interface per window
// seconds, 380 site pairs, and a few hundred remediation events — server
// side (INSERT … SELECT FROM numbers), so the setup is quick.
func fillBench(b testing.TB, conn driver.Conn, db string, ifaces, window int) (rows uint64) {
	b.Helper()
	ctx := context.Background()
	from := sampleWeek.Prev().Start(time.UTC).Unix()
	windows := int(14 * 24 * 3600 / window)
	n := ifaces * windows
	// One statement per day, so none runs into the client's read timeout on a busy server.
	perDay := windows / 14
	exec := func(q string, rowsPerWindow int) {
		for day := 0; day < 14; day++ {
			src := fmt.Sprintf("(SELECT number + %d AS number FROM numbers(%d))", day*perDay*rowsPerWindow, perDay*rowsPerWindow)
			if err := conn.Exec(ctx, strings.Replace(q, "numbers(ALL)", src, 1)); err != nil {
				b.Fatal(err)
			}
		}
	}
	q := fmt.Sprintf(`INSERT INTO %[1]s.interface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, speed_bps, oper_status, window_s, samples, kpi_id)
		SELECT toDateTime(%[2]d + intDiv(number, %[3]d) * %[4]d) AS t,
			concat('site', toString(number %% %[3]d %% 20)) AS site,
			concat('leaf', toString(intDiv(number %% %[3]d, 20) %% 10)) AS device,
			concat('Ethernet', toString(intDiv(number %% %[3]d, 200))) AS interface,
			least(1, 0.05 + (number %% %[3]d %% 37) / 80 + 0.3 * (1 + sin((toHour(t) - 9) / 24 * 6.2832)) / 2 + (cityHash64(number) %% 100) / 1000) AS uin,
			uin * 0.8 AS uout,
			if(uin > 0.9, (uin - 0.9) / 50, 0) AS loss,
			toUInt64(10000000000) AS speed,
			if(cityHash64(number, 1) %% 5000 = 0, 'DOWN', 'UP') AS st,
			toUInt32(%[4]d) AS w, toUInt32(%[4]d / 10) AS s, '' AS id
		FROM numbers(ALL)`, db, from, ifaces, window)
	exec(q, ifaces)
	links := 380
	q = fmt.Sprintf(`INSERT INTO %[1]s.link_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p95_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id)
		SELECT toDateTime(%[2]d + intDiv(number, 380) * %[3]d) AS t,
			concat('site', toString(number %% 380 %% 20)) AS src,
			'leaf0' AS sd,
			concat('site', toString((number %% 380 %% 20 + 1 + intDiv(number %% 380, 20)) %% 20)) AS dst,
			'leaf0' AS dd,
			5 + (number %% 380) / 20 + (cityHash64(number) %% 100) / 50 AS rtt, rtt * 1.3 AS p95, 0.4 AS j,
			if(cityHash64(number, 2) %% 300 = 0, 0.01, 0) AS loss, toUInt64(100) AS ps, toUInt64(100 - loss * 100) AS pr,
			toUInt32(%[3]d) AS w, '' AS id
		FROM numbers(ALL)`, db, from, window)
	exec(q, links)
	q = fmt.Sprintf(`INSERT INTO %[1]s.remediation_events (ts, event_id, rule, state, severity, site, device, interface, kpi, value, threshold, fired_at, action, message)
		SELECT toDateTime(%[2]d + intDiv(number, 3) * 2000 + (number %% 3) * 300) AS t, concat('ev', toString(intDiv(number, 3))) AS id,
			concat('rule', toString(intDiv(number, 3) %% 7)) AS rule, ['firing', 'dispatched', 'resolved'][number %% 3 + 1] AS st, 'warning' AS sev,
			concat('site', toString(intDiv(number, 3) %% 20)) AS site, 'leaf0' AS d, 'Ethernet0' AS i, 'util' AS k, 0.95 AS v, 0.8 AS th,
			toDateTime(%[2]d + intDiv(number, 3) * 2000) AS f, 'rollout' AS a, '' AS m
		FROM numbers(%[3]d)`, db, from, 3*14*24*3600/2000)
	if err := conn.Exec(ctx, q); err != nil {
		b.Fatal(err)
	}
	return uint64(n + links*windows)
}

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkGenerateWeek1000Interfaces measures one deck (every ClickHouse
// query on the live server plus rendering) for a week of 1,000 interfaces.
// REPORT_BENCH_IFACES and REPORT_BENCH_WINDOW (seconds, default 60) change
// the size.
func BenchmarkGenerateWeek1000Interfaces(b *testing.B) {
	conn, db := testDB(b)
	ifaces, window := benchEnv("REPORT_BENCH_IFACES", 1000), benchEnv("REPORT_BENCH_WINDOW", 60)
	if keep := os.Getenv("REPORT_BENCH_DB"); keep != "" {
		// Reuse (and keep) a database filled by an earlier run.
		db = keep
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			migrate(b, conn, db)
			start := time.Now()
			rows := fillBench(b, conn, db, ifaces, window)
			b.Logf("setup: %d interfaces, %d s windows, %d rows over two weeks in %v", ifaces, window, rows, time.Since(start).Round(time.Millisecond))
		}
	} else {
		start := time.Now()
		rows := fillBench(b, conn, db, ifaces, window)
		b.Logf("setup: %d interfaces, %d s windows, %d rows over two weeks in %v", ifaces, window, rows, time.Since(start).Round(time.Millisecond))
	}
	c := newComponent(b, conn, db, func(cfg *Configuration) { cfg.Dedup = cmp.Or(os.Getenv("REPORT_BENCH_DEDUP"), DedupAuto) })
	// Sub-benchmark: the setup above runs once, the deck b.N times.
	b.Run("deck", func(b *testing.B) { benchDeck(b, c, ifaces) })
}

func benchDeck(b *testing.B, c *Component, ifaces int) {
	var size int
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		t0 := time.Now()
		d, err := c.Generate(context.Background(), sampleWeek, &buf)
		if err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
		if d.This.Interfaces != uint64(ifaces) {
			b.Fatalf("%d interfaces in the deck, want %d", d.This.Interfaces, ifaces)
		}
		b.Logf("deck %d: %v, %d bytes, %d interfaces, %d windows", i, time.Since(t0).Round(time.Millisecond), size, d.This.Interfaces, d.This.Windows)
	}
	b.ReportMetric(float64(size), "deck-bytes")
}
