package chsink

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshtelemetry/telemetry/sinks/schema"
)

func clusterTestConfig() Configuration {
	cfg := DefaultConfiguration()
	cfg.Cluster = "telemetry"
	return cfg
}

// TestClusterDDL checks the cluster's schema as rendered for both
// dialects: every statement ON CLUSTER, a replicated local table and a
// Distributed table per table and rollup, the views on the local tables,
// schema_migrations replicated on every node; and the single server's
// schema without any of it.
func TestClusterDDL(t *testing.T) {
	cfg := clusterTestConfig()
	for _, caps := range []Capabilities{LegacyCapabilities(), ModernCapabilities()} {
		stmts := SchemaStatements(caps, cfg)
		all := strings.Join(stmts, "\n")
		for _, q := range stmts {
			if !strings.Contains(q, " ON CLUSTER telemetry") {
				t.Errorf("%s: not ON CLUSTER:\n%s", caps.Version, q)
			}
		}
		for _, tb := range schema.Tables() {
			ver := ""
			if tb.Version != "" {
				ver = ", " + tb.Version
			}
			for _, want := range []string{
				fmt.Sprintf("CREATE TABLE IF NOT EXISTS telemetry.%s_local ON CLUSTER telemetry (", tb.Name),
				fmt.Sprintf("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/telemetry/{shard}/telemetry/%s_local', '{replica}'%s)", tb.Name, ver),
				fmt.Sprintf("CREATE TABLE IF NOT EXISTS telemetry.%s ON CLUSTER telemetry (", tb.Name),
				fmt.Sprintf("ENGINE = Distributed(telemetry, telemetry, %s_local, %s)", tb.Name, ShardingKey(tb.Name)),
			} {
				if !strings.Contains(all, want) {
					t.Errorf("%s: %s: no %q", caps.Version, tb.Name, want)
				}
			}
		}
		for _, r := range schema.Rollups() {
			for _, want := range []string{
				fmt.Sprintf("ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/telemetry/{shard}/telemetry/%s_local', '{replica}')", r.Name),
				fmt.Sprintf("ENGINE = Distributed(telemetry, telemetry, %s_local, %s)", r.Name, ShardingKey(r.Name)),
				fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry.%s_mv ON CLUSTER telemetry TO telemetry.%s_local AS", r.Name, r.Name),
				fmt.Sprintf("FROM telemetry.%s_local\n", r.Source),
			} {
				if !strings.Contains(all, want) {
					t.Errorf("%s: %s: no %q", caps.Version, r.Name, want)
				}
			}
		}
		if want := "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/telemetry/all/telemetry/schema_migrations', '{replica}') ORDER BY (version)"; !strings.Contains(all, want) {
			t.Errorf("%s: schema_migrations: no %q", caps.Version, want)
		}
		// The Distributed tables carry no codec, TTL or partition.
		for _, q := range stmts {
			if strings.Contains(q, "ENGINE = Distributed(") && (strings.Contains(q, "CODEC") || strings.Contains(q, "TTL") || strings.Contains(q, "PARTITION")) {
				t.Errorf("%s: Distributed table with storage clauses:\n%s", caps.Version, q)
			}
		}
		single := strings.Join(SchemaStatements(caps, DefaultConfiguration()), "\n")
		for _, bad := range []string{"ON CLUSTER", "_local", "Replicated", "Distributed"} {
			if strings.Contains(single, bad) {
				t.Errorf("%s: the single server's schema has %q", caps.Version, bad)
			}
		}
	}
	// The path template: the sink's placeholders filled, the server's kept.
	cfg.ReplicationPath = "/ch/{cluster}-{layer}/{shard}/{database}.{table}"
	if got := ReplicationPath(cfg, "x_local"); got != "/ch/telemetry-{layer}/{shard}/telemetry.x_local" {
		t.Errorf("ReplicationPath = %q", got)
	}
	if got := MigrationsReplicationPath(cfg); got != "/ch/telemetry-{layer}/all/telemetry.schema_migrations" {
		t.Errorf("MigrationsReplicationPath = %q", got)
	}
}

// TestShardingKeys: every table and rollup is sharded by columns it has,
// fixed by its sort key, so the rows FINAL collapses are on one shard; the
// site-bearing ones by their site.
func TestShardingKeys(t *testing.T) {
	keyCols := func(orderBy string) []string { return strings.Split(strings.ReplaceAll(orderBy, " ", ""), ",") }
	for _, tb := range schema.Tables() {
		cols := ShardingColumns(tb.Name)
		for _, c := range cols {
			if _, ok := tb.Column(c); !ok {
				t.Errorf("%s: sharding column %s is not a column", tb.Name, c)
			}
			// An event's site is part of its event_id (rules.EventID hashes
			// the entity, site included): fixed by the sort key too.
			if !slices.Contains(keyCols(tb.OrderBy), c) && tb.Name != schema.RemediationEvents {
				t.Errorf("%s: sharding column %s is not in the sort key (%s)", tb.Name, c, tb.OrderBy)
			}
		}
		if _, ok := tb.Column("site"); ok && !slices.Equal(cols, []string{"site"}) {
			t.Errorf("%s has a site but is sharded by %v", tb.Name, cols)
		}
	}
	for _, r := range schema.Rollups() {
		src, _ := schema.TableNamed(r.Source)
		if !slices.Equal(ShardingColumns(r.Name), ShardingColumns(src.Name)) {
			t.Errorf("%s sharded by %v, its source %s by %v", r.Name, ShardingColumns(r.Name), src.Name, ShardingColumns(src.Name))
		}
		for _, c := range ShardingColumns(r.Name) {
			if !slices.Contains(r.Keys, c) {
				t.Errorf("%s: sharding column %s is not a key", r.Name, c)
			}
		}
	}
}

