package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTenantsClickHouseUsers: `tenants clickhouse-users` prints a users.d
// file (or, with --sql, the statements for servers with row policies) with
// one read-only user per declared tenant, its password's SHA-256 from
// --password-dir and never the password; a missing password file is an
// error naming the tenant.
func TestTenantsClickHouseUsers(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "telemetry.yaml")
	if err := os.WriteFile(cfg, []byte("tenancy:\n  tenants: [{id: acme, sites: [par]}, {id: globex, sites: [osl]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pw")
	if err := os.Mkdir(pw, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme", "globex"} {
		if err := os.WriteFile(filepath.Join(pw, id), []byte("secret-"+id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte("secret-acme"))
	hash := hex.EncodeToString(sum[:])
	out, err := run(t, "tenants", "clickhouse-users", "--config", cfg, "--password-dir", pw, "--network", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<tenant_acme>", "<tenant_globex>", hash, "<database>telemetry_tenant_acme</database>", "<readonly>1</readonly>", "<ip>127.0.0.1</ip>"} {
		if !strings.Contains(out, want) {
			t.Errorf("users file lacks %s:\n%s", want, out)
		}
	}
	out, err = run(t, "tenants", "clickhouse-users", "--config", cfg, "--password-dir", pw, "--sql")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "CREATE ROW POLICY IF NOT EXISTS tenant_globex") || !strings.Contains(out, hash) {
		t.Errorf("SQL:\n%s", out)
	}
	if strings.Contains(out, "secret-") {
		t.Error("a password is printed")
	}
	if err := os.Remove(filepath.Join(pw, "globex")); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "tenants", "clickhouse-users", "--config", cfg, "--password-dir", pw); err == nil || !strings.Contains(err.Error(), "tenant globex") {
		t.Errorf("missing password file: %v", err)
	}
}
