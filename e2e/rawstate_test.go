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
	"github.com/meshtelemetry/telemetry/pipeline"
)

// TestRawCountersStateOnlySamples runs the default subscriptions (counters
// SAMPLE, oper-status/last-clear and speed ON_CHANGE, probes SAMPLE: one
// Subscribe stream per target) with a flapping interface, and checks the
// raw table interface_counters: no two rows with one key
// (site, device, interface, ts_ns), and no row without counter values.
//
// Known bug (sinks/clickhouse/rows.go, buffers.addSample, case
// *wirepb.Sample_Interface): the sink writes every interface sample to
// interface_counters, including the state-only samples of ON_CHANGE
// notifications (oper-status, last-clear, speed; no counters), as a row
// whose counters are all 0. When the simulator's SAMPLE group and ON_CHANGE
// group tick in the same wake-up (both every 100 ms) they share the device
// timestamp, so the state-only row has the key of the counters row: a
// duplicate key, and under FINAL the row inserted last (the state-only one,
// all zeros) replaces the real counters. Fix: skip interface samples
// without counters for interface_counters (or merge them into the counters
// row of the same key).
//
// Until fixed, the test skips with the evidence; TELEMETRY_E2E_KNOWN_BUGS=1
// makes it fail.
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
	if _, err := pipeline.Run(ctx, cfg, newLogger(&logs, slog.LevelWarn), pipeline.Options{
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
	if got["duplicate keys"] == 0 && got["rows without counters"] == 0 {
		return
	}
	msg := "interface_counters holds state-only samples as all-zero counter rows (%d rows, %d of them win under FINAL) and %d duplicate keys: " +
		"see the known bug in this test's doc (sinks/clickhouse/rows.go addSample)"
	if os.Getenv("TELEMETRY_E2E_KNOWN_BUGS") != "" {
		t.Fatalf(msg, got["rows without counters"], got["rows without counters (FINAL)"], got["duplicate keys"])
	}
	t.Skipf("known bug: "+msg, got["rows without counters"], got["rows without counters (FINAL)"], got["duplicate keys"])
}
