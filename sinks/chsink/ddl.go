package chsink

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// Capabilities is what the server supports, found by Probe. The schema is
// rendered from it: one definition, two dialects.
type Capabilities struct {
	// Version is SELECT version(); Major and Minor are parsed from it.
	Version      string
	Major, Minor int
	// DateTime64 (20.1+): sub-second timestamps.
	DateTime64 bool
	// LowCardinality (19.x+) for low-cardinality strings.
	LowCardinality bool
	// Codecs (19.1+): per-column compression codecs (Delta, DoubleDelta, Gorilla, ZSTD).
	Codecs bool
	// TTL (19.6+): table TTLs for retention. Without it the sink drops old
	// monthly partitions itself.
	TTL bool
}

// Modern reports whether every modern feature is there.
func (c Capabilities) Modern() bool {
	return c.DateTime64 && c.LowCardinality && c.Codecs && c.TTL
}

// ModernCapabilities is what any ClickHouse 24.x+ (and chdb) supports; used
// to render the modern schema without a server.
func ModernCapabilities() Capabilities {
	return Capabilities{Version: "24.8", Major: 24, Minor: 8, DateTime64: true, LowCardinality: true, Codecs: true, TTL: true}
}

// LegacyCapabilities is what ClickHouse 18.16 supports.
func LegacyCapabilities() Capabilities {
	return Capabilities{Version: "18.16.1", Major: 18, Minor: 16}
}

// Probe asks the server what it supports: its version, then explicit
// feature checks (a failing probe query means "not supported").
func Probe(ctx context.Context, conn driver.Conn) (Capabilities, error) {
	var c Capabilities
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&c.Version); err != nil {
		return c, fmt.Errorf("clickhouse probe version: %w", err)
	}
	parts := strings.SplitN(c.Version, ".", 3)
	if len(parts) >= 2 {
		c.Major, _ = strconv.Atoi(parts[0])
		c.Minor, _ = strconv.Atoi(parts[1])
	}
	ok := func(q string) bool {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return false
		}
		for rows.Next() {
		}
		err = rows.Err()
		_ = rows.Close()
		return err == nil
	}
	c.DateTime64 = ok("SELECT toDateTime64('2020-01-01 00:00:00', 3, 'UTC')")
	// LowCardinality exists on 18.x but is experimental there (needs
	// allow_experimental_low_cardinality_type): use it from 19.x on.
	c.LowCardinality = c.Major >= 19 && ok("SELECT toLowCardinality('x')")
	// system.columns grew compression_codec together with codecs (19.1).
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'columns' AND name = 'compression_codec'").Scan(&n); err == nil {
		c.Codecs = n > 0
	}
	// Table TTL arrived in 19.6; no side-effect-free probe query exists, so
	// it goes by version, confirmed by the system.parts TTL columns.
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'parts' AND name LIKE '%ttl%'").Scan(&n); err == nil {
		c.TTL = n > 0 && (c.Major > 19 || (c.Major == 19 && c.Minor >= 6))
	}
	return c, nil
}

// String is a one-line summary for logs.
func (c Capabilities) String() string {
	return fmt.Sprintf("version=%s datetime64=%t lowcardinality=%t codecs=%t ttl=%t", c.Version, c.DateTime64, c.LowCardinality, c.Codecs, c.TTL)
}

// columnType renders a column kind for a server with caps.
func columnType(k schema.Kind, caps Capabilities) string {
	switch k {
	case schema.Time:
		if caps.DateTime64 {
			return "DateTime64(3, 'UTC')"
		}
		return "DateTime('UTC')"
	case schema.TimeNano:
		if caps.DateTime64 {
			return "DateTime64(9, 'UTC')"
		}
		return "DateTime('UTC')"
	case schema.LowCardinality, schema.Tenant:
		if caps.LowCardinality {
			return "LowCardinality(String)"
		}
		return "String"
	case schema.String:
		return "String"
	case schema.Float64:
		return "Float64"
	case schema.UInt64, schema.Counter, schema.Sequence:
		return "UInt64"
	case schema.UInt32:
		return "UInt32"
	case schema.UInt8:
		return "UInt8"
	case schema.Int32:
		return "Int32"
	case schema.Int64:
		return "Int64"
	}
	// A kind the schema package added and this switch misses: the server
	// rejects the DDL, Migrate fails with its error (and so do the tests).
	return "UnknownKind_" + k.String()
}

