package pipeline

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
	"github.com/meshtelemetry/telemetry/sinks/clickhouse"
)

// TestDemoAgainstRealServices runs the demo pipeline for a few seconds
// against the real Kafka broker and the live ClickHouse server, and finds
// rows in telemetry's interface_kpis.
func TestDemoAgainstRealServices(t *testing.T) {
	brokers := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)

	suffix := fmt.Sprintf("%x", rand.Uint64())
	a := struct{ cfg Config }{cfg: DefaultConfig()}
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
		if conn, err := clickhouse.Open(ctx, cfg); err == nil {
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
}
