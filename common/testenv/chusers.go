package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// ClickHouseUsers loads users into the test ClickHouse server (18.16 has no
// CREATE USER): it writes xml, a users.xml fragment, as users.d/<name>.xml
// in the server's configuration directory (TELEMETRY_TEST_CLICKHOUSE_CONTROL,
// from scripts/services.sh env; skipped without it on a laptop, a failure in
// CI), which the server reloads within seconds, and removes it when the test
// ends. The caller waits for a login to succeed (Eventually).
func ClickHouseUsers(t testing.TB, name string, xml []byte) {
	t.Helper()
	dir := filepath.Join(need(t, "TELEMETRY_TEST_CLICKHOUSE_CONTROL", "ClickHouse configuration directory"), "users.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(file, xml, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(file) })
}
