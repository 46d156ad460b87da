package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/demo"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
)

// TestWasmEndToEndRealKafka runs the whole pipeline (simulator, collector,
// real Apache Kafka, processor, sink, ClickHouse) with two example modules
// built by the Go toolchain in collect.wasm — circuits (the committed rate
// of site1-sw1's Ethernet1 becomes its speed) then normalize (Ethernet<n>
// becomes eth<n>) — and errorbudget in process.wasm, and checks what
// landed in ClickHouse: every interface under its normalised name in the
// raw table and the KPIs, the circuit's speed on its port only.
func TestWasmEndToEndRealKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	cfg := testConfig(t, chAddr, "wasm")
	cfg.Simulate.Sites = 2
	cfg.Simulate.SwitchesPerSite = 1
	cfg.Simulate.InterfacesPerSwitch = 4
	const interval = 100 * time.Millisecond
	cfg.Collect.Subscriptions = sampleSubscription(interval)
	cfg.Collect.Wasm = []wasm.ModuleConfig{
		{Path: wasmtest.Build(t, "circuits"), Timeout: 5 * time.Second},
		{Path: wasmtest.Build(t, "normalize"), Timeout: 5 * time.Second},
	}
	cfg.Process.Wasm = []wasm.ModuleConfig{{Path: wasmtest.Build(t, "errorbudget"), Timeout: 5 * time.Second}}

	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var collected, burnt uint64
	if _, err := demo.Run(ctx, cfg, newLogger(&logs, slog.LevelWarn), demo.Options{
		Duration: 6 * time.Second, ClickHouse: chAddr, Kafka: brokers,
		Window: time.Second, SampleInterval: interval, ExactDrain: true,
		OnDrained: func(r *demo.Running) {
			for _, m := range r.Collector.WasmStats() {
				if m.Name == "normalize" {
					collected = m.Out
				}
				for reason, n := range m.Errors {
					if n > 0 {
						t.Errorf("collect module %s: %d calls failed (%s)", m.Name, n, reason)
					}
				}
			}
			for _, m := range r.Processor.WasmStats() {
				burnt = m.Out
				for reason, n := range m.Errors {
					if n > 0 {
						t.Errorf("process module %s: %d calls failed (%s)", m.Name, n, reason)
					}
				}
			}
		},
	}, &out); err != nil {
		t.Fatalf("run: %v\n%s\nlogs:\n%s", err, out.String(), logs.String())
	}
	if collected == 0 || burnt == 0 {
		t.Fatalf("the modules saw nothing: %d samples through normalize, %d KPIs through errorbudget\n%s", collected, burnt, out.String())
	}

	conn, err := openCH(ctx, cfg, chAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	db := cfg.ClickHouse.Database
	names, err := countBy(ctx, conn, "SELECT concat(device, '/', interface), count() FROM "+db+".interface_counters GROUP BY device, interface")
	if err != nil {
		t.Fatal(err)
	}
	kpis, err := countBy(ctx, conn, "SELECT concat(device, '/', interface), count() FROM "+db+".interface_kpis GROUP BY device, interface")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("interface_counters rows by interface: %v; interface_kpis: %v", names, kpis)
	for _, tbl := range []map[string]uint64{names, kpis} {
		for _, dev := range []string{"site1-sw1", "site2-sw1"} {
			for _, i := range []string{"eth1", "eth2", "eth3", "eth4"} {
				if tbl[dev+"/"+i] == 0 {
					t.Errorf("no rows for %s/%s", dev, i)
				}
			}
		}
		if len(tbl) != 8 {
			t.Errorf("rows for %d interfaces, want the 8 normalised ones: %v", len(tbl), tbl)
		}
	}
	speeds, err := countBy(ctx, conn, "SELECT concat(device, '/', interface, ' ', toString(speed_bps)), count() FROM "+db+".interface_kpis GROUP BY device, interface, speed_bps")
	if err != nil {
		t.Fatal(err)
	}
	for k := range speeds {
		circuit := k == "site1-sw1/eth1 2000000000"
		if (k[:len("site1-sw1/eth1 ")] == "site1-sw1/eth1 ") != circuit {
			t.Errorf("interface_kpis speeds %v: want site1-sw1/eth1 at the circuit's 2 Gb/s, and no other port at it", speeds)
			break
		}
	}
	if speeds["site1-sw1/eth1 2000000000"] == 0 {
		t.Errorf("interface_kpis speeds %v: site1-sw1/eth1 not at the circuit's 2 Gb/s", speeds)
	}
}
