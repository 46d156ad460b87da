package reports

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
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

// OpenTenant builds tenant id's deck component (report.tenants entry id,
// ForTenant with the tenant's display name and sites from tenants),
// connected to ClickHouse ch as the tenant's read-only user with the
// password in cfg.TenantPasswordDir/<id>: the deck holds only what that
// user reads. The component owns the connection and closes it on Stop.
// deps.Conn, Database and Tenant are set here. A tenant not listed, or
// without a password file, is an error naming the tenant.
func OpenTenant(ctx context.Context, cfg Configuration, ch chsink.Configuration, tenants *tenant.Resolver, id string, deps Dependencies) (*Component, error) {
	t, ok := cfg.TenantReportOf(id)
	if !ok {
		return nil, fmt.Errorf("report: tenant %q is not in report.tenants", id)
	}
	decl, _ := tenants.Tenant(id)
	tcfg := cfg.ForTenant(t, decl.DisplayName(), decl.Sites)
	if cfg.TenantPasswordDir == "" {
		return nil, fmt.Errorf("report.tenant-password-dir: not set: tenant %s's deck needs its ClickHouse user's password", id)
	}
	creds, err := os.ReadFile(filepath.Join(cfg.TenantPasswordDir, id))
	if err != nil {
		return nil, fmt.Errorf("report.tenant-password-dir: tenant %s's password: %w", id, err)
	}
	password := strings.TrimSpace(string(creds))
	// The database it reads depends on the server: ask it as the tenant.
	conn, err := chsink.OpenTenant(ctx, ch, id, password, "system")
	if err != nil {
		return nil, fmt.Errorf("report: tenant %s: %w", id, err)
	}
	caps, err := chsink.Probe(ctx, conn)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("report: tenant %s: %w", id, err)
	}
	db := chsink.TenantReadDatabase(caps, ch, id)
	if conn, err = chsink.OpenTenant(ctx, ch, id, password, db); err != nil {
		return nil, fmt.Errorf("report: tenant %s: %w", id, err)
	}
	deps.Conn, deps.Database, deps.Tenant = conn, db, id
	c, err := New(tcfg, deps)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("report: tenant %s: %w", id, err)
	}
	c.conn = conn
	return c, nil
}

// Scheduled builds what `telemetry report --schedule` runs, in one
// process: the provider's deck (cfg, on deps.Conn) and every
// report.tenants entry's deck (OpenTenant), each on its own schedule
// with its own recipients, in a Runner that starts them in that order
// and stops them in reverse. Their metrics share one registration,
// labelled tenant ("" for the provider's deck). On an error nothing is
// left open.
func Scheduled(ctx context.Context, cfg Configuration, ch chsink.Configuration, tenants *tenant.Resolver, deps Dependencies) (*component.Runner, error) {
	ids := make([]string, len(cfg.Tenants))
	for i, t := range cfg.Tenants {
		ids[i] = t.ID
	}
	rep := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	m, err := NewMetrics(rep, ids)
	if err != nil {
		return nil, err
	}
	deps.Metrics, deps.Tenant = m, ""
	provider, err := New(cfg, deps)
	if err != nil {
		return nil, err
	}
	r := component.NewRunner(rep.Log)
	r.Add(Stage, provider)
	var built []*Component
	for _, id := range ids {
		c, err := OpenTenant(ctx, cfg, ch, tenants, id, deps)
		if err != nil {
			for _, b := range built {
				err = errors.Join(err, b.Stop())
			}
			return nil, err
		}
		built = append(built, c)
		r.Add(Stage+" tenant "+id, c)
	}
	return r, nil
}
