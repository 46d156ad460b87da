package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Grafana per tenant (docs/tenancy.md, "Grafana per tenant"): one Grafana
// organization per tenant, holding the same dashboards and one ClickHouse
// data source that logs in as the tenant's read-only ClickHouse user, so
// every panel and variable reads what ClickHouse lets that user read: the
// tenant's rows. An organization rather than a folder with team
// permissions: a data source belongs to an organization and every member
// of it may query it (per data source permissions are a Grafana Enterprise
// feature), so in one shared organization a tenant could query the
// provider's all-tenants data source, or another tenant's, from Explore or
// a dashboard of its own. The provider's organization (Push, with its
// token) keeps the all-tenants view.

// TenantGrafana configures the tenants' organizations (the dashboards
// section's tenants key).
type TenantGrafana struct {
	// AdminUser and AdminPasswordFile are a Grafana server administrator's
	// login: creating organizations and acting in each (X-Grafana-Org-Id)
	// needs one (a service-account token belongs to one organization).
	AdminUser         string `yaml:"admin-user"`
	AdminPasswordFile string `yaml:"admin-password-file"`
	// ClickHouseHost, ClickHousePort and ClickHouseProtocol (native or
	// http) and ClickHouseSecure (TLS) are how Grafana reaches ClickHouse.
	ClickHouseHost     string `yaml:"clickhouse-host"`
	ClickHousePort     int    `yaml:"clickhouse-port"`
	ClickHouseProtocol string `yaml:"clickhouse-protocol"`
	ClickHouseSecure   bool   `yaml:"clickhouse-secure"`
	// ClickHouseDatabase is the tenant data source's default database,
	// {tenant} replaced by the tenant id: <database>_tenant_{tenant} on
	// ClickHouse 18.16 (per-tenant databases), the shared database on
	// servers with row policies.
	ClickHouseDatabase string `yaml:"clickhouse-database"`
	// ClickHousePasswordDir holds one file per tenant, named by its id,
	// with the password of its ClickHouse user (tenant_<id>).
	ClickHousePasswordDir string `yaml:"clickhouse-password-dir"`
}

// DefaultTenantGrafana returns the defaults.
func DefaultTenantGrafana() TenantGrafana {
	return TenantGrafana{
		AdminUser:          "admin",
		ClickHouseHost:     "clickhouse",
		ClickHousePort:     9000,
		ClickHouseProtocol: "native",
		ClickHouseDatabase: "telemetry_tenant_{tenant}",
	}
}

// Validate checks the tenants key; errors start with the offending key.
func (c *TenantGrafana) Validate() error {
	switch {
	case c.AdminUser == "":
		return errors.New("tenants.admin-user: must not be empty")
	case c.ClickHouseHost == "":
		return errors.New("tenants.clickhouse-host: must not be empty")
	case c.ClickHousePort <= 0 || c.ClickHousePort > 65535:
		return fmt.Errorf("tenants.clickhouse-port: %d is not a port", c.ClickHousePort)
	case c.ClickHouseProtocol != "native" && c.ClickHouseProtocol != "http":
		return fmt.Errorf("tenants.clickhouse-protocol: %q is not native or http", c.ClickHouseProtocol)
	case c.ClickHouseDatabase == "":
		return errors.New("tenants.clickhouse-database: must not be empty")
	}
	return nil
}

// Tenant is one tenant to provision: its id (the ClickHouse user
// tenant_<id>) and display name (the organization's name).
type Tenant struct {
	ID, Name string
}

// TenantResult is what PushTenants did for one tenant.
type TenantResult struct {
	Tenant     string
	OrgID      int
	Dashboards []PushResult
}

// session is who a request is made as: the token (the provider's
// organization), or the server administrator in organization org.
type session struct {
	user, password string
	org            int
}

