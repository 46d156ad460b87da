package chsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// migration is one versioned step. Its statements are idempotent, so a
// step interrupted half-way, or applied by two instances at once, is safe
// to run again.
//
// statements renders the step for a fresh installation (fresh: every
// table it creates has the latest shape, with the tenant column leading
// its sort key) or for an installation being upgraded (its tables as
// they were at the step's version). An upgradeOnly step changes what an
// installation made before it already has; a fresh installation, whose
// tables the earlier steps created with that change, records it without
// running it.
type migration struct {
	version     uint32
	name        string
	statements  func(caps Capabilities, cfg Configuration, fresh bool) []string
	upgradeOnly bool
}

// migrations is the ordered list of versioned steps. Append new steps at
// the end; never change an applied one. The tables and rollups a step
// creates, and the rollup columns it adds, are those of the schema package
// whose Since is its version.
var migrations = []migration{
	{version: 1, name: "base tables", statements: createTablesSince(1)},
	{version: 2, name: "rollups 1m and 1h (AggregatingMergeTree + materialized views)", statements: func(caps Capabilities, cfg Configuration, fresh bool) []string {
		var tables, views []string
		for _, r := range schema.Rollups() {
			if r.Since == 2 {
				st := createRollup(caps, cfg, r, 2, fresh)
				tables = append(tables, st[:len(st)-1]...)
				views = append(views, st[len(st)-1])
			}
		}
		return append(tables, views...)
	}},
	{version: 3, name: "interface_state (state-only interface samples)", statements: createTablesSince(3)},
	{version: 4, name: "not_up_windows in the interface rollups", statements: func(caps Capabilities, cfg Configuration, fresh bool) []string {
		var out []string
		for _, r := range schema.Rollups() {
			out = append(out, addAggs(caps, cfg, r, 4, fresh)...)
		}
		return out
	}},
	{version: 5, name: "device_kpis (device reachability per window)", statements: createTablesSince(5)},
	{version: schema.TenantSince, name: "tenant column in every table and rollup (DEFAULT the default tenant)", statements: addTenant, upgradeOnly: true},
}

// createTablesSince is the step creating the tables of schema version v.
func createTablesSince(v uint32) func(Capabilities, Configuration, bool) []string {
	return func(caps Capabilities, cfg Configuration, fresh bool) []string {
		var out []string
		for _, t := range schema.Tables() {
			if t.Since == v {
				out = append(out, createTable(caps, cfg, t, fresh)...)
			}
		}
		return out
	}
}

// addTenant is the step of schema.TenantSince on an installation made
// before it: the tenant column added to every table and rollup with the
// default tenant as its DEFAULT, so every stored row belongs to the default
// tenant and none is rewritten (ADD COLUMN only writes metadata; a part
// reads the DEFAULT until it is merged). The sort keys stay as they were:
// ClickHouse cannot put a new column first in an existing table's sort
// key, and rebuilding every table (INSERT SELECT into a new table, then
// RENAME) would copy all the data, needs twice the disk and loses what a
// sink writes meanwhile. Keeping the old key loses nothing: a site, and so
// every key of every table, belongs to one tenant, so no two tenants' rows
// share a key and replace each other. The views are made again to carry
// the tenant into the rollups (rows inserted between the DROP and the
// CREATE, milliseconds, miss the rollup). On a cluster the Distributed
// tables are made again with the column.
func addTenant(caps Capabilities, cfg Configuration, _ bool) []string {
	var out []string
	add := func(name string) {
		out = append(out, fmt.Sprintf("ALTER TABLE %s.%s%s ADD COLUMN %s %s%s", cfg.Database, LocalTable(cfg, name), onCluster(cfg),
			schema.TenantColumn, columnType(schema.Tenant, caps), columnDefault(schema.Tenant, cfg)))
	}
	for _, t := range schema.Tables() {
		add(t.Name)
		if cfg.Cluster != "" {
			out = append(out, dropTable(cfg, t.Name), createTable(caps, cfg, t, true)[1])
		}
	}
	for _, r := range schema.Rollups() {
		add(r.Name)
		st := createRollup(caps, cfg, r, schema.TenantSince, false)
		if cfg.Cluster != "" {
			out = append(out, dropTable(cfg, r.Name), st[1])
		}
		out = append(out, dropTable(cfg, r.Name+"_mv"), st[len(st)-1])
	}
	return out
}

// LatestVersion is the newest schema version this build knows.
func LatestVersion() uint32 { return migrations[len(migrations)-1].version }

const lockTable = "schema_migrations_lock"

