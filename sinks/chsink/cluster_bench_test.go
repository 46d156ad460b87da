package chsink

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// TestThroughputClusterLive measures the sink end to end (Kafka →
// ClickHouse, interface KPIs, as TestThroughputLive's third figure) into
// the single server and into the 2-shard cluster, in the same run, on the
// same records: rounds alternate between the two (best of 2 each), each
// into a fresh database with the sink's schema. Slow: runs only with
// TELEMETRY_BENCH=1 (rows: TELEMETRY_BENCH_ROWS, default 1000000).
//
//	TELEMETRY_BENCH=1 go test ./sinks/chsink -run TestThroughputClusterLive -v
func TestThroughputClusterLive(t *testing.T) {
	if os.Getenv("TELEMETRY_BENCH") == "" {
		t.Skip("set TELEMETRY_BENCH=1 to run the throughput comparison")
	}
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("TELEMETRY_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	c := testenv.ClickHouseCluster(t)
	kc, prod := liveKafka(t)
	// 250 sites × 8 interfaces: the 2 000 series of TestThroughputLive,
	// spread over the shards by site.
	kpis := clusterKPIs(n, 250)[:n]
	produce(t, prod, kpiRecords(t, kc, kpis))

	targets := []struct {
		name string
		cfg  func() Configuration
	}{
		{"the single server", func() Configuration { cfg, _ := liveConfig(t); return cfg }},
		{"the cluster (2 shards)", func() Configuration { cfg, _ := clusterConfig(t, c, testenv.ShardedCluster); return cfg }},
	}
	best := make([]float64, len(targets))
	var split string
	for round := range 2 {
		for i, tg := range targets {
			cfg := tg.cfg()
			r, d := sinkRate(t, cfg, kc, uint64(n))
			t.Logf("round %d, %s: %d rows in %s", round+1, tg.name, n, d.Round(time.Millisecond))
			best[i] = max(best[i], r)
			if cfg.Cluster != "" && split == "" {
				var rows []uint64
				for j := range c.Nodes {
					rows = append(rows, count(t, c.Conn(t, j), fmt.Sprintf("SELECT count() FROM %s.%s", cfg.Database, schema.InterfaceKPIs+LocalSuffix)))
				}
				split = fmt.Sprint(rows)
			}
		}
	}
	t.Logf("%d interface_kpis rows (+2 materialized views), batch-size %d, best of 2; rows per shard %s", n, DefaultConfiguration().BatchSize, split)
	t.Logf("sink end to end into the single server:          %8.0f rows/s", best[0])
	t.Logf("sink end to end into the cluster (2 shards):     %8.0f rows/s = %.0f%% of the single server", best[1], 100*best[1]/best[0])
}

// sinkRate runs a sink of its own group with cfg until it stored n
// interface KPIs, and returns its rate from the first record polled to the
// last row confirmed.
func sinkRate(t *testing.T, cfg Configuration, kc *kafka.Configuration, n uint64) (float64, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg.GroupID = "sinkbench-" + randomSuffix()
	s, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var t0 time.Time
	for {
		st := s.Stats()
		if t0.IsZero() && st.Records[kc.Topics.KPIs] > 0 {
			t0 = time.Now()
		}
		if st.Rows[schema.InterfaceKPIs] >= n {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
	d := time.Since(t0)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s FINAL", cfg.Database, schema.InterfaceKPIs)); got != n {
		t.Fatalf("sink stored %d rows, want %d", got, n)
	}
	return float64(n) / d.Seconds(), d
}