// PushTenants provisions every tenant's organization as the Grafana server
// administrator: the organization (named by the tenant's display name,
// created if missing), its ClickHouse data source (the dashboards' uid,
// logging in as tenant_<id>, created or updated), the folder and the
// dashboards ds, as Push does. Running it twice changes nothing but the
// dashboards' versions.
func (p *Pusher) PushTenants(ctx context.Context, tc TenantGrafana, tenants []Tenant, ds []Dashboard) ([]TenantResult, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	if len(tenants) == 0 {
		return nil, nil
	}
	admin, err := readSecret("tenants.admin-password-file", tc.AdminPasswordFile)
	if err != nil {
		return nil, err
	}
	var out []TenantResult
	for _, t := range tenants {
		pw, err := readSecret("tenants.clickhouse-password-dir", filepath.Join(tc.ClickHousePasswordDir, t.ID))
		if err != nil {
			return out, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		name := t.Name
		if name == "" {
			name = t.ID
		}
		s := session{user: tc.AdminUser, password: admin}
		org, err := p.ensureOrg(ctx, s, name)
		if err != nil {
			return out, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		s.org = org
		if err := p.ensureDatasource(ctx, s, tc, t.ID, pw); err != nil {
			return out, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		res, err := p.push(ctx, s, TenantDashboards(p.cfg, ds))
		out = append(out, TenantResult{Tenant: t.ID, OrgID: org, Dashboards: res})
		if err != nil {
			return out, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		p.log.Info("tenant organization provisioned", "tenant", t.ID, "org", name, "org_id", org, "dashboards", len(res))
	}
	return out, nil
}

func readSecret(key, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s: must be set", key)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return s, nil
}

// ensureOrg returns the id of the organization named name, created if
// missing (Grafana makes its creator an Admin of it).
func (p *Pusher) ensureOrg(ctx context.Context, s session, name string) (int, error) {
	var org struct {
		ID    int `json:"id"`
		OrgID int `json:"orgId"`
	}
	err := p.send(ctx, s, http.MethodGet, "/api/orgs/name/"+url.PathEscape(name), nil, &org, "look up organization "+name)
	var ae *APIError
	switch {
	case err == nil:
		return org.ID, nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
	default:
		return 0, err
	}
	if err := p.send(ctx, s, http.MethodPost, "/api/orgs", map[string]string{"name": name}, &org, "create organization "+name); err != nil {
		return 0, err
	}
	p.log.Info("organization created", "org", name, "org_id", org.OrgID)
	return org.OrgID, nil
}

// TenantDatasource is the ClickHouse data source of tenant id's
// organization: the dashboards' uid, logging in as tenant_<id> with no
// custom settings (the user is readonly = 1: a setting sent with a query
// would be refused; the 1 MiB max_query_size is in its profile).
func TenantDatasource(cfg Configuration, tc TenantGrafana, id, password string) map[string]any {
	return map[string]any{
		"name":   "ClickHouse",
		"uid":    cfg.ClickHouseDatasourceUID,
		"type":   ClickHousePluginID,
		"access": "proxy",
		"jsonData": map[string]any{
			"host":            tc.ClickHouseHost,
			"port":            tc.ClickHousePort,
			"protocol":        tc.ClickHouseProtocol,
			"secure":          tc.ClickHouseSecure,
			"username":        "tenant_" + id,
			"defaultDatabase": strings.ReplaceAll(tc.ClickHouseDatabase, "{tenant}", id),
		},
		"secureJsonData": map[string]string{"password": password},
	}
}

func (p *Pusher) ensureDatasource(ctx context.Context, s session, tc TenantGrafana, id, password string) error {
	uid := p.cfg.ClickHouseDatasourceUID
	body := TenantDatasource(p.cfg, tc, id, password)
	err := p.send(ctx, s, http.MethodGet, "/api/datasources/uid/"+url.PathEscape(uid), nil, nil, "look up data source "+uid)
	var ae *APIError
	switch {
	case err == nil:
		return p.send(ctx, s, http.MethodPut, "/api/datasources/uid/"+url.PathEscape(uid), body, nil, "update data source "+uid)
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return p.send(ctx, s, http.MethodPost, "/api/datasources", body, nil, "create data source "+uid)
	}
	return err
}

// TenantDashboards are the dashboards of ds a tenant's organization gets:
// those reading ClickHouse only. A dashboard using the Prometheus data
// source (the pipeline's own health, every tenant's stages together) stays
// the provider's.
func TenantDashboards(cfg Configuration, ds []Dashboard) []Dashboard {
	prom := []byte(fmt.Sprintf("%q", cfg.PrometheusDatasourceUID))
	var out []Dashboard
	for _, d := range ds {
		b, err := json.Marshal(d.Model)
		if err != nil || bytes.Contains(b, prom) {
			continue
		}
		out = append(out, d)
	}
	return out
}
