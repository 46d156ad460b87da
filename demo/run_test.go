package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// TestDemoAgainstRealServices runs the demo pipeline for a few seconds
// against the real Kafka broker and the live ClickHouse server, and finds
// rows in telemetry's interface_kpis.
func TestDemoAgainstRealServices(t *testing.T) {
	brokers := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)

	suffix := fmt.Sprintf("%x", rand.Uint64())
	a := struct{ cfg pipeline.Config }{cfg: pipeline.DefaultConfig()}
	a.cfg.HTTP.Listen = "127.0.0.1:0"
	a.cfg.Kafka.Topics.Samples += ".demotest." + suffix
	a.cfg.Kafka.Topics.KPIs += ".demotest." + suffix
	a.cfg.Kafka.Topics.Remediations += ".demotest." + suffix
	a.cfg.Kafka.Topics.DeadLetter += ".demotest." + suffix
	a.cfg.Kafka.Partitions = 2
	a.cfg.Process.GroupID += "-" + suffix
	a.cfg.Remediate.GroupID += "-" + suffix
	a.cfg.Remediate.DispatcherGroupID += "-" + suffix
	a.cfg.ClickHouse.GroupID += "-" + suffix
	a.cfg.ClickHouse.Database = "telemetry_demotest_" + suffix
	a.cfg.ClickHouse.FlushInterval = 500 * time.Millisecond
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cfg := a.cfg.ClickHouse
		cfg.Addresses = []string{chAddr}
		cfg.Database = "default"
		if conn, err := chsink.Open(ctx, cfg); err == nil {
			_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+a.cfg.ClickHouse.Database)
			conn.Close()
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := Run(ctx, a.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{
		Duration:       12 * time.Second,
		Scenario:       "../deploy/scenarios/demo.yaml",
		ClickHouse:     chAddr,
		Kafka:          brokers,
		Window:         2 * time.Second,
		SampleInterval: 500 * time.Millisecond,
		Progress:       2 * time.Second,
		// Exact: what checkAddsUp checks (without it, notifications in
		// flight when the collector stops are lost uncounted).
		ExactDrain: true,
	}, &out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	sum.Print(&out)
	t.Log(out.String())
	if sum.Samples == 0 || sum.KPIs == 0 {
		t.Fatalf("no samples or KPIs: %+v", sum)
	}
	if n := sum.Stored["interface_kpis"]; n == 0 {
		t.Fatalf("no rows in %s.interface_kpis", a.cfg.ClickHouse.Database)
	}
	if !strings.Contains(out.String(), "samples") {
		t.Fatalf("no progress printed:\n%s", out.String())
	}
	checkAddsUp(t, sum)
}

// checkAddsUp checks what the summary lets a reader check: each stage's
// numbers make the next one's.
func checkAddsUp(t *testing.T, s Summary) {
	t.Helper()
	rows := func(tables ...string) (n uint64) {
		for _, tb := range tables {
			n += s.RowsByTable[tb]
		}
		return n
	}
	drops := uint64(0)
	for _, v := range s.CollectorDrops {
		drops += v
	}
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"updates received = sent", s.Updates, s.SimUpdates},
		{"records consumed by the processor = produced by the collector", s.Consumed + drops, s.Samples + s.Inventory},
		{"sample rows = samples", rows(schema.InterfaceCounters, schema.InterfaceState, schema.ProbeResults), s.Samples},
		{"device rows = device-state records", rows(schema.Devices), s.Inventory},
		{"KPI rows = KPIs", rows(schema.InterfaceKPIs, schema.LinkKPIs, schema.PipelineKPIs, schema.DeviceKPIs), s.KPIs},
		{"devices stored = targets", s.Stored[schema.Devices], uint64(s.Targets)},
	} {
		if c.got != c.want {
			t.Errorf("summary does not add up: %s: %d, want %d", c.what, c.got, c.want)
		}
	}
	for tb, n := range s.Stored {
		if n > s.RowsByTable[tb] {
			t.Errorf("summary does not add up: %s stores %d rows, more than the %d written", tb, n, s.RowsByTable[tb])
		}
	}
	var events uint64
	for _, n := range s.StoredEvents {
		events += n
	}
	if events != s.Stored[schema.RemediationEvents] {
		t.Errorf("remediation_events by state sum to %d, table has %d", events, s.Stored[schema.RemediationEvents])
	}
}

// TestSummaryPrint: every stage has its line, starting with its name, and
// the sink line groups the tables by what fills them.
func TestSummaryPrint(t *testing.T) {
	s := Summary{Targets: 2, SimUpdates: 30, Notifications: 4, Updates: 30, Samples: 4, Inventory: 2, Consumed: 6, KPIs: 3,
		ProcessDrops: map[string]uint64{"warmup": 2, "late": 0}, Evaluated: 3, Fired: 1, Resolved: 1, Delivered: 2, Acknowledged: 1,
		Rows: 13, RowsByTable: map[string]uint64{"interface_counters": 3, "probe_results": 1, "devices": 2, "interface_kpis": 2, "link_kpis": 1, "remediation_events": 4},
		Stored:       map[string]uint64{"interface_counters": 3, "devices": 1, "remediation_events": 4},
		StoredEvents: map[string]uint64{"firing": 1, "dispatched": 1, "acknowledged": 1, "resolved": 1}, ClickHouse: "h:1/db"}
	var b strings.Builder
	s.Print(&b)
	for _, want := range []string{
		"\nfabric       2 targets sent 30 gNMI updates in 4 notifications\n",
		"\ncollector    30 updates received; produced 4 samples (one per notification) + 2 device-state records",
		"\nprocessor    3 KPIs produced from 6 records consumed (of 6 produced); no KPI from: warmup 2 (a series' first sample or window; a rate needs two samples, a device's state before its first record is unknown); 0 late\n",
		"\nremediation  1 events fired, 1 resolved, 0 still open, from 3 KPIs evaluated; 2 webhook deliveries",
		"\nsink         13 rows written: samples 4 = interface_counters 3 + probe_results 1; device states 2 = devices 2; KPIs 3 = interface_kpis 2 + link_kpis 1; event transitions 4 = remediation_events 4\n",
		"devices 1 (one row per device: its latest state)",
		"remediation_events 4 (firing 1, dispatched 1, acknowledged 1, resolved 1)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
