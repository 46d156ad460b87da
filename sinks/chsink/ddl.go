package chsink

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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
	case schema.LowCardinality:
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

func createTable(caps Capabilities, cfg Configuration, t schema.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", cfg.Database, t.Name)
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s%s\n", c.Name, columnType(c.Kind, caps), columnCodec(c.Kind, caps), sep)
	}
	days := retentionDays(cfg, t.Retention)
	fmt.Fprintf(&b, ") ENGINE = ReplacingMergeTree(%s)%s ORDER BY (%s)%s%s",
		t.Version, partitionClause(caps, t.Partitioned), t.OrderBy, ttlClause(caps, days), settingsClause(caps, days))
	return b.String()
}

// addAggs is the step of schema version v for one rollup: the aggregates
// v adds, then the view recreated to fill them. Rows inserted between the
// DROP and the CREATE (milliseconds, only if a sink writes during the
// migration) miss the rollup; buckets from before the step count nothing
// in the new columns.
func addAggs(caps Capabilities, cfg Configuration, r schema.Rollup, v uint32) []string {
	var out []string
	for _, a := range r.Aggs {
		if a.Since == v {
			out = append(out, fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s AggregateFunction(%s, %s)", cfg.Database, r.Name, a.Column, a.Func, a.Type))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return append(out,
		fmt.Sprintf("DROP TABLE IF EXISTS %s.%s_mv", cfg.Database, r.Name),
		createRollup(caps, cfg, r, v)[1])
}

// createRollup renders a rollup and its materialized view as of schema
// version v.
func createRollup(caps Capabilities, cfg Configuration, r schema.Rollup, v uint32) []string {
	aggs := r.AggsAt(v)
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", cfg.Database, r.Name)
	fmt.Fprintf(&b, "  ts %s%s,\n", columnType(schema.Time, caps), columnCodec(schema.Time, caps))
	for _, k := range r.Keys {
		fmt.Fprintf(&b, "  %s %s,\n", k, columnType(schema.LowCardinality, caps))
	}
	for i, a := range aggs {
		sep := ","
		if i == len(aggs)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s AggregateFunction(%s, %s)%s\n", a.Column, a.Func, a.Type, sep)
	}
	days := retentionDays(cfg, r.Retention)
	fmt.Fprintf(&b, ") ENGINE = AggregatingMergeTree()%s ORDER BY (%s, ts)%s%s",
		partitionClause(caps, true), strings.Join(r.Keys, ", "), ttlClause(caps, days), settingsClause(caps, days))
	// "toStartOfMinute(ts) AS ts ... GROUP BY ts" groups by the bucket on
	// 18.16 and on 26.x alike (checked by the live and chdb tests).
	sel := []string{fmt.Sprintf("%s(ts) AS ts", r.Bucket)}
	sel = append(sel, r.Keys...)
	for _, a := range aggs {
		sel = append(sel, fmt.Sprintf("%sState(%s) AS %s", a.Func, a.Expr, a.Column))
	}
	mv := fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s_mv TO %s.%s AS\nSELECT %s\nFROM %s.%s\nGROUP BY %s, ts",
		cfg.Database, r.Name, cfg.Database, r.Name, strings.Join(sel, ", "),
		cfg.Database, r.Source, strings.Join(r.Keys, ", "))
	return []string{b.String(), mv}
}

func createMigrations(cfg Configuration) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (\n  version UInt32,\n  name String,\n  applied_at DateTime('UTC')\n) ENGINE = ReplacingMergeTree() ORDER BY (version)",
		cfg.Database, schema.Migrations)
}

// SchemaStatements renders the whole schema (database, schema_migrations,
// base tables, rollups and their views) for a server with caps, in the
// order they must run. Every statement is idempotent (IF NOT EXISTS).
func SchemaStatements(caps Capabilities, cfg Configuration) []string {
	out := []string{
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", cfg.Database),
		createMigrations(cfg),
	}
	for _, m := range migrations {
		out = append(out, m.statements(caps, cfg)...)
	}
	return out
}
