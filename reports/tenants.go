package reports

import (
	"fmt"
	"net/mail"
	"path/filepath"
	"slices"

	"github.com/meshtelemetry/telemetry/common/tenant"
)

// TenantReport is one tenant's weekly deck (report.tenants): its own
// schedule and recipients. The deck is built from what the tenant's
// ClickHouse user reads (docs/tenancy.md), titled with the tenant's
// display name, and names as expected only the tenant's own sites.
type TenantReport struct {
	// ID is the tenant (tenancy section).
	ID string `yaml:"id"`
	// Schedule is when the tenant's deck is written ("<weekday> HH:MM");
	// empty: the report's schedule.
	Schedule string `yaml:"schedule"`
	// To are the tenant's recipients (sent through report.smtp); none:
	// the deck is only written, to <out-dir>/<id>.
	To []string `yaml:"to"`
}

func (t TenantReport) validate() error {
	if err := tenant.CheckID(t.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if t.Schedule != "" {
		if _, err := ParseSchedule(t.Schedule); err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
	}
	for _, a := range t.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("to: %q: %w", a, err)
		}
	}
	return nil
}

// TenantReportOf returns the entry of tenant id in c.Tenants.
func (c Configuration) TenantReportOf(id string) (TenantReport, bool) {
	for _, t := range c.Tenants {
		if t.ID == id {
			return t, true
		}
	}
	return TenantReport{}, false
}

// ForTenant is the report configuration of tenant t, named name (its
// display name) and owning sites: the report's settings with the tenant's
// schedule (when set) and recipients, its own output directory
// (<out-dir>/<id>), its name as the scope and its sites as the expected
// ones. Nothing of the provider's report that could name another tenant
// (its scope, expected sites, recipients) is kept.
func (c Configuration) ForTenant(t TenantReport, name string, sites []string) Configuration {
	out := c
	out.Tenants = nil
	if t.Schedule != "" {
		out.Schedule = t.Schedule
	}
	out.SMTP.To = slices.Clone(t.To)
	if name == "" {
		name = t.ID
	}
	out.Scope = name
	out.ExpectedSites = slices.Clone(sites)
	if c.OutDir != "" {
		out.OutDir = filepath.Join(c.OutDir, t.ID)
	}
	return out
}
