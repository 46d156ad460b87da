package chsink

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// deviceKPIQueries read back what genDeviceKPIs wrote (twice: a replay).
func deviceKPIQueries(db string) []struct{ sql, want string } {
	return []struct{ sql, want string }{
		{"SELECT count(), sum(reachable), round(avg(up_ratio), 4), sum(samples), min(window_s), max(window_s) FROM " + db + ".device_kpis FINAL",
			"6\t4\t0.7083\t3\t10\t10"},
		{"SELECT reachable, state, last_error, up_ratio FROM " + db + ".device_kpis FINAL WHERE ts = (SELECT min(ts) FROM " + db + ".device_kpis) + 30",
			"0\tdown\tconnection refused\t0.25"},
		{"SELECT countIf(reachable = 0), anyIf(state, reachable = 1), uniqExact(kpi_id) FROM " + db + ".device_kpis FINAL WHERE site = 'site0' AND device = 'dev0'",
			"2\tup\t6"},
	}
}

// TestDeviceKPIsLive: device KPIs land in device_kpis on the live server
// (the legacy dialect), a replay adds no row, the values read back.
func TestDeviceKPIsLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := Migrate(ctx, conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	b := newBuffers(cfg.Database)
	for _, k := range genDeviceKPIs(6) {
		b.addKPI(k)
	}
	tb := b.byName[schema.DeviceKPIs]
	if tb.rows != 6 {
		t.Fatalf("%d device_kpis rows buffered, want 6", tb.rows)
	}
	for pass := 0; pass < 2; pass++ {
		if err := tb.send(ctx, conn); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range deviceKPIQueries(cfg.Database) {
		if got := httpTSV(t, q.sql); got != q.want {
			t.Errorf("%s\n got %q\nwant %q", q.sql, got, q.want)
		}
	}
}

// httpTSV runs a query on the live server over HTTP and returns its
// tab-separated result, as chdb_exec.py gives it.
func httpTSV(t *testing.T, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+testenv.ClickHouseHTTP(t)+"/", strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", sql, b)
	}
	return strings.TrimSpace(string(b))
}

// TestDeviceKPIsCHDB is the same on modern ClickHouse (chdb), with the
// modern column types.
func TestDeviceKPIsCHDB(t *testing.T) {
	cfg := DefaultConfiguration()
	stmts := SchemaStatements(ModernCapabilities(), cfg)
	b := newBuffers(cfg.Database)
	for _, k := range genDeviceKPIs(6) {
		b.addKPI(k)
	}
	ins := valuesSQL(b.byName[schema.DeviceKPIs])
	stmts = append(stmts, ins, ins)
	qs := deviceKPIQueries(cfg.Database)
	qs = append(qs, struct{ sql, want string }{
		"SELECT type FROM system.columns WHERE database = 'telemetry' AND table = 'device_kpis' AND name IN ('reachable', 'state') ORDER BY name",
		"UInt8\nLowCardinality(String)"})
	base := len(stmts)
	for _, q := range qs {
		stmts = append(stmts, q.sql)
	}
	res := runCHDB(t, stmts)
	for i, q := range qs {
		if got := strings.TrimSpace(res[base+i].Output); got != q.want {
			t.Errorf("%s\n got %q\nwant %q", q.sql, got, q.want)
		}
	}
}