// Migrate creates or upgrades the schema in cfg.Database: it probes the
// server (logged), creates the database and schema_migrations, then under a
// lock table (CREATE TABLE without IF NOT EXISTS succeeds for one instance
// only) applies every versioned step not recorded yet and records it once,
// then runs the check-then-apply steps (missing columns, TTLs). Steps that
// delete data run only with cfg.AllowDestructive. With cfg.Cluster set it
// migrates the cluster (migrateCluster).
func Migrate(ctx context.Context, conn driver.Conn, cfg Configuration, log *slog.Logger) (Capabilities, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps, err := Probe(ctx, conn)
	if err != nil {
		return caps, err
	}
	log.Info("clickhouse capabilities", "version", caps.Version, "modern", caps.Modern(),
		"datetime64", caps.DateTime64, "lowcardinality", caps.LowCardinality, "codecs", caps.Codecs, "ttl", caps.TTL)
	if cfg.Cluster != "" {
		return caps, migrateCluster(ctx, conn, caps, cfg, log)
	}
	for _, q := range []string{createDatabase(cfg), createMigrations(cfg)} {
		if err := conn.Exec(ctx, q); err != nil {
			return caps, fmt.Errorf("migrate: %w", err)
		}
	}
	release, err := acquireLock(ctx, conn, cfg, log)
	if err != nil {
		return caps, err
	}
	defer release()

	applied, err := appliedVersions(ctx, conn, cfg)
	if err != nil {
		return caps, err
	}
	// A database without any step recorded is a fresh installation: its
	// tables are created with the latest shape.
	fresh := len(applied) == 0
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		if fresh && m.upgradeOnly {
			log.Info("recording migration (fresh installation: nothing to change)", "version", m.version, "name", m.name)
		} else {
			log.Info("applying migration", "version", m.version, "name", m.name)
			if err := execStatements(ctx, conn, cfg, m.statements(caps, cfg, fresh)); err != nil {
				return caps, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
		}
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			return caps, err
		}
	}
	if err := ensureColumns(ctx, conn, caps, cfg, log); err != nil {
		return caps, err
	}
	if err := ensureTTL(ctx, conn, caps, cfg, log); err != nil {
		return caps, err
	}
	return caps, nil
}