func TestValidateCluster(t *testing.T) {
	for _, tc := range []struct {
		key    string
		change func(*Configuration)
	}{
		{"cluster", func(c *Configuration) { c.Cluster = "bad name" }},
		{"replication-path", func(c *Configuration) { c.Cluster = "c"; c.ReplicationPath = "clickhouse/{database}/{table}" }},
		{"replication-path", func(c *Configuration) { c.Cluster = "c"; c.ReplicationPath = "/clickhouse/{database}/{table}'" }},
		{"replication-path", func(c *Configuration) { c.Cluster = "c"; c.ReplicationPath = "/clickhouse/{shard}/{table}" }},
		{"replication-path", func(c *Configuration) { c.Cluster = "c"; c.ReplicationPath = "/clickhouse/{shard}/{database}" }},
	} {
		c := DefaultConfiguration()
		tc.change(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("%s: got %v, want an error starting with the key", tc.key, err)
		}
	}
	c := DefaultConfiguration()
	c.ReplicationPath = "" // not used without a cluster
	if err := c.Validate(); err != nil {
		t.Errorf("no cluster: %v", err)
	}
}

var replicatedEngine = regexp.MustCompile(`Replicated(\w+)\('[^']*', '\{replica\}'(, )?`)

// localPart is a cluster statement as one server without ZooKeeper runs
// it: not ON CLUSTER, the engine not replicated; "" for a Distributed table.
func localPart(q string) string {
	if strings.Contains(q, "ENGINE = Distributed(") {
		return ""
	}
	q = strings.ReplaceAll(q, " ON CLUSTER telemetry", "")
	return replicatedEngine.ReplaceAllString(q, "$1(")
}

// TestClusterSchemaCHDB checks the cluster's DDL for current ClickHouse in
// chdb, which has no cluster and no Keeper: every statement (the schema,
// a step that adds rollup columns, the TTL and retention ALTERs) parses
// (formatQuery); the local tables and their views run, with the engines
// made plain, and the sink's rows inserted into the local tables fill the
// rollups as on one server. The ON CLUSTER execution, the replicated
// engines and the Distributed tables are checked by the live tests on the
// 18.16 cluster only.
func TestClusterSchemaCHDB(t *testing.T) {
	cfg := clusterTestConfig()
	caps := ModernCapabilities()
	stmts := SchemaStatements(caps, cfg)
	parse := append(slices.Clone(stmts), addAggs(caps, cfg, schema.Rollups()[0], 4, true)...)
	parse = append(parse, addTenant(caps, cfg, false)...)
	parse = append(parse,
		fmt.Sprintf("ALTER TABLE telemetry.interface_kpis_local%s MODIFY TTL toDateTime(ts) + toIntervalDay(10)", onCluster(cfg)),
		fmt.Sprintf("ALTER TABLE telemetry.interface_kpis_local%s DROP PARTITION 202001", onCluster(cfg)),
		fmt.Sprintf("SELECT DISTINCT partition FROM cluster('%s', system, parts) WHERE database = 'telemetry'", cfg.Cluster),
		fmt.Sprintf("SYSTEM SYNC REPLICA telemetry.%s", schema.Migrations),
		lockStatement(cfg))
	var run []string
	for _, q := range parse {
		run = append(run, "SELECT formatQuery('"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(q)+"')")
	}
	nparse := len(run)
	for _, q := range stmts {
		if l := localPart(q); l != "" {
			run = append(run, l)
		}
	}
	b := fillBuffers(t, cfg.Database)
	for _, tb := range b.order {
		if tb.rows > 0 {
			run = append(run, strings.Replace(valuesSQL(tb), "INSERT INTO telemetry."+tb.t.Name+" (", "INSERT INTO telemetry."+tb.t.Name+"_local (", 1))
		}
	}
	queries := []struct{ sql, want string }{
		{"SELECT count() FROM telemetry.interface_kpis_local FINAL", "240"},
		{"SELECT round(avgMerge(util_in_avg), 4), maxMerge(util_in_max), maxMerge(speed_bps) FROM telemetry.interface_kpis_1m_local WHERE site = 'site0' AND device = 'dev0' AND interface = 'eth1'", "0.4633\t0.97\t10000000000"},
		{"SELECT dst_site, round(avgMerge(rtt_ms_avg), 2), maxMerge(rtt_p95_ms_max) FROM telemetry.link_kpis_1m_local WHERE dst_site = 'site2' GROUP BY dst_site", "site2\t11\t20"},
		{"SELECT count() FROM system.tables WHERE database = 'telemetry' AND engine NOT IN ('ReplacingMergeTree', 'AggregatingMergeTree', 'MaterializedView')", "0"},
		{"SELECT count() FROM system.tables WHERE database = 'telemetry' AND name LIKE '%_local'", fmt.Sprint(len(schema.Tables()) + len(schema.Rollups()))},
	}
	base := len(run)
	for _, q := range queries {
		run = append(run, q.sql)
	}
	res := runCHDB(t, run)
	for i := range nparse {
		if got := strings.TrimSpace(res[i].Output); got == "" {
			t.Errorf("formatQuery gave nothing for\n%s", parse[i])
		}
	}
	for i, q := range queries {
		if got := strings.TrimSpace(res[base+i].Output); got != q.want {
			t.Errorf("%s\n got %q\nwant %q", q.sql, got, q.want)
		}
	}
}
