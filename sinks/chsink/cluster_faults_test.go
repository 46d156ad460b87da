package chsink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// skipShiftedClock skips a fault test in the run with the tests' clock
// shifted (make test-anyday): its data meets no date, that run would only
// repeat the outage.
func skipShiftedClock(t *testing.T) {
	if d, err := testenv.ClockShift(); err == nil && d != 0 {
		t.Skip("no date in this test: not repeated with the clock shifted")
	}
}

// faultConfig tunes a cluster configuration for the fault tests: small
// batches, quick retries.
func faultConfig(cfg Configuration) Configuration {
	cfg.GroupID = "sinktest-" + randomSuffix()
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.BatchSize = 200
	cfg.MaxRetryBackoff = time.Second
	cfg.DialTimeout = time.Second
	return cfg
}

// exactlyOnce checks that the interface KPIs seen through conn are exactly
// total, each once (FINAL and distinct ids), and logs the plain count.
func exactlyOnce(t *testing.T, conn driver.Conn, table string, total uint64) {
	t.Helper()
	var final, distinct uint64
	if err := conn.QueryRow(context.Background(), fmt.Sprintf("SELECT count(), uniqExact(kpi_id) FROM %s FINAL", table)).Scan(&final, &distinct); err != nil {
		t.Fatal(err)
	}
	plain := count(t, conn, "SELECT count() FROM "+table)
	t.Logf("%s: FINAL %d, distinct ids %d, without FINAL %d (want %d)", table, final, distinct, plain, total)
	if final != total || distinct != total {
		t.Errorf("%s: %d rows (%d distinct ids), want exactly %d", table, final, distinct, total)
	}
}

// TestClusterReplicaKilledLive writes through the 1-shard × 2-replica
// cluster and SIGKILLs the replica the sink talks to in the middle of the
// stream: the sink's next insert goes to the other replica (its next
// address), writes go on, the killed replica catches up once restarted
// (replication), and both replicas hold every row exactly once.
func TestClusterReplicaKilledLive(t *testing.T) {
	skipShiftedClock(t)
	c := testenv.ClickHouseClusterAlone(t)
	cfg, conns := clusterConfig(t, c, testenv.ReplicatedCluster)
	cfg = faultConfig(cfg)
	kc, prod := liveKafka(t)
	s := startSink(t, cfg, kc)

	const total = 6000
	recs := kpiRecords(t, kc, clusterKPIs(total, 16)[:total])
	produce(t, prod, recs[:2000])
	testenv.Eventually(t, 30*time.Second, "first part stored", func() bool { return s.Stats().Rows[schema.InterfaceKPIs] >= 2000 })

	// The sink talks to node 0 (its first address). Kill it mid-write.
	produce(t, prod, recs[2000:3000])
	c.Nodes[0].Kill(t)
	t.Log("replica 0 killed")
	produce(t, prod, recs[3000:5000])
	local := fmt.Sprintf("%s.%s", cfg.Database, schema.InterfaceKPIs+LocalSuffix)
	testenv.Eventually(t, 60*time.Second, "writes going on to replica 1", func() bool {
		return count(t, conns[1], "SELECT count() FROM "+local+" FINAL") >= 5000
	})
	c.Nodes[0].Start(t)
	t.Log("replica 0 restarted")
	produce(t, prod, recs[5000:])
	for i, conn := range conns {
		testenv.Eventually(t, 90*time.Second, fmt.Sprintf("replica %d has every row", i), func() bool {
			var n uint64
			return conn.QueryRow(context.Background(), "SELECT count() FROM "+local+" FINAL").Scan(&n) == nil && n >= total
		})
	}
	for i, conn := range conns {
		if err := conn.Exec(context.Background(), "SYSTEM SYNC REPLICA "+local); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		exactlyOnce(t, conn, local, total)
	}
	if a, b := count(t, conns[0], "SELECT count() FROM "+local), count(t, conns[1], "SELECT count() FROM "+local); a != b {
		t.Errorf("replicas differ: %d and %d rows without FINAL", a, b)
	}
	st := s.Stats()
	t.Logf("sink: insert errors %d, retries %d, rows %d", st.InsertErrors, st.Retries, st.Rows[schema.InterfaceKPIs])
}

// TestClusterZooKeeperDownLive stops ZooKeeper for 30 s under a stream into
// the 2-shard cluster: the replicated tables turn read-only, inserts fail
// and the sink retries the same batch; once ZooKeeper is back every row is
// stored exactly once.
func TestClusterZooKeeperDownLive(t *testing.T) {
	skipShiftedClock(t)
	c := testenv.ClickHouseClusterAlone(t)
	cfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	cfg = faultConfig(cfg)
	kc, prod := liveKafka(t)
	s := startSink(t, cfg, kc)

	const total = 6000
	recs := kpiRecords(t, kc, clusterKPIs(total, 16)[:total])
	produce(t, prod, recs[:2000])
	testenv.Eventually(t, 30*time.Second, "first part stored", func() bool { return s.Stats().Rows[schema.InterfaceKPIs] >= 2000 })

	c.ZooKeeper.Kill(t)
	down := time.Now()
	t.Log("zookeeper killed")
	produce(t, prod, recs[2000:4000])
	testenv.Eventually(t, 30*time.Second, "inserts failing and retried", func() bool {
		st := s.Stats()
		return st.InsertErrors >= 2 && st.Retries >= 2
	})
	stuck := s.Stats().Rows[schema.InterfaceKPIs]
	time.Sleep(time.Until(down.Add(30 * time.Second))) // the outage lasts 30 s
	if got := s.Stats().Rows[schema.InterfaceKPIs]; got >= 4000 {
		t.Errorf("%d rows confirmed while ZooKeeper was down (want the inserts to fail)", got)
	}
	c.ZooKeeper.Start(t)
	t.Logf("zookeeper restarted after %s; rows confirmed during the outage: %d", time.Since(down).Round(time.Second), s.Stats().Rows[schema.InterfaceKPIs]-stuck)
	produce(t, prod, recs[4000:])
	dist := fmt.Sprintf("%s.%s", cfg.Database, schema.InterfaceKPIs)
	testenv.Eventually(t, 2*time.Minute, "every row after the outage", func() bool {
		var n uint64
		return conns[0].QueryRow(context.Background(), "SELECT count() FROM "+dist+" FINAL").Scan(&n) == nil && n >= total
	})
	exactlyOnce(t, conns[0], dist, total)
	st := s.Stats()
	t.Logf("sink: insert errors %d, retries %d, rows %d", st.InsertErrors, st.Retries, st.Rows[schema.InterfaceKPIs])
	if st.Retries == 0 || st.InsertErrors == 0 {
		t.Errorf("no failed insert retried (errors %d, retries %d)", st.InsertErrors, st.Retries)
	}
}
