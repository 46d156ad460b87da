package chsink

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// clusterState is what a migrator finds on a cluster, read from the node it
// talks to.
type clusterState struct {
	// applied are the versions in schema_migrations; nil when the node has
	// no schema_migrations.
	applied map[uint32]bool
	// nodes is the number of servers in the cluster (system.clusters);
	// replicas the number of replicas of schema_migrations registered in
	// ZooKeeper: the nodes a migration went through.
	nodes, replicas int
}

// current reports whether the cluster needs no versioned step: every
// version recorded, and as many nodes migrated as the cluster has (a node
// added to the cluster has no schema_migrations replica yet).
func (st clusterState) current() bool {
	if st.applied == nil || st.replicas < st.nodes {
		return false
	}
	for _, m := range migrations {
		if !st.applied[m.version] {
			return false
		}
	}
	return true
}

// readClusterState reads the cluster's state from the node conn talks to.
// With sync, schema_migrations first catches up with its replicas (SYSTEM
// SYNC REPLICA): what a migrator that just released the lock recorded on
// another node is seen.
func readClusterState(ctx context.Context, conn driver.Conn, cfg Configuration, sync bool) (clusterState, error) {
	var st clusterState
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", cfg.Cluster).Scan(&n); err != nil {
		return st, fmt.Errorf("read system.clusters: %w", err)
	}
	if n == 0 {
		return st, fmt.Errorf("cluster %q is not defined on the server (its <remote_servers>)", cfg.Cluster)
	}
	st.nodes = int(n)
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", cfg.Database, schema.Migrations).Scan(&n); err != nil {
		return st, fmt.Errorf("read system.tables: %w", err)
	}
	if n == 0 {
		return st, nil
	}
	if sync {
		if err := conn.Exec(ctx, fmt.Sprintf("SYSTEM SYNC REPLICA %s.%s", cfg.Database, schema.Migrations)); err != nil {
			return st, fmt.Errorf("sync schema_migrations: %w", err)
		}
	}
	applied, err := appliedVersions(ctx, conn, cfg)
	if err != nil {
		return st, err
	}
	st.applied = applied
	var path string
	if err := conn.QueryRow(ctx, "SELECT zookeeper_path FROM system.replicas WHERE database = ? AND table = ?", cfg.Database, schema.Migrations).Scan(&path); err != nil {
		return st, fmt.Errorf("read schema_migrations' replication path: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", path+"/replicas").Scan(&n); err != nil {
		return st, fmt.Errorf("count schema_migrations' replicas: %w", err)
	}
	st.replicas = int(n)
	return st, nil
}

// migrateCluster migrates cfg.Cluster. When every version is recorded and
// every node went through a migration, nothing but the check-then-apply
// steps runs (no ON CLUSTER DDL: a sink starts while a node is down).
// Otherwise, under the cluster-wide lock, every statement ON CLUSTER: the
// database, the steps not recorded, on a node added since the last
// migration every table (IF NOT EXISTS), then schema_migrations (one table
// replicated on every node) and the versions applied. A statement ON
// CLUSTER returns once every node ran it (an error otherwise: the step is
// not recorded and the next migrate runs it again), so a recorded version
// is on every node.
func migrateCluster(ctx context.Context, conn driver.Conn, caps Capabilities, cfg Configuration, log *slog.Logger) error {
	st, err := readClusterState(ctx, conn, cfg, false)
	if err != nil {
		return err
	}
	if st.current() {
		log.Info("cluster schema is current", "cluster", cfg.Cluster, "version", LatestVersion(), "nodes", st.nodes)
	} else {
		if err := conn.Exec(ctx, createDatabase(cfg)); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		release, err := acquireLock(ctx, conn, cfg, log)
		if err != nil {
			return err
		}
		defer release()
		if st, err = readClusterState(ctx, conn, cfg, true); err != nil {
			return err
		}
		if err := applyClusterSteps(ctx, conn, caps, cfg, st, log); err != nil {
			return err
		}
	}
	if err := ensureColumns(ctx, conn, caps, cfg, log); err != nil {
		return err
	}
	return ensureTTL(ctx, conn, caps, cfg, log)
}

// applyClusterSteps is the locked part of migrateCluster.
func applyClusterSteps(ctx context.Context, conn driver.Conn, caps Capabilities, cfg Configuration, st clusterState, log *slog.Logger) error {
	if st.current() {
		return nil // another migrator did it while this one waited
	}
	var done []migration
	// No step recorded: a fresh installation (see Migrate).
	fresh := len(st.applied) == 0
	for _, m := range migrations {
		if st.applied[m.version] {
			continue
		}
		if fresh && m.upgradeOnly {
			log.Info("recording migration (fresh installation: nothing to change)", "version", m.version, "name", m.name, "cluster", cfg.Cluster)
		} else {
			log.Info("applying migration", "version", m.version, "name", m.name, "cluster", cfg.Cluster)
			if err := execStatements(ctx, conn, cfg, m.statements(caps, cfg, fresh)); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
		}
		if st.applied == nil {
			done = append(done, m) // recorded once schema_migrations exists
			continue
		}
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			return err
		}
	}
	if len(st.applied) > 0 && st.replicas < st.nodes {
		log.Info("creating the tables on the nodes added to the cluster", "cluster", cfg.Cluster, "nodes", st.nodes, "migrated", st.replicas)
		if err := execStatements(ctx, conn, cfg, latestObjects(caps, cfg)); err != nil {
			return fmt.Errorf("tables on new nodes: %w", err)
		}
	}
	if err := conn.Exec(ctx, createMigrations(cfg)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range done {
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			return err
		}
	}
	return nil
}

// latestObjects renders every table and view of the latest schema version
// (IF NOT EXISTS), the views last: what a node added to a cluster needs.
// They have the shape of a fresh installation (the tenant first in the
// sort keys): a node added as a new shard; a replica added to a shard of a
// cluster upgraded across schema.TenantSince needs its tables created by
// hand with the shard's sort keys (docs/storage.md).
func latestObjects(caps Capabilities, cfg Configuration) []string {
	var tables, views []string
	for _, t := range schema.Tables() {
		tables = append(tables, createTable(caps, cfg, t, true)...)
	}
	for _, r := range schema.Rollups() {
		st := createRollup(caps, cfg, r, LatestVersion(), true)
		tables = append(tables, st[:len(st)-1]...)
		views = append(views, st[len(st)-1])
	}
	return append(tables, views...)
}
