package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/config"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// TestDemoTwoTenants runs the two-tenant example (deploy/tenancy and
// deploy/scenarios/tenants.yaml: faults in both tenants) against the real
// Kafka broker and ClickHouse server: each tenant's switches are
// collected under its tenant, each tenant's receiver (its own secret)
// gets its own events and none of the other's, the KPI rows are stored
// under the two tenants only, and the summary adds up as in the
// single-tenant demo.
func TestDemoTwoTenants(t *testing.T) {
	brokers := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)

	cfg := pipeline.DefaultConfig()
	if err := config.Load("../deploy/tenancy/telemetry.yaml", &cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%x", rand.Uint64())
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Kafka.Topics.Samples += ".demotenants." + suffix
	cfg.Kafka.Topics.KPIs += ".demotenants." + suffix
	cfg.Kafka.Topics.Remediations += ".demotenants." + suffix
	cfg.Kafka.Topics.DeadLetter += ".demotenants." + suffix
	cfg.Kafka.Partitions = 2
	cfg.Process.GroupID += "-" + suffix
	cfg.Remediate.GroupID += "-" + suffix
	cfg.Remediate.DispatcherGroupID += "-" + suffix
	cfg.ClickHouse.GroupID += "-" + suffix
	cfg.ClickHouse.Database = "telemetry_demotenants_" + suffix
	cfg.ClickHouse.FlushInterval = 500 * time.Millisecond
	dropDatabase := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := cfg.ClickHouse
		c.Addresses = []string{chAddr}
		c.Database = "default"
		if conn, err := chsink.Open(ctx, c); err == nil {
			_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database)
			conn.Close()
		}
	}
	t.Cleanup(dropDatabase)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{
		Duration:       20 * time.Second,
		Scenario:       "../deploy/scenarios/tenants.yaml",
		ClickHouse:     chAddr,
		Kafka:          brokers,
		Window:         2 * time.Second,
		SampleInterval: 500 * time.Millisecond,
		ExactDrain:     true,
	}, &out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	sum.Print(&out)
	t.Log(out.String())
	checkAddsUp(t, sum)
	if !strings.Contains(out.String(), "\ntenants ") {
		t.Errorf("no tenants line in the summary")
	}
	byID := map[string]TenantSummary{}
	for _, ts := range sum.Tenants {
		byID[ts.ID] = ts
	}
	for _, id := range []string{"acme", "globex"} {
		ts := byID[id]
		if ts.Targets != 4 || ts.OverLimit != 0 || ts.Samples == 0 || ts.RateDropped != 0 {
			t.Errorf("%s: %+v", id, ts)
		}
		if ts.Delivered == 0 || ts.Foreign != 0 {
			t.Errorf("%s: %d deliveries to its receiver, %d of another tenant: want some, and none", id, ts.Delivered, ts.Foreign)
		}
	}
	if len(sum.Tenants) != 2 {
		t.Errorf("tenants in the summary: %+v (every site is acme's or globex's)", sum.Tenants)
	}

	// The rows are stored under their tenant.
	c := cfg.ClickHouse
	c.Addresses = []string{chAddr}
	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	conn, err := chsink.Open(qctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, table := range []string{schema.InterfaceKPIs, schema.InterfaceCounters, schema.RemediationEvents} {
		rows, err := conn.Query(qctx, "SELECT tenant, site, count() FROM "+cfg.ClickHouse.Database+"."+table+" GROUP BY tenant, site")
		if err != nil {
			t.Fatal(err)
		}
		owner := map[string]string{"site1": "acme", "site2": "acme", "site3": "globex", "site4": "globex"}
		tenants := map[string]bool{}
		for rows.Next() {
			var tn, site string
			var n uint64
			if err := rows.Scan(&tn, &site, &n); err != nil {
				t.Fatal(err)
			}
			tenants[tn] = true
			if owner[site] != tn {
				t.Errorf("%s: %d rows of %s under tenant %q", table, n, site, tn)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if !tenants["acme"] || !tenants["globex"] || len(tenants) != 2 {
			t.Errorf("%s: tenants %v", table, tenants)
		}
	}
}
