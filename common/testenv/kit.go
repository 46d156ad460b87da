package testenv

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Eventually polls cond every 20 ms until it holds, and fails the test
// after timeout saying what it waited for. Tests wait for a state with it,
// never with a bare sleep.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Long marks a long suite (faults, end to end, security: real clusters and
// processes, minutes each): it skips under `go test -short`. `make test`
// and CI run everything.
func Long(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("long suite: skipped with -short")
	}
}

// Main is a package's TestMain: it runs the tests, then removes what the
// kit left behind (the binary Binary built). With long set (the faults,
// end-to-end and security suites: real clusters and processes, minutes
// each), `go test -short` skips the whole package; `make test` and CI run
// everything.
func Main(m *testing.M, long bool) {
	flag.Parse()
	if long && testing.Short() {
		fmt.Println("long suite: skipped with -short")
		os.Exit(0)
	}
	code := m.Run()
	if binary.path != "" {
		_ = os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary builds cmd/telemetry once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "telemetry-test-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "telemetry")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binary.path, "github.com/meshtelemetry/telemetry/cmd/telemetry").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build cmd/telemetry: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// ClickHouseDB creates a throw-away database on the live ClickHouse server
// (TELEMETRY_TEST_CLICKHOUSE) and drops it when the test ends. It returns
// the server's address, the database's name and a connection to the
// server (default database, closed at the end).
func ClickHouseDB(t testing.TB) (addr, db string, conn driver.Conn) {
	t.Helper()
	addr = ClickHouse(t)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr},
		Auth: clickhouse.Auth{Database: "default", Username: "default"}, MaxOpenConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db = fmt.Sprintf("telemetry_test_%x", b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		conn.Close()
		t.Fatalf("create database %s on %s: %v", db, addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	})
	return addr, db, conn
}
