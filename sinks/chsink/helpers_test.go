package chsink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

func randomSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// liveConfig returns a configuration pointing at the live server with a
// throw-away database of its own (testenv.ClickHouseDB, dropped on
// cleanup), and a connection opened as the sink opens its own (Open: LZ4,
// the sink's pool), closed on cleanup.
func liveConfig(t testing.TB) (Configuration, driver.Conn) {
	t.Helper()
	addr, db, _ := testenv.ClickHouseDB(t)
	cfg := DefaultConfiguration()
	cfg.Addresses = []string{addr}
	cfg.Database = db
	cfg.MigrationLockTimeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return cfg, conn
}

func count(t testing.TB, conn driver.Conn, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// startSink starts a sink with cfg, stopped when the test ends.
func startSink(t testing.TB, cfg Configuration, kc *kafka.Configuration) *Sink {
	t.Helper()
	s, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("sink stop: %v", err)
		}
	})
	return s
}
