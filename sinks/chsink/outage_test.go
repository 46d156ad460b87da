package chsink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// TestOutage kills a private ClickHouse server in the middle of a stream,
// keeps producing to Kafka, restarts it: every KPI row is there exactly
// once (FINAL), nothing lost, and the sink retried the same batch.
func TestOutage(t *testing.T) {
	srv := startPrivateServer(t)
	kc, prod := liveKafka(t)
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{srv.addr()}
	cfg.Database = "telemetry_outage"
	cfg.GroupID = "sinktest-" + randomSuffix()
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.BatchSize = 200
	cfg.MaxRetryBackoff = 400 * time.Millisecond
	cfg.DialTimeout = time.Second
	s, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	const total = 3000
	recs := kpiRecords(t, kc, genInterfaceKPIs(total, 64))
	produce(t, prod, recs[:1000])
	testenv.Eventually(t, 20*time.Second, "first part stored", func() bool { return s.Stats().Rows[schema.InterfaceKPIs] >= 1000 })

	srv.kill()
	t.Log("server killed")
	produce(t, prod, recs[1000:2500])
	testenv.Eventually(t, 20*time.Second, "insert errors while the server is down", func() bool { return s.Stats().InsertErrors >= 2 })
	// The outage lasts a few retries of the same batch.
	testenv.Eventually(t, 20*time.Second, "retries while the server is down", func() bool { return s.Stats().Retries >= 3 })
	srv.start()
	t.Log("server restarted")
	produce(t, prod, recs[2500:])

	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := fmt.Sprintf("SELECT count() FROM %s.interface_kpis FINAL", cfg.Database)
	testenv.Eventually(t, 30*time.Second, "every row after the restart", func() bool {
		var n uint64
		return conn.QueryRow(ctx, q).Scan(&n) == nil && n >= total
	})
	var final, distinct, plain uint64
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count(), uniqExact(kpi_id) FROM %s.interface_kpis FINAL", cfg.Database)).Scan(&final, &distinct); err != nil {
		t.Fatal(err)
	}
	plain = count(t, conn, fmt.Sprintf("SELECT count() FROM %s.interface_kpis", cfg.Database))
	st := s.Stats()
	t.Logf("rows FINAL=%d distinct ids=%d without FINAL=%d; sink: insert errors=%d retries=%d rows=%d",
		final, distinct, plain, st.InsertErrors, st.Retries, st.Rows[schema.InterfaceKPIs])
	if final != total || distinct != total {
		t.Fatalf("after the outage: %d rows (%d distinct ids), want exactly %d", final, distinct, total)
	}
	if st.Retries == 0 {
		t.Errorf("no retries counted")
	}
}