// columnDef renders a column's type, then its DEFAULT (the tenant column:
// the default tenant), then its codec.
func columnDef(c schema.Column, caps Capabilities, cfg Configuration) string {
	return columnType(c.Kind, caps) + columnDefault(c.Kind, cfg) + columnCodec(c.Kind, caps)
}

// columnDefault renders a column kind's DEFAULT clause: the tenant column's
// is the default tenant, so rows without one (written before the column
// existed, or by a writer that does not send it) belong to it.
func columnDefault(k schema.Kind, cfg Configuration) string {
	if k != schema.Tenant {
		return ""
	}
	return " DEFAULT '" + defaultTenant(cfg) + "'"
}

// defaultTenant is cfg.DefaultTenant, or tenant.Default when unset.
func defaultTenant(cfg Configuration) string {
	if cfg.DefaultTenant == "" {
		return tenant.Default
	}
	return cfg.DefaultTenant
}

// columnCodec renders a column kind's compression codec (servers with codecs).
func columnCodec(k schema.Kind, caps Capabilities) string {
	if !caps.Codecs {
		return ""
	}
	switch k {
	case schema.Time, schema.TimeNano, schema.Sequence:
		return " CODEC(DoubleDelta, ZSTD(1))"
	case schema.Counter:
		return " CODEC(Delta, ZSTD(1))"
	case schema.Float64:
		return " CODEC(Gorilla, ZSTD(1))"
	case schema.String:
		return " CODEC(ZSTD(1))"
	}
	return ""
}

func retentionDays(cfg Configuration, class schema.Retention) int {
	switch class {
	case schema.RetainKPI:
		return cfg.RetentionDays
	case schema.RetainRaw:
		return cfg.RawRetentionDays
	case schema.RetainRollup:
		return cfg.RollupRetentionDays
	}
	return 0
}

// ttlClause renders the TTL of a table (modern servers only).
func ttlClause(caps Capabilities, days int) string {
	if !caps.TTL || days <= 0 {
		return ""
	}
	return fmt.Sprintf(" TTL toDateTime(ts) + toIntervalDay(%d)", days)
}

func partitionClause(caps Capabilities, partitioned bool) string {
	if !partitioned {
		return ""
	}
	if caps.TTL {
		// Daily partitions: TTL drops whole parts (ttl_only_drop_parts).
		return " PARTITION BY toYYYYMMDD(ts)"
	}
	// Old servers: monthly partitions, dropped by the sink's retention step.
	return " PARTITION BY toYYYYMM(ts)"
}

func settingsClause(caps Capabilities, days int) string {
	if caps.TTL && days > 0 {
		return " SETTINGS ttl_only_drop_parts = 1"
	}
	return ""
}

// createTable renders a base table (on a cluster its replicated local
// table, then its Distributed table). Without tenant it is the table as it
// was before schema.TenantSince (Untenanted): what a step older than that
// creates on an installation being upgraded, whose tenant column the
// TenantSince step adds.
func createTable(caps Capabilities, cfg Configuration, t schema.Table, tenant bool) []string {
	if !tenant {
		t = t.Untenanted()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s%s (\n", cfg.Database, LocalTable(cfg, t.Name), onCluster(cfg))
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s\n", c.Name, columnDef(c, caps, cfg), sep)
	}
	days := retentionDays(cfg, t.Retention)
	var args []string
	if t.Version != "" {
		args = append(args, t.Version)
	}
	fmt.Fprintf(&b, ") ENGINE = %s%s ORDER BY (%s)%s%s",
		engine(cfg, "ReplacingMergeTree", t.Name, args...), partitionClause(caps, t.Partitioned), t.OrderBy, ttlClause(caps, days), settingsClause(caps, days))
	out := []string{b.String()}
	if cfg.Cluster != "" {
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name + " " + columnType(c.Kind, caps) + columnDefault(c.Kind, cfg)
		}
		out = append(out, createDistributed(cfg, t.Name, cols))
	}
	return out
}

// createDistributed renders the Distributed table named name over its
// <name>_local tables, sharded by ShardingKey(name). Its columns are the
// local table's, without codecs (it stores nothing).
func createDistributed(cfg Configuration, name string, cols []string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s (\n  %s\n) ENGINE = Distributed(%s, %s, %s, %s)",
		cfg.Database, name, onCluster(cfg), strings.Join(cols, ",\n  "),
		cfg.Cluster, cfg.Database, LocalTable(cfg, name), ShardingKey(name))
}

