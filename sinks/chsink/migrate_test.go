package chsink

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

func TestMigrateLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caps, err := Migrate(ctx, conn, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	t.Logf("capabilities: %s", caps)
	tables := func() uint64 {
		return count(t, conn, "SELECT count() FROM system.tables WHERE database = ?", cfg.Database)
	}
	want := uint64(len(schema.Tables()) + 2*len(schema.Rollups()) + 1) // + schema_migrations
	if got := tables(); got != want {
		t.Fatalf("tables after first migrate = %d, want %d", got, want)
	}
	if _, err := Migrate(ctx, conn, cfg, testLogger(t)); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if got := tables(); got != want {
		t.Fatalf("tables after second migrate = %d, want %d", got, want)
	}
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.schema_migrations", cfg.Database)); n != uint64(len(migrations)) {
		t.Fatalf("schema_migrations rows = %d, want %d", n, len(migrations))
	}
}

func TestMigrateConcurrentLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Open(ctx, cfg)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_, err = Migrate(ctx, c, cfg, testLogger(t).With("instance", i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	want := uint64(len(schema.Tables()) + 2*len(schema.Rollups()) + 1)
	if got := count(t, conn, "SELECT count() FROM system.tables WHERE database = ?", cfg.Database); got != want {
		t.Fatalf("tables = %d, want %d", got, want)
	}
	// Every version recorded exactly once (plain count, no FINAL).
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.schema_migrations", cfg.Database)); n != uint64(len(migrations)) {
		t.Fatalf("schema_migrations rows = %d, want %d (each version once)", n, len(migrations))
	}
	if n := count(t, conn, fmt.Sprintf("SELECT uniqExact(version) FROM %s.schema_migrations", cfg.Database)); n != uint64(len(migrations)) {
		t.Fatalf("distinct versions = %d, want %d", n, len(migrations))
	}
}

// TestMigrateNotUpRollupsLive upgrades a database at version 3 with rollup
// rows to version 4, after an interruption that left the new column added
// to one rollup: the step completes, old buckets count 0 windows not UP and
// new inserts fill the column.
func TestMigrateNotUpRollupsLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caps, err := Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	db := cfg.Database
	// Version 3, as an older build left it.
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS " + db, createMigrations(cfg)} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range migrations[:3] {
		for _, q := range m.statements(caps, cfg, false) {
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := recordMigration(ctx, conn, cfg, m); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(ts time.Time, status string) {
		t.Helper()
		// INSERT .. VALUES through Exec hangs on 18.16: a batch, as the sink does.
		b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.interface_kpis (ts, site, device, interface, oper_status, window_s, kpi_id)", db))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(ts, "s", "d", "e1", status, uint32(10), "x"); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	t0 := testenv.Anchor()
	insert(t0, "DOWN") // before the migration: the rollups have no column for it
	// Interrupted step 4: the first statement ran, nothing was recorded.
	if err := conn.Exec(ctx, addAggs(caps, cfg, schema.Rollups()[0], 4, false)[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, conn, cfg, testLogger(t)); err != nil {
		t.Fatalf("Migrate from version 3: %v", err)
	}
	insert(t0.Add(time.Hour), "DOWN")
	insert(t0.Add(time.Hour+10*time.Second), "UP")
	insert(t0.Add(time.Hour+20*time.Second), "LOWER_LAYER_DOWN")
	for _, r := range []string{schema.InterfaceKPIs1m, schema.InterfaceKPIs1h} {
		got := count(t, conn, fmt.Sprintf("SELECT toUInt64(sumMerge(not_up_windows)) FROM %s.%s WHERE ts >= toDateTime(%d)", db, r, t0.Add(time.Hour).Unix()))
		old := count(t, conn, fmt.Sprintf("SELECT toUInt64(sumMerge(not_up_windows)) FROM %s.%s WHERE ts < toDateTime(%d)", db, r, t0.Add(time.Hour).Unix()))
		if got != 2 || old != 0 {
			t.Errorf("%s: not_up_windows after the migration = %d (want 2), before = %d (want 0)", r, got, old)
		}
	}
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.schema_migrations", db)); n != uint64(len(migrations)) {
		t.Fatalf("schema_migrations rows = %d, want %d", n, len(migrations))
	}
}
