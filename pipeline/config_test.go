package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshtelemetry/telemetry/common/config"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
)

// load loads yaml (and env) into the default configuration, as the
// binary does, then runs Check.
func load(t *testing.T, yaml string, env ...string) (Config, error) {
	t.Helper()
	c := DefaultConfig()
	p := filepath.Join(t.TempDir(), "telemetry.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.Load(p, &c, env); err != nil {
		return c, err
	}
	return c, c.Check()
}

const twoTenants = `
tenancy:
  tenants:
    - {id: acme, name: ACME Corp, sites: [par], targets: [lon-sw9], max-targets: 2}
    - {id: globex, sites: [fra], max-samples-per-second: 100}
`

// TestTenancySection: the tenancy section is a section like the others —
// its keys and environment variables listed with their defaults, set from
// the environment, validated with the key named — and what other sections
// say about tenants is checked against it, naming their key.
func TestTenancySection(t *testing.T) {
	keys := map[string][3]string{}
	d := DefaultConfig()
	for _, k := range config.Keys(&d) {
		keys[k[0]] = k
	}
	if k := keys["tenancy.default-tenant"]; k[1] != "TELEMETRY_TENANCY_DEFAULT_TENANT" || k[2] != tenant.Default {
		t.Errorf("tenancy.default-tenant: %v", k)
	}
	if k := keys["tenancy.tenants"]; k[1] != "TELEMETRY_TENANCY_TENANTS" || k[2] != "[]" {
		t.Errorf("tenancy.tenants: %v", k)
	}

	c, err := load(t, twoTenants, "TELEMETRY_TENANCY_DEFAULT_TENANT=provider")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Tenants()
	if err != nil {
		t.Fatal(err)
	}
	if res.Default() != "provider" || res.Of("par", "par-sw1") != "acme" || res.Of("par", "lon-sw9") != "acme" || !res.Multi() {
		t.Fatalf("resolver: default %q", res.Default())
	}
	if got := c.ClickHouseSection().DefaultTenant; got != "provider" {
		t.Errorf("the sink's default tenant %q, want tenancy.default-tenant", got)
	}

	for _, tc := range []struct{ yaml, err string }{
		{"tenancy:\n  default-tenant: Default\n", `tenancy.default-tenant: "Default" is not a tenant id`},
		{"tenancy:\n  tenants: [{id: acme, sites: [par]}, {id: globex, sites: [par]}]\n", `tenancy.tenants[globex].sites: "par" is owned by tenant "acme" already`},
		{"tenancy:\n  tenants: [{id: acme, max-targets: -1}]\n", `tenancy.tenants[acme].max-targets: must not be negative`},
		{"tenancy:\n  tenants: [{id: acme, sitez: [par]}]\n", `field sitez not found`},
		{twoTenants + "collect:\n  targets: [{name: par-sw1, address: '127.0.0.1:1', tenant: globex}]\n",
			`collect.targets[0].tenant: "globex", but site "par" belongs to tenant "acme"`},
		{twoTenants + "collect:\n  targets: [{name: lon-sw1, address: '127.0.0.1:1', tenant: initech}]\n",
			`collect.targets[0].tenant: "initech" is not a declared tenant`},
		{twoTenants + "remediate:\n  webhooks: [{name: noc, tenant: initech, url: 'http://127.0.0.1:1/'}]\n",
			`remediate.webhooks[initech/noc].tenant: "initech" is not a declared tenant`},
		{twoTenants + "remediate:\n  rules: [{name: r, tenant: initech, kpi: link.loss_ratio, threshold: {op: '>', value: 0.1}}]\n",
			`remediate.rules: rule "r": tenant: "initech" is not a declared tenant`},
		{twoTenants + "remediate:\n  webhooks: [{name: noc, tenant: globex, url: 'http://127.0.0.1:1/'}]\n  rules: [{name: r, tenant: acme, kpi: link.loss_ratio, threshold: {op: '>', value: 0.1}, action: {webhook: noc}}]\n",
			`remediate.rules: rule "r": action.webhook: no webhook named "noc" of tenant "acme" or of the provider`},
		{twoTenants + "report:\n  tenants: [{id: initech}]\n", `report.tenants[0].id: "initech" is not a declared tenant`},
	} {
		_, err := load(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("got %v, want %q", err, tc.err)
		}
	}
	// The same configuration without a tenancy section: one tenant, the
	// default, which a target may name.
	if _, err := load(t, "collect:\n  targets: [{name: par-sw1, address: '127.0.0.1:1', tenant: default}]\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, "collect:\n  targets: [{name: par-sw1, address: '127.0.0.1:1', tenant: acme}]\n"); err == nil {
		t.Fatal("a tenant no section declares accepted")
	}
}

// TestBuildersPassTheTenancy: the stages built by the builders resolve
// tenants with the tenancy section.
func TestBuildersPassTheTenancy(t *testing.T) {
	c, err := load(t, twoTenants+"collect:\n  instance: c1\n  target-defaults: {insecure: true}\n  targets: [{name: par-sw1, address: '127.0.0.1:1'}, {name: fra-sw1, address: '127.0.0.1:1'}, {name: lon-sw1, address: '127.0.0.1:1'}]\n")
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := kafkatest.Fake(t, 1)
	c.Kafka = *kc
	col, err := c.NewCollector(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer col.Stop()
	got := map[string]string{}
	for _, ts := range col.Targets() {
		got[ts.Name] = ts.Tenant
	}
	if got["par-sw1"] != "acme" || got["fra-sw1"] != "globex" || got["lon-sw1"] != "default" {
		t.Fatalf("targets' tenants %v", got)
	}
	if _, err := c.NewProcessor(Deps{}); err != nil {
		t.Fatal(err)
	}
	c.Remediate.Rules = []remediation.Rule{{Name: "r", Tenant: "initech", KPI: "link.loss_ratio", Threshold: &rules.Threshold{Op: ">", Value: 0.1}}}
	if _, err := c.NewRemediator(Deps{}); err == nil || !strings.Contains(err.Error(), `tenant: "initech"`) {
		t.Fatalf("remediator with an undeclared tenant's rule: %v", err)
	}
}