// addAggs is the step of schema version v for one rollup: the aggregates
// v adds, then the view recreated to fill them. Rows inserted between the
// DROP and the CREATE (milliseconds, only if a sink writes during the
// migration) miss the rollup; buckets from before the step count nothing
// in the new columns.
func addAggs(caps Capabilities, cfg Configuration, r schema.Rollup, v uint32, tenant bool) []string {
	var out []string
	for _, a := range r.Aggs {
		if a.Since == v {
			out = append(out, fmt.Sprintf("ALTER TABLE %s.%s%s ADD COLUMN %s AggregateFunction(%s, %s)", cfg.Database, LocalTable(cfg, r.Name), onCluster(cfg), a.Column, a.Func, a.Type))
		}
	}
	if len(out) == 0 {
		return nil
	}
	st := createRollup(caps, cfg, r, v, tenant)
	if cfg.Cluster != "" {
		// The Distributed table is made again with the new columns: 18.16
		// runs no ALTER ON CLUSTER of a table that is not replicated on a
		// cluster with internal_replication, and it stores nothing.
		out = append(out, dropTable(cfg, r.Name), st[1])
	}
	return append(out, dropTable(cfg, r.Name+"_mv"), st[len(st)-1])
}

func dropTable(cfg Configuration, name string) string {
	return fmt.Sprintf("DROP TABLE IF EXISTS %s.%s%s", cfg.Database, name, onCluster(cfg))
}

// createRollup renders a rollup and its materialized view as of schema
// version v: the rollup table (on a cluster its replicated local table, then
// its Distributed table), the view last. On a cluster the view is on the
// local tables: each server rolls up the rows it stores.
//
// Its keys are those of version v (without the tenant before
// schema.TenantSince), or with tenant every key: the rollup as a fresh
// installation creates it.
func createRollup(caps Capabilities, cfg Configuration, r schema.Rollup, v uint32, tenant bool) []string {
	aggs := r.AggsAt(v)
	keys := r.KeysAt(v)
	if tenant {
		keys = r.Keys
	}
	r.Keys = keys
	cols := []string{fmt.Sprintf("ts %s", columnType(schema.Time, caps))}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s%s (\n", cfg.Database, LocalTable(cfg, r.Name), onCluster(cfg))
	fmt.Fprintf(&b, "  ts %s%s,\n", columnType(schema.Time, caps), columnCodec(schema.Time, caps))
	for _, k := range r.Keys {
		fmt.Fprintf(&b, "  %s %s,\n", k, rollupKeyType(k, caps, cfg))
		cols = append(cols, k+" "+rollupKeyType(k, caps, cfg))
	}
	for i, a := range aggs {
		sep := ","
		if i == len(aggs)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s AggregateFunction(%s, %s)%s\n", a.Column, a.Func, a.Type, sep)
		cols = append(cols, fmt.Sprintf("%s AggregateFunction(%s, %s)", a.Column, a.Func, a.Type))
	}
	days := retentionDays(cfg, r.Retention)
	fmt.Fprintf(&b, ") ENGINE = %s%s ORDER BY (%s, ts)%s%s",
		engine(cfg, "AggregatingMergeTree", r.Name), partitionClause(caps, true), strings.Join(r.Keys, ", "), ttlClause(caps, days), settingsClause(caps, days))
	// "toStartOfMinute(ts) AS ts ... GROUP BY ts" groups by the bucket on
	// 18.16 and on 26.x alike (checked by the live and chdb tests).
	sel := []string{fmt.Sprintf("%s(ts) AS ts", r.Bucket)}
	sel = append(sel, r.Keys...)
	for _, a := range aggs {
		sel = append(sel, fmt.Sprintf("%sState(%s) AS %s", a.Func, a.Expr, a.Column))
	}
	mv := fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s_mv%s TO %s.%s AS\nSELECT %s\nFROM %s.%s\nGROUP BY %s, ts",
		cfg.Database, r.Name, onCluster(cfg), cfg.Database, LocalTable(cfg, r.Name), strings.Join(sel, ", "),
		cfg.Database, LocalTable(cfg, r.Source), strings.Join(r.Keys, ", "))
	out := []string{b.String()}
	if cfg.Cluster != "" {
		out = append(out, createDistributed(cfg, r.Name, cols))
	}
	return append(out, mv)
}

// rollupKeyType renders a rollup key column's type: a low-cardinality
// string, the tenant with its default.
func rollupKeyType(k string, caps Capabilities, cfg Configuration) string {
	if k == schema.TenantColumn {
		return columnType(schema.Tenant, caps) + columnDefault(schema.Tenant, cfg)
	}
	return columnType(schema.LowCardinality, caps)
}

