package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTenancyConfig: `config keys` lists the tenancy section with its
// defaults, `config check` accepts the two-tenant example and refuses a
// target whose tenant contradicts the tenancy section, naming the key.
func TestTenancyConfig(t *testing.T) {
	out, err := run(t, "config", "keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tenancy.default-tenant", "TELEMETRY_TENANCY_DEFAULT_TENANT", "tenancy.tenants"} {
		if !strings.Contains(out, want) {
			t.Errorf("config keys lacks %s", want)
		}
	}
	if out, err := run(t, "config", "check", "--config", "../../deploy/tenancy/telemetry.yaml"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "tenancy:\n  tenants: [{id: acme, sites: [site1]}, {id: globex, sites: [site3]}]\n" +
		"collect:\n  targets: [{name: site1-sw1, address: '127.0.0.1:1', tenant: globex}]\n"
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "config", "check", "--config", p)
	if err == nil || !strings.Contains(firstLine(err.Error()), `config: collect.targets[0].tenant: "globex", but site "site1" belongs to tenant "acme"`) {
		t.Fatalf("got %v", err)
	}
}
