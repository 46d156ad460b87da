package chsink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// tenantTestRows is how many rows the version-5 database gets per table.
const tenantTestRows = 50

// fillUntenanted inserts tenantTestRows rows into each table as version 5
// has it (no tenant column), INSERT SELECT over system.numbers with a value
// per column kind, timestamps from start on (a second apart).
func fillUntenanted(db string, start time.Time) []string {
	return fillUntenantedIn(Configuration{Database: db}, start)
}

// fillUntenantedIn is fillUntenanted into cfg's tables that store the rows
// (on a cluster the local tables of the server it runs on).
func fillUntenantedIn(cfg Configuration, start time.Time) []string {
	db := cfg.Database
	var out []string
	for _, t := range schema.Tables() {
		t = t.Untenanted()
		vals := syntheticValues(t.Columns, start, "concat('r', toString(number))", "")
		out = append(out, fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM system.numbers LIMIT %d",
			db, LocalTable(cfg, t.Name), strings.Join(t.ColumnNames(), ", "), strings.Join(vals, ", "), tenantTestRows))
	}
	return out
}

// tenantChecks are the queries that prove the step kept every row and gave
// it the default tenant: per table and rollup, the rows (and the rows of
// the default tenant) as a "rows\tdefault-tenant rows" line.
func tenantChecks(db string) []string {
	var out []string
	for _, t := range schema.Tables() {
		out = append(out, fmt.Sprintf("SELECT count(), countIf(tenant = 'default') FROM %s.%s", db, t.Name))
	}
	for _, r := range schema.Rollups() {
		out = append(out, fmt.Sprintf("SELECT count(), countIf(tenant = 'default') FROM %s.%s", db, r.Name))
	}
	return out
}

// TestMigrateTenantLive upgrades a version-5 database holding rows in
// every table and rollup on ClickHouse 18.16: every row is kept and
// belongs to the default tenant, the sort keys stay as they were, and
// rows of a tenant written afterwards reach the rollups with their tenant.
func TestMigrateTenantLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	caps, err := Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	db := cfg.Database
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS " + db, createMigrations(cfg)} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range migrations[:5] {
		for _, q := range m.statements(caps, cfg, false) {
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			t.Fatal(err)
		}
	}
	start := testenv.Anchor()
	for _, q := range fillUntenanted(db, start) {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := map[string]uint64{}
	names := append(schema.Names(), rollupNames()...)
	for _, n := range names {
		before[n] = count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", db, n))
		if before[n] == 0 {
			t.Fatalf("%s: no rows before the migration", n)
		}
	}
	// An interrupted step: the column added to one table, nothing recorded.
	if err := conn.Exec(ctx, addTenant(caps, cfg, false)[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, conn, cfg, testLogger(t)); err != nil {
		t.Fatalf("Migrate from version 5: %v", err)
	}
	for _, n := range names {
		got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", db, n))
		def := count(t, conn, fmt.Sprintf("SELECT countIf(tenant = 'default') FROM %s.%s", db, n))
		if got != before[n] || def != got {
			t.Errorf("%s: %d rows before, %d after, %d of them the default tenant's", n, before[n], got, def)
		}
	}
	var key string
	if err := conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?", db, schema.InterfaceKPIs).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(key, "ORDER BY (site, device, interface, ts)") {
		t.Errorf("interface_kpis' sort key changed: %s", key)
	}
	// A tenant's rows after the step reach the rollups with their tenant.
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.interface_kpis (ts, site, device, interface, util_in, oper_status, window_s, kpi_id, tenant)", db))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(start.Add(time.Hour), "s", "d", "e1", 0.5, "UP", uint32(10), "x", "acme"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{schema.InterfaceKPIs1m, schema.InterfaceKPIs1h} {
		if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s WHERE tenant = 'acme'", db, r)); n != 1 {
			t.Errorf("%s: %d rows of tenant acme, want 1", r, n)
		}
	}
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.schema_migrations WHERE version = %d", db, schema.TenantSince)); n != 1 {
		t.Errorf("version %d recorded %d times", schema.TenantSince, n)
	}
}

func rollupNames() []string {
	var out []string
	for _, r := range schema.Rollups() {
		out = append(out, r.Name)
	}
	return out
}