// execStatements runs a step's statements in order. A column that already
// exists is taken as added: a step interrupted after it (ClickHouse 18.16
// has no ADD COLUMN IF NOT EXISTS). On a cluster, consecutive CREATE TABLE
// statements run concurrently: each ON CLUSTER statement waits for every
// node's DDL worker (a second or so on 18.16), and tables do not depend on
// each other (a view, which needs its tables, waits for them).
func execStatements(ctx context.Context, conn driver.Conn, cfg Configuration, stmts []string) error {
	run := func(q string) error {
		if err := conn.Exec(ctx, q); err != nil {
			if exceptionCode(err) == codeDuplicateColumn && strings.Contains(q, " ADD COLUMN ") {
				return nil
			}
			return fmt.Errorf("%w\n%s", err, q)
		}
		return nil
	}
	for i := 0; i < len(stmts); {
		j := i + 1
		if cfg.Cluster != "" && strings.HasPrefix(stmts[i], "CREATE TABLE ") {
			for j < len(stmts) && strings.HasPrefix(stmts[j], "CREATE TABLE ") {
				j++
			}
		}
		if j == i+1 {
			if err := run(stmts[i]); err != nil {
				return err
			}
			i = j
			continue
		}
		errs := make([]error, j-i)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for k, q := range stmts[i:j] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[k] = run(q)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// codeDuplicateColumn is ClickHouse's ILLEGAL_COLUMN, which ADD COLUMN
// returns for a column that exists.
const codeDuplicateColumn = 44

// appliedVersions reads schema_migrations.
func appliedVersions(ctx context.Context, conn driver.Conn, cfg Configuration) (map[uint32]bool, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT version FROM %s.%s", cfg.Database, schema.Migrations))
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[v] = true
	}
	return out, rows.Err()
}

// recordMigration inserts the version row (through a batch: see acquireLock).
func recordMigration(ctx context.Context, conn driver.Conn, cfg Configuration, m migration) error {
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (version, name, applied_at)", cfg.Database, schema.Migrations))
	if err != nil {
		return fmt.Errorf("record migration %d: %w", m.version, err)
	}
	if err := b.Append(m.version, m.name, time.Now().UTC()); err != nil {
		return fmt.Errorf("record migration %d: %w", m.version, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record migration %d: %w", m.version, err)
	}
	return nil
}

// exceptionCode returns the ClickHouse error code of err, or 0.
func exceptionCode(err error) int32 {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code
	}
	return 0
}

const codeTableAlreadyExists = 57

// lockStatement creates the migration lock (without IF NOT EXISTS).
func lockStatement(cfg Configuration) string {
	return fmt.Sprintf("CREATE TABLE %s.%s%s (holder String) ENGINE = Memory", cfg.Database, lockTable, onCluster(cfg))
}

// acquireLock takes the migration lock: a table only one CREATE can make.
// Another holder is waited for up to cfg.MigrationLockTimeout, then its
// lock is taken over (it probably died; every step is idempotent).
func acquireLock(ctx context.Context, conn driver.Conn, cfg Configuration, log *slog.Logger) (func(), error) {
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(cfg.MigrationLockTimeout)
	// On a cluster the lock is ON CLUSTER: every node runs the DDL queue's
	// tasks in the same order, so one CREATE succeeds on all of them and any
	// other fails with code 57, whichever node its migrator talks to.
	create := lockStatement(cfg)
	drop := fmt.Sprintf("DROP TABLE IF EXISTS %s.%s%s", cfg.Database, lockTable, onCluster(cfg))
	waited := false
	for {
		err := conn.Exec(ctx, create)
		if err == nil {
			break
		}
		if exceptionCode(err) != codeTableAlreadyExists {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		if !waited {
			log.Info("another instance is migrating; waiting", "lock", cfg.Database+"."+lockTable)
			waited = true
		}
		if time.Now().After(deadline) {
			log.Warn("migration lock held too long; taking it over", "timeout", cfg.MigrationLockTimeout)
			if err := conn.Exec(ctx, drop); err != nil {
				return nil, fmt.Errorf("migration lock takeover: %w", err)
			}
			deadline = time.Now().Add(cfg.MigrationLockTimeout)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("migration lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Native-protocol INSERT .. VALUES through Exec hangs on 18.16: insert
	// through a batch, as everywhere else.
	if b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (holder)", cfg.Database, lockTable)); err == nil {
		if err := b.Append(holder); err == nil {
			_ = b.Send()
		}
	}
	return func() {
		// Detached from ctx: a cancelled migrate still releases its lock.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.Exec(rctx, drop); err != nil {
			log.Warn("could not release the migration lock", "err", err)
		}
	}, nil
}

// existingColumns maps table → column → type for cfg.Database.
func existingColumns(ctx context.Context, conn driver.Conn, cfg Configuration) (map[string]map[string]string, error) {
	rows, err := conn.Query(ctx, "SELECT table, name, type FROM system.columns WHERE database = ?", cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("read system.columns: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var t, n, typ string
		if err := rows.Scan(&t, &n, &typ); err != nil {
			return nil, fmt.Errorf("read system.columns: %w", err)
		}
		if out[t] == nil {
			out[t] = map[string]string{}
		}
		out[t][n] = typ
	}
	return out, rows.Err()
}

// ensureColumns adds any column of the definition missing from an existing
// table (check-then-apply: additive schema changes need no new version).
func ensureColumns(ctx context.Context, conn driver.Conn, caps Capabilities, cfg Configuration, log *slog.Logger) error {
	have, err := existingColumns(ctx, conn, cfg)
	if err != nil {
		return err
	}
	for _, t := range schema.Tables() {
		prev := ""
		name := LocalTable(cfg, t.Name)
		added := false
		for _, c := range t.Columns {
			if _, ok := have[name][c.Name]; !ok && have[name] != nil {
				after := ""
				if prev != "" {
					after = " AFTER " + prev
				}
				q := fmt.Sprintf("ALTER TABLE %s.%s%s ADD COLUMN %s %s%s", cfg.Database, name, onCluster(cfg), c.Name, columnDef(c, caps, cfg), after)
				log.Info("adding column", "table", name, "column", c.Name)
				if err := conn.Exec(ctx, q); err != nil && exceptionCode(err) != codeDuplicateColumn { // added concurrently
					return fmt.Errorf("add column %s.%s: %w", name, c.Name, err)
				}
				added = true
			}
			prev = c.Name
		}
		if cfg.Cluster == "" {
			continue
		}
		// The Distributed table is made again with the table's columns
		// (see addAggs).
		missing := added
		for _, c := range t.Columns {
			if _, ok := have[t.Name][c.Name]; !ok && have[t.Name] != nil {
				missing = true
			}
		}
		if missing {
			log.Info("recreating the Distributed table with the new columns", "table", t.Name)
			if err := execStatements(ctx, conn, cfg, []string{dropTable(cfg, t.Name), createTable(caps, cfg, t, true)[1]}); err != nil {
				return fmt.Errorf("recreate %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

var ttlRe = regexp.MustCompile(`TTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)`)

// ensureTTL aligns each table's TTL with the configured retention (modern
// servers). A shorter or new TTL deletes data: it needs AllowDestructive.
func ensureTTL(ctx context.Context, conn driver.Conn, caps Capabilities, cfg Configuration, log *slog.Logger) error {
	if !caps.TTL {
		return nil
	}
	type target struct {
		name  string
		class schema.Retention
	}
	var targets []target
	for _, t := range schema.Tables() {
		if t.Retention != schema.KeepForever {
			targets = append(targets, target{LocalTable(cfg, t.Name), t.Retention})
		}
	}
	for _, r := range schema.Rollups() {
		targets = append(targets, target{LocalTable(cfg, r.Name), r.Retention})
	}
	for _, tg := range targets {
		var ddl string
		if err := conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?", cfg.Database, tg.name).Scan(&ddl); err != nil {
			return fmt.Errorf("read %s definition: %w", tg.name, err)
		}
		cur := 0
		if m := ttlRe.FindStringSubmatch(ddl); m != nil {
			cur, _ = strconv.Atoi(m[1])
		}
		want := retentionDays(cfg, tg.class)
		if cur == want {
			continue
		}
		if want == 0 {
			log.Warn("retention set to keep forever but the table has a TTL; remove it by hand (ALTER TABLE .. REMOVE TTL)", "table", tg.name, "ttl_days", cur)
			continue
		}
		destructive := cur == 0 || want < cur
		if destructive && !cfg.AllowDestructive {
			log.Warn("skipping a TTL change that deletes data; rerun migrate with --allow-destructive", "table", tg.name, "from_days", cur, "to_days", want)
			continue
		}
		log.Info("changing TTL", "table", tg.name, "from_days", cur, "to_days", want)
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s%s MODIFY TTL toDateTime(ts) + toIntervalDay(%d)", cfg.Database, tg.name, onCluster(cfg), want)); err != nil {
			return fmt.Errorf("modify TTL of %s: %w", tg.name, err)
		}
	}
	return nil
}

// ApplyRetention enforces retention on servers without TTL: it drops the
// monthly partitions that end before now minus the table's retention. It
// returns the number of partitions dropped. On servers with TTL it does
// nothing (the TTLs do the work).
func ApplyRetention(ctx context.Context, conn driver.Conn, caps Capabilities, cfg Configuration, now time.Time, log *slog.Logger) (int, error) {
	if caps.TTL {
		return 0, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type target struct {
		db, name string
		days     int
	}
	// The tenants' databases (servers without row policies) hold copies of
	// the same tables: the same retention.
	dbs := []string{cfg.Database}
	if cfg.Cluster == "" {
		tdbs, err := tenantDatabases(ctx, conn, cfg)
		if err != nil {
			return 0, fmt.Errorf("retention: %w", err)
		}
		dbs = append(dbs, tdbs...)
	}
	var targets []target
	for _, db := range dbs {
		for _, t := range schema.Tables() {
			if d := retentionDays(cfg, t.Retention); d > 0 {
				targets = append(targets, target{db, LocalTable(cfg, t.Name), d})
			}
		}
		for _, r := range schema.Rollups() {
			if d := retentionDays(cfg, r.Retention); d > 0 {
				targets = append(targets, target{db, LocalTable(cfg, r.Name), d})
			}
		}
	}
	// On a cluster: the partitions of every shard, dropped ON CLUSTER (a
	// replicated table's DROP PARTITION reaches its replicas).
	parts := "system.parts"
	if cfg.Cluster != "" {
		parts = fmt.Sprintf("cluster('%s', system, parts)", cfg.Cluster)
	}
	dropped := 0
	for _, tg := range targets {
		cutoff := now.UTC().AddDate(0, 0, -tg.days)
		rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM "+parts+" WHERE database = ? AND table = ? AND active", tg.db, tg.name)
		if err != nil {
			return dropped, fmt.Errorf("retention: list partitions of %s: %w", tg.name, err)
		}
		var parts []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return dropped, fmt.Errorf("retention: %w", err)
			}
			parts = append(parts, p)
		}
		rows.Close()
		for _, p := range parts {
			ym, err := strconv.Atoi(p)
			if err != nil || ym < 190001 {
				continue
			}
			// The partition's last instant is the start of the next month.
			end := time.Date(ym/100, time.Month(ym%100)+1, 1, 0, 0, 0, 0, time.UTC)
			if !end.Before(cutoff) {
				continue
			}
			log.Info("retention: dropping partition", "database", tg.db, "table", tg.name, "partition", p, "retention_days", tg.days)
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s%s DROP PARTITION %d", tg.db, tg.name, onCluster(cfg), ym)); err != nil {
				return dropped, fmt.Errorf("retention: drop %s partition %s: %w", tg.name, p, err)
			}
			dropped++
		}
	}
	return dropped, nil
}
