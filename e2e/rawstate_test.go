package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/demo"
)

// TestRawCountersStateOnlySamples runs the default subscriptions (counters
// SAMPLE, oper-status/last-clear and speed ON_CHANGE, probes SAMPLE: one
// Subscribe stream per target) with a flapping interface, and checks the
// raw table interface_counters: no two rows with one key
// (site, device, interface, ts_ns), no row without counter values, and the
// oper-status changes stored in interface_state.
//
// Regression test: the sink used to write the state-only samples of
// ON_CHANGE notifications to interface_counters as rows whose counters are
// all 0 (sinks/chsink/rows.go, buffers.addSample). The simulator's
// SAMPLE and ON_CHANGE groups tick in the same wake-up (both every 100 ms)
// and share the device timestamp, so such a row had the key of the counters
// row: a duplicate key, and under FINAL (or after a merge) the row inserted
// last, all zeros, replaced the real counters. Fixed in 966b95c: state-only
// samples go to interface_state.
func TestRawCountersStateOnlySamples(t *testing.T) {
	chAddr := testenv.ClickHouse(t)
	cfg := testConfig(t, chAddr, "rawstate")
	cfg.Simulate.Sites = 2
	cfg.Simulate.SwitchesPerSite = 1
	cfg.Simulate.InterfacesPerSwitch = 4
	scenario := filepath.Join(t.TempDir(), "flap.yaml")
	if err := os.WriteFile(scenario, []byte("faults:\n  - {type: flap, start: 1s, device: site1-sw1, interface: Ethernet2, period: 1s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if _, err := demo.Run(ctx, cfg, newLogger(&logs, slog.LevelWarn), demo.Options{
		Duration: 6 * time.Second, Scenario: scenario, ClickHouse: chAddr,
		Window: time.Second, SampleInterval: 100 * time.Millisecond, ExactDrain: true,
	}, &out); err != nil {
		t.Fatalf("run: %v\n%s\nlogs:\n%s", err, out.String(), logs.String())
	}

	conn, err := openCH(ctx, cfg, chAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	db := cfg.ClickHouse.Database
	got, err := countBy(ctx, conn, "SELECT 'duplicate keys', toUInt64(count() - uniqExact(site, device, interface, ts_ns)) FROM "+db+".interface_counters "+
		"UNION ALL SELECT 'rows without counters', count() FROM "+db+".interface_counters WHERE in_octets = 0 AND out_octets = 0 AND in_unicast_pkts = 0 AND out_unicast_pkts = 0 "+
		"UNION ALL SELECT 'rows without counters (FINAL)', count() FROM "+db+".interface_counters FINAL WHERE in_octets = 0 AND out_octets = 0 AND in_unicast_pkts = 0 AND out_unicast_pkts = 0 "+
		"UNION ALL SELECT 'rows', count() FROM "+db+".interface_counters")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("interface_counters: %v", got)
	if got["rows"] == 0 {
		t.Fatalf("no rows in interface_counters\n%s", out.String())
	}
	if got["duplicate keys"] != 0 || got["rows without counters"] != 0 {
		t.Errorf("interface_counters holds %d rows without counters (%d of them win under FINAL) and %d duplicate keys",
			got["rows without counters"], got["rows without counters (FINAL)"], got["duplicate keys"])
	}
	var state uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".interface_state WHERE device = 'site1-sw1' AND interface = 'Ethernet2'").Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state < 3 {
		t.Errorf("interface_state has %d rows for the flapping site1-sw1 Ethernet2, want its oper-status changes (≥ 3)", state)
	}
}
