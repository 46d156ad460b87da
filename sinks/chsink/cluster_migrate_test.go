package chsink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// clusterConfig returns a configuration for one of the test clusters
// (testenv.ShardedCluster or testenv.ReplicatedCluster) with a throw-away
// database of its own on every node, and a connection to each node.
func clusterConfig(t testing.TB, c testenv.Cluster, cluster string) (Configuration, []driver.Conn) {
	t.Helper()
	db, _ := c.Database(t, cluster)
	cfg := DefaultConfiguration()
	cfg.Addresses = c.Addrs()
	cfg.Database = db
	cfg.Cluster = cluster
	if cluster == testenv.ReplicatedCluster {
		cfg.ReplicationPath = testenv.ReplicatedClusterPath
	}
	cfg.MigrationLockTimeout = time.Minute
	conns := make([]driver.Conn, len(c.Nodes))
	for i := range c.Nodes {
		conns[i] = c.Conn(t, i)
	}
	return cfg, conns
}

// nodeConfig is cfg talking to node i only.
func nodeConfig(cfg Configuration, c testenv.Cluster, i int) Configuration {
	cfg.Addresses = []string{c.Nodes[i].Addr}
	return cfg
}

// wantObjects is the number of tables and views a cluster migration
// creates on each node: a local and a Distributed table per base table,
// the same per rollup plus its view, and schema_migrations.
func wantObjects() uint64 {
	return uint64(2*len(schema.Tables()) + 3*len(schema.Rollups()) + 1)
}

func migrateNode(t testing.TB, cfg Configuration, log *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := Migrate(ctx, conn, cfg, log); err != nil {
		t.Fatalf("Migrate on %v: %v", cfg.Addresses, err)
	}
}

// checkClusterSchema checks every node: the objects, the engines, and
// every version recorded once in schema_migrations.
func checkClusterSchema(t *testing.T, cfg Configuration, conns []driver.Conn) {
	t.Helper()
	for i, conn := range conns {
		if got := count(t, conn, "SELECT count() FROM system.tables WHERE database = ?", cfg.Database); got != wantObjects() {
			t.Errorf("node %d: %d tables and views, want %d", i, got, wantObjects())
		}
		for _, tb := range schema.Names() {
			var local, dist string
			if err := conn.QueryRow(context.Background(), "SELECT engine FROM system.tables WHERE database = ? AND name = ?", cfg.Database, tb+LocalSuffix).Scan(&local); err != nil {
				t.Fatalf("node %d: %s%s: %v", i, tb, LocalSuffix, err)
			}
			if err := conn.QueryRow(context.Background(), "SELECT engine FROM system.tables WHERE database = ? AND name = ?", cfg.Database, tb).Scan(&dist); err != nil {
				t.Fatalf("node %d: %s: %v", i, tb, err)
			}
			if local != "ReplicatedReplacingMergeTree" || dist != "Distributed" {
				t.Errorf("node %d: %s is %s over %s, want Distributed over ReplicatedReplacingMergeTree", i, tb, dist, local)
			}
		}
		if err := conn.Exec(context.Background(), fmt.Sprintf("SYSTEM SYNC REPLICA %s.%s", cfg.Database, schema.Migrations)); err != nil {
			t.Fatal(err)
		}
		if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", cfg.Database, schema.Migrations)); n != uint64(len(migrations)) {
			t.Errorf("node %d: schema_migrations has %d rows, want %d (each version once)", i, n, len(migrations))
		}
	}
}

// TestMigrateClusterLive migrates the 2-shard cluster from node 0: every
// node has every local, Distributed and view object and the whole record;
// a second migrate from node 1 finds the schema current and runs no DDL.
func TestMigrateClusterLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	cfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	migrateNode(t, nodeConfig(cfg, c, 0), testLogger(t))
	checkClusterSchema(t, cfg, conns)

	var logs testenv.Logs
	migrateNode(t, nodeConfig(cfg, c, 1), slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "cluster schema is current") || strings.Contains(logs.String(), "applying migration") {
		t.Errorf("second migrate did not find the schema current:\n%s", logs.String())
	}
	checkClusterSchema(t, cfg, conns)
}