// createMigrations renders schema_migrations. On a cluster it is one
// table replicated on every node (MigrationsReplicationPath), so whichever
// node a migrator talks to holds the whole record.
func createMigrations(cfg Configuration) string {
	eng := "ReplacingMergeTree()"
	if cfg.Cluster != "" {
		eng = fmt.Sprintf("ReplicatedReplacingMergeTree('%s', '{replica}')", MigrationsReplicationPath(cfg))
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s (\n  version UInt32,\n  name String,\n  applied_at DateTime('UTC')\n) ENGINE = %s ORDER BY (version)",
		cfg.Database, schema.Migrations, onCluster(cfg), eng)
}

// SchemaStatements renders the whole schema (database, schema_migrations,
// base tables, rollups and their views) for a server with caps, in the
// order they must run. Every statement is idempotent (IF NOT EXISTS).
// With cfg.Cluster set it is the cluster's schema: every statement ON
// CLUSTER, replicated <table>_local tables and Distributed tables.
func SchemaStatements(caps Capabilities, cfg Configuration) []string {
	out := []string{createDatabase(cfg), createMigrations(cfg)}
	for _, m := range migrations {
		if !m.upgradeOnly {
			out = append(out, m.statements(caps, cfg, true)...)
		}
	}
	return out
}

func createDatabase(cfg Configuration) string {
	return fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s%s", cfg.Database, onCluster(cfg))
}

// Cluster layout: on a cluster (Configuration.Cluster) each table's rows
// are in a replicated local table per shard, <table>_local, and the table's
// own name is a Distributed table over them, sharded by ShardingKey: the
// sink writes and the dashboards and the report read through it, so no
// query changes. Rollups are the same: <rollup>_local filled by the view on
// the source's local table, <rollup> Distributed.

// LocalSuffix ends the name of a table's local (per shard) table on a
// cluster.
const LocalSuffix = "_local"

// LocalTable is the table that stores name's rows on each server: name on
// one server, name + LocalSuffix on a cluster.
func LocalTable(cfg Configuration, name string) string {
	if cfg.Cluster == "" {
		return name
	}
	return name + LocalSuffix
}

// ShardingKey is the Distributed table's sharding expression for a table
// or rollup: a hash of its site (src_site for links and probes), so a
// site's rows stay on one shard and a query for a site reads one shard.
// Every column it hashes is fixed by the table's sort key (site is part of
// the key; an event's site is part of its event_id), so the rows a
// ReplacingMergeTree must collapse (a replay) are always on the same shard
// and FINAL through the Distributed table stays exact. Tables without a
// site: pipeline_kpis by instance, deadletters by source topic and
// partition.
func ShardingKey(name string) string {
	return "cityHash64(" + strings.Join(ShardingColumns(name), ", ") + ")"
}

// ShardingColumns are the columns ShardingKey hashes.
func ShardingColumns(name string) []string {
	switch name {
	case schema.LinkKPIs, schema.ProbeResults, schema.LinkKPIs1m, schema.LinkKPIs1h:
		return []string{"src_site"}
	case schema.PipelineKPIs:
		return []string{"instance"}
	case schema.DeadLetters:
		return []string{"source_topic", "source_partition"}
	}
	return []string{"site"}
}

func onCluster(cfg Configuration) string {
	if cfg.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + cfg.Cluster
}

// engine renders a table engine: kind(args) on one server,
// Replicated<kind>('<path>', '{replica}', args) on a cluster.
func engine(cfg Configuration, kind, table string, args ...string) string {
	if cfg.Cluster == "" {
		return kind + "(" + strings.Join(args, ", ") + ")"
	}
	all := append([]string{"'" + ReplicationPath(cfg, LocalTable(cfg, table)) + "'", "'{replica}'"}, args...)
	return "Replicated" + kind + "(" + strings.Join(all, ", ") + ")"
}

// ReplicationPath is the ZooKeeper path of table (a local table's name)
// on cfg's cluster: cfg.ReplicationPath with {cluster}, {database} and
// {table} filled in; the server fills in its own macros.
func ReplicationPath(cfg Configuration, table string) string {
	return strings.NewReplacer("{cluster}", cfg.Cluster, "{database}", cfg.Database, "{table}", table).Replace(cfg.ReplicationPath)
}

// MigrationsReplicationPath is schema_migrations' path: ReplicationPath
// with {shard} replaced by "all", one table replicated on every node.
func MigrationsReplicationPath(cfg Configuration) string {
	return strings.ReplaceAll(ReplicationPath(cfg, schema.Migrations), "{shard}", "all")
}
