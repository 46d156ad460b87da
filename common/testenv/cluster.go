package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The ClickHouse cluster of scripts/services.sh: ZooKeeper and two
// clickhouse-server 18.16 nodes beside the single server, found through
//
//	TELEMETRY_TEST_CLICKHOUSE_CLUSTER          the nodes' native addresses, comma-separated
//	TELEMETRY_TEST_CLICKHOUSE_CLUSTER_HTTP     their HTTP addresses, in the same order
//	TELEMETRY_TEST_CLICKHOUSE_CLUSTER_CONTROL  their control directories, in the same order
//	TELEMETRY_TEST_ZOOKEEPER                   ZooKeeper's client address
//	TELEMETRY_TEST_ZOOKEEPER_CONTROL           its control directory
//
// A control directory holds pid (the running server's) and start (an
// executable that starts the server again, detached, on the same ports and
// data, and returns once it answers). Both nodes define two clusters.
const (
	// ShardedCluster has 2 shards × 1 replica: node 0 is shard 1, node 1
	// shard 2.
	ShardedCluster = "telemetry"
	// ReplicatedCluster has 1 shard × 2 replicas: nodes 0 and 1. A node has
	// one {shard} macro (the sharded cluster's), so the replicated
	// cluster's tables take ReplicatedClusterPath, without it.
	ReplicatedCluster = "telemetry_replicated"
	// ReplicatedClusterPath is the sink's clickhouse.replication-path for
	// ReplicatedCluster.
	ReplicatedClusterPath = "/clickhouse/tables/{cluster}/{database}/{table}"
)

// Server is a server of the test cluster a test can kill and start again.
type Server struct {
	// Addr is the native-protocol address of a ClickHouse node, the client
	// address of ZooKeeper.
	Addr string
	// HTTP is a ClickHouse node's HTTP address ("" for ZooKeeper).
	HTTP string
	// Dir is the control directory (pid, start).
	Dir string
}

// Cluster is the test cluster.
type Cluster struct {
	Nodes     []Server
	ZooKeeper Server
}

// ClickHouseCluster returns the test cluster (skips outside CI, fails in
// CI when absent). The test shares the cluster with other packages' tests
// until it ends; a test that kills its servers takes it alone with
// ClickHouseClusterAlone.
func ClickHouseCluster(t testing.TB) Cluster {
	t.Helper()
	c := clusterFromEnv(t)
	lockCluster(t, c, false)
	return c
}

// ClickHouseClusterAlone is ClickHouseCluster for a test that kills or stops
// the cluster's servers: it waits (up to 15 minutes) until no other test,
// in any package, uses the cluster, and keeps the others out until it ends.
// A server it killed and did not start again is started when it ends.
func ClickHouseClusterAlone(t testing.TB) Cluster {
	t.Helper()
	c := clusterFromEnv(t)
	lockCluster(t, c, true)
	return c
}

func clusterFromEnv(t testing.TB) Cluster {
	t.Helper()
	addrs := strings.Split(need(t, "TELEMETRY_TEST_CLICKHOUSE_CLUSTER", "ClickHouse cluster"), ",")
	https := strings.Split(need(t, "TELEMETRY_TEST_CLICKHOUSE_CLUSTER_HTTP", "ClickHouse cluster (HTTP)"), ",")
	dirs := strings.Split(need(t, "TELEMETRY_TEST_CLICKHOUSE_CLUSTER_CONTROL", "ClickHouse cluster (control directories)"), ",")
	if len(addrs) != len(https) || len(addrs) != len(dirs) || len(addrs) < 2 {
		t.Fatalf("TELEMETRY_TEST_CLICKHOUSE_CLUSTER*: %d addresses, %d HTTP addresses, %d control directories (want the same number, at least 2)", len(addrs), len(https), len(dirs))
	}
	c := Cluster{ZooKeeper: Server{
		Addr: need(t, "TELEMETRY_TEST_ZOOKEEPER", "ZooKeeper"),
		Dir:  need(t, "TELEMETRY_TEST_ZOOKEEPER_CONTROL", "ZooKeeper (control directory)"),
	}}
	for i := range addrs {
		c.Nodes = append(c.Nodes, Server{Addr: addrs[i], HTTP: https[i], Dir: dirs[i]})
	}
	return c
}

// Addrs lists the nodes' native addresses.
func (c Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Database creates a throw-away database on every node of cluster (ON
// CLUSTER) and drops it when the test ends. It returns its name and a
// connection to node 0 (default database, closed at the end).
func (c Cluster) Database(t testing.TB, cluster string) (db string, conn driver.Conn) {
	t.Helper()
	conn = c.Conn(t, 0)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db = fmt.Sprintf("telemetry_test_%x", b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s ON CLUSTER %s", db, cluster)); err != nil {
		t.Fatalf("create database %s on cluster %s: %v", db, cluster, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s ON CLUSTER %s", db, cluster)); err != nil {
			t.Logf("drop database %s on cluster %s: %v", db, cluster, err)
		}
	})
	return db, conn
}

// Conn opens a connection to node i (default database), closed when the
// test ends. An insert into a Distributed table through it returns once
// every shard has its rows (insert_distributed_sync), as the sink's do.
func (c Cluster) Conn(t testing.TB, i int) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{c.Nodes[i].Addr},
		Auth:     clickhouse.Auth{Database: "default", Username: "default"},
		Settings: clickhouse.Settings{"insert_distributed_sync": 1}, MaxOpenConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Kill stops the server hard (SIGKILL, like a crash) and waits until its
// port is closed. It is started again when the test ends, if the test did
// not.
func (s Server) Kill(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "pid"))
	if err != nil {
		t.Fatalf("kill %s: %v", s.Addr, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("kill %s: pid file: %v", s.Addr, err)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		t.Fatalf("kill %s (pid %d): %v", s.Addr, pid, err)
	}
	t.Cleanup(func() {
		if !s.up() {
			s.Start(t)
		}
	})
	Eventually(t, 30*time.Second, s.Addr+" closed after SIGKILL", func() bool { return !s.up() })
}

// Start starts the server again (its control directory's start) and
// returns once it answers.
func (s Server) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(s.Dir, "start")).CombinedOutput()
	if err != nil {
		t.Fatalf("start %s: %v\n%s", s.Addr, err, out)
	}
}

// up reports whether the server accepts connections.
func (s Server) up() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
