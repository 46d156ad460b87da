package clickhouse

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
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
	want := uint64(len(allTables()) + 2*len(rollups) + 1) // + schema_migrations
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
	want := uint64(len(allTables()) + 2*len(rollups) + 1)
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