// TestMigrateClusterConcurrentLive runs three migrators at once, through
// both nodes: the ON CLUSTER lock lets one apply the steps, each version is
// recorded once, on every node.
func TestMigrateClusterConcurrentLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	cfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			migrateNode(t, nodeConfig(cfg, c, i%len(c.Nodes)), testLogger(t).With("instance", i))
		}()
	}
	wg.Wait()
	checkClusterSchema(t, cfg, conns)
}

// TestMigrateClusterNodeAddedLive: a node that lost the database (as a
// machine added to the cluster has none) gets every table again from the
// next migrate, through the other node: schema_migrations has fewer
// replicas than the cluster has nodes, so migrate creates every object ON
// CLUSTER (IF NOT EXISTS), and no step runs twice.
func TestMigrateClusterNodeAddedLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	cfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	migrateNode(t, nodeConfig(cfg, c, 0), testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conns[1].Exec(ctx, "DROP DATABASE "+cfg.Database); err != nil { // on node 1 only
		t.Fatal(err)
	}
	var logs testenv.Logs
	migrateNode(t, nodeConfig(cfg, c, 0), slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "creating the tables on the nodes added") || strings.Contains(logs.String(), "applying migration") {
		t.Errorf("migrate did not (only) create the missing node's tables:\n%s", logs.String())
	}
	checkClusterSchema(t, cfg, conns)
}

// TestMigrateClusterResumeLive upgrades a cluster database at version 3,
// after an interrupted version 4 that left the new column added to one
// rollup's local tables: migrate completes the step ON CLUSTER (the column
// taken as added, the Distributed rollup and the view made again with it),
// and rows written through the Distributed tables fill the new column on
// both shards.
func TestMigrateClusterResumeLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	cfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	cfg = nodeConfig(cfg, c, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	caps, err := Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	// Version 3, as an older build left it.
	if err := execStatements(ctx, conn, cfg, []string{createDatabase(cfg), createMigrations(cfg)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:3] {
		if err := execStatements(ctx, conn, cfg, m.statements(caps, cfg, false)); err != nil {
			t.Fatal(err)
		}
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			t.Fatal(err)
		}
	}
	// Interrupted step 4: the first statement ran, nothing was recorded.
	if err := conn.Exec(ctx, addAggs(caps, cfg, schema.Rollups()[0], 4, false)[0]); err != nil {
		t.Fatal(err)
	}
	var logs testenv.Logs
	if _, err := Migrate(ctx, conn, cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("Migrate from version 3: %v\n%s", err, logs.String())
	}
	for _, v := range []string{"version=4", "version=5"} {
		if !strings.Contains(logs.String(), v) {
			t.Errorf("migrate did not apply %s:\n%s", v, logs.String())
		}
	}
	checkClusterSchema(t, cfg, conns)
	// Rows through the Distributed table, a site on each shard.
	b, err := c.Conn(t, 0).PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.interface_kpis (ts, site, device, interface, oper_status, window_s, kpi_id)", cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	t0 := testenv.Anchor()
	for i := range 16 {
		status := "UP"
		if i%2 == 0 {
			status = "DOWN"
		}
		if err := b.Append(t0.Add(time.Duration(i)*10*time.Second), fmt.Sprintf("site%d", i%8), "d", "e1", status, uint32(10), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{schema.InterfaceKPIs1m, schema.InterfaceKPIs1h} {
		if got := count(t, conns[1], fmt.Sprintf("SELECT toUInt64(sumMerge(not_up_windows)) FROM %s.%s", cfg.Database, r)); got != 8 {
			t.Errorf("%s: not_up_windows through the Distributed table = %d, want 8", r, got)
		}
		for i, conn := range conns {
			if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", cfg.Database, r+LocalSuffix)); got == 0 {
				t.Errorf("%s: no rollup rows on shard %d", r, i+1)
			}
		}
	}
}