// TestMigrateTenantCHDB is the same upgrade on current ClickHouse (chdb):
// a version-5 schema with rows, the tenant step, every row kept with the
// default tenant; and a fresh installation leads every sort key with the
// tenant.
func TestMigrateTenantCHDB(t *testing.T) {
	cfg := DefaultConfiguration()
	caps := ModernCapabilities()
	stmts := []string{createDatabase(cfg), createMigrations(cfg)}
	for _, m := range migrations[:5] {
		stmts = append(stmts, m.statements(caps, cfg, false)...)
	}
	stmts = append(stmts, fillUntenanted(cfg.Database, testenv.Anchor())...)
	stmts = append(stmts, addTenant(caps, cfg, false)...)
	checks := tenantChecks(cfg.Database)
	stmts = append(stmts, checks...)
	res := runCHDB(t, stmts)
	for i, r := range res[len(res)-len(checks):] {
		f := strings.Fields(r.Output)
		if len(f) != 2 || f[0] != f[1] || f[0] == "0" {
			t.Errorf("%s: %q, want as many default-tenant rows as rows (and some)", checks[i], r.Output)
		}
	}
	// Fresh: the tenant leads every sort key.
	fresh := append(SchemaStatements(caps, cfg), fmt.Sprintf("SELECT name, sorting_key FROM system.tables WHERE database = '%s' AND engine LIKE '%%MergeTree' AND name != '%s' ORDER BY name", cfg.Database, schema.Migrations))
	out := runCHDB(t, fresh)
	lines := strings.Split(strings.TrimSpace(out[len(out)-1].Output), "\n")
	if want := len(schema.Tables()) + len(schema.Rollups()); len(lines) != want {
		t.Fatalf("fresh installation: %d MergeTree tables, want %d:\n%s", len(lines), want, out[len(out)-1].Output)
	}
	for _, l := range lines {
		if f := strings.SplitN(l, "\t", 2); len(f) != 2 || !strings.HasPrefix(f[1], "tenant, ") {
			t.Errorf("fresh installation: sort key %q does not lead with the tenant", l)
		}
	}
}

// TestMigrateTenantClusterLive upgrades a version-5 database on the
// 2-shard 18.16 cluster holding rows in every table and rollup: the step
// runs ON CLUSTER, the Distributed tables are made again with the column,
// and every row read through them is kept and belongs to the default
// tenant; a tenant's rows written through them afterwards reach the
// rollups with their tenant.
func TestMigrateTenantClusterLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	cfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	cfg = nodeConfig(cfg, c, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := conns[0]
	caps, err := Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := execStatements(ctx, conn, cfg, []string{createDatabase(cfg), createMigrations(cfg)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:5] {
		if err := execStatements(ctx, conn, cfg, m.statements(caps, cfg, false)); err != nil {
			t.Fatal(err)
		}
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			t.Fatal(err)
		}
	}
	start := testenv.Anchor()
	for _, q := range fillUntenantedIn(cfg, start) { // shard 1's local tables
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	names := append(schema.Names(), rollupNames()...)
	before := map[string]uint64{}
	for _, n := range names {
		if before[n] = count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", cfg.Database, n)); before[n] == 0 {
			t.Fatalf("%s: no rows before the migration", n)
		}
	}
	if _, err := Migrate(ctx, conn, cfg, testLogger(t)); err != nil {
		t.Fatalf("Migrate from version 5: %v", err)
	}
	for i, cn := range conns {
		for _, n := range names {
			got := count(t, cn, fmt.Sprintf("SELECT count() FROM %s.%s", cfg.Database, n))
			def := count(t, cn, fmt.Sprintf("SELECT countIf(tenant = 'default') FROM %s.%s", cfg.Database, n))
			if got != before[n] || def != got {
				t.Errorf("node %d, %s: %d rows before, %d after, %d of them the default tenant's", i+1, n, before[n], got, def)
			}
		}
	}
	checkClusterSchema(t, cfg, conns)
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.interface_kpis (ts, site, device, interface, oper_status, window_s, kpi_id, tenant)", cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := b.Append(start.Add(time.Hour+time.Duration(i)*time.Second), fmt.Sprintf("site%d", i), "d", "e1", "UP", uint32(10), fmt.Sprint(i), "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the tenant's rows in the rollups of both shards", func() bool {
		return count(t, conns[1], fmt.Sprintf("SELECT count() FROM %s.%s WHERE tenant = 'acme'", cfg.Database, schema.InterfaceKPIs)) == 8 &&
			count(t, conns[1], fmt.Sprintf("SELECT uniqExact(site) FROM %s.%s WHERE tenant = 'acme'", cfg.Database, schema.InterfaceKPIs1m)) == 8
	})
}
