package chsink

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

type chdbResult struct {
	SQL    string `json:"sql"`
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	Error  string `json:"error"`
}

// runCHDB runs statements in one chdb session through testdata/chdb_exec.py.
func runCHDB(t *testing.T, stmts []string) []chdbResult {
	t.Helper()
	py := testenv.CHDB(t)
	in, _ := json.Marshal(stmts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/chdb_exec.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res []chdbResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("chdb_exec.py: %v (%v)\nstderr: %s", jerr, err, stderr.String())
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("chdb: %s\n-- in --\n%s", r.Error, r.SQL)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return res
}

// TestModernSchemaCHDB renders the modern schema, inserts the sink's own
// rows twice (a replay), and runs the queries dashboards and reports use,
// on chdb (ClickHouse 25/26 in process).
func TestModernSchemaCHDB(t *testing.T) {
	cfg := DefaultConfiguration()
	caps := ModernCapabilities()
	stmts := SchemaStatements(caps, cfg)
	b := fillBuffers(t, cfg.Database)
	var inserts []string
	for _, tb := range b.order {
		if tb.rows > 0 {
			inserts = append(inserts, valuesSQL(tb))
		}
	}
	stmts = append(stmts, inserts...)
	stmts = append(stmts, inserts...) // replayed batch
	queries := []struct{ sql, want string }{
		{"SELECT version()", ""},
		// Exact answers before merges: FINAL on the base tables.
		{"SELECT count() FROM telemetry.interface_kpis FINAL", "240"},
		{"SELECT count() FROM telemetry.interface_kpis", "480"},
		{"SELECT count(), round(avg(util_in), 4) FROM telemetry.interface_kpis FINAL WHERE site = 'site0' AND device = 'dev0' AND interface = 'eth1'", "15\t0.4633"},
		{"SELECT count() FROM telemetry.link_kpis FINAL", "40"},
		{"SELECT instance, delay_p99_ms FROM telemetry.pipeline_kpis FINAL", "p1\t50"},
		{"SELECT count(), sum(in_octets), toUnixTimestamp64Nano(any(ts)) - any(ts_ns) FROM telemetry.interface_counters FINAL", "1\t1000\t0"},
		{"SELECT loss_ratio, probes_received FROM telemetry.probe_results FINAL", "0.02\t98"},
		// argMax alternative to FINAL.
		{"SELECT argMax(state, ts) FROM telemetry.remediation_events GROUP BY event_id", "resolved"},
		{"SELECT state, severity FROM telemetry.remediation_events FINAL ORDER BY ts DESC LIMIT 1", "resolved\tcritical"},
		{"SELECT site, device, state, first_seen, last_seen, last_error FROM telemetry.devices FINAL", "site0\tdev0\tdown\t" + genStart.Format("2006-01-02 15:04:05.000") + "\t" + genStart.Add(time.Hour).Format("2006-01-02 15:04:05.000") + "\tEOF"},
		{"SELECT count(), any(source_offset) FROM telemetry.deadletters FINAL", "1\t42"},
		// Rollups: the same average as the base table (the replay doubled
		// every row uniformly here; in general it can skew a rollup's avg).
		{"SELECT count() FROM (SELECT ts FROM telemetry.interface_kpis_1m GROUP BY site, device, interface, ts)", "16"},
		{"SELECT round(avgMerge(util_in_avg), 4), maxMerge(util_in_max), maxMerge(speed_bps) FROM telemetry.interface_kpis_1m WHERE site = 'site0' AND device = 'dev0' AND interface = 'eth1'", "0.4633\t0.97\t10000000000"},
		{"SELECT toStartOfHour(ts) AS h, round(avgMerge(util_out_avg), 2), round(maxMerge(loss_ratio_max), 3) FROM telemetry.interface_kpis_1h GROUP BY h", genStart.Format(time.DateTime) + "\t0.25\t0.002"},
		{"SELECT dst_site, round(avgMerge(rtt_ms_avg), 2), maxMerge(rtt_p95_ms_max) FROM telemetry.link_kpis_1m WHERE dst_site = 'site2' GROUP BY dst_site", "site2\t11\t20"},
		{"SELECT count() FROM telemetry.link_kpis_1h", ""},
		// Column types: DateTime64, LowCardinality, codecs.
		{"SELECT type, compression_codec FROM system.columns WHERE database = 'telemetry' AND table = 'interface_kpis' AND name = 'ts'", "DateTime64(3, \\'UTC\\')\tCODEC(DoubleDelta, ZSTD(1))"},
		{"SELECT type FROM system.columns WHERE database = 'telemetry' AND table = 'interface_counters' AND name = 'ts'", "DateTime64(9, \\'UTC\\')"},
		{"SELECT type FROM system.columns WHERE database = 'telemetry' AND table = 'interface_kpis' AND name = 'site'", "LowCardinality(String)"},
		{"SELECT create_table_query FROM system.tables WHERE database = 'telemetry' AND name = 'interface_kpis'", ""},
		{"SELECT create_table_query FROM system.tables WHERE database = 'telemetry' AND name = 'interface_kpis_1h'", ""},
		// The check-then-apply TTL step's ALTER.
		{"ALTER TABLE telemetry.interface_kpis MODIFY TTL toDateTime(ts) + toIntervalDay(10)", ""},
		{"SELECT create_table_query FROM system.tables WHERE database = 'telemetry' AND name = 'interface_kpis'", ""},
		// Replay made duplicates until merged; OPTIMIZE FINAL collapses them.
		{"OPTIMIZE TABLE telemetry.interface_kpis FINAL", ""},
		{"SELECT count() FROM telemetry.interface_kpis", "240"},
	}
	base := len(stmts)
	for _, q := range queries {
		stmts = append(stmts, q.sql)
	}
	res := runCHDB(t, stmts)
	t.Logf("chdb %s", strings.TrimSpace(res[base].Output))
	for i, q := range queries {
		got := strings.TrimSpace(res[base+i].Output)
		if q.want != "" && got != q.want {
			t.Errorf("%s\n got %q\nwant %q", q.sql, got, q.want)
		}
	}
	ttl := func(i int) string { return strings.TrimSpace(res[base+i].Output) }
	if m := ttlRe.FindStringSubmatch(ttl(20)); m == nil || m[1] != "30" {
		t.Errorf("TTL of interface_kpis not found by ensureTTL's pattern in %q", ttl(20))
	}
	if m := ttlRe.FindStringSubmatch(ttl(21)); m == nil || m[1] != "400" {
		t.Errorf("TTL of interface_kpis_1h not found in %q", ttl(21))
	}
	if m := ttlRe.FindStringSubmatch(ttl(23)); m == nil || m[1] != "10" {
		t.Errorf("modified TTL not found in %q", ttl(23))
	}
}
