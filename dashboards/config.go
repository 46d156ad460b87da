// Package dashboards generates the NOC's Grafana dashboards as code and pushes them to Grafana.
package dashboards

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Configuration is the dashboards section of the configuration file.
type Configuration struct {
	// GrafanaURL is the base URL of Grafana for push (e.g. http://127.0.0.1:3000).
	GrafanaURL string `yaml:"grafana-url"`
	// Token is a Grafana service-account token (Editor on the folder).
	// Prefer TELEMETRY_DASHBOARDS_TOKEN or TokenFile to keeping it in a file under version control.
	Token string `yaml:"token"`
	// TokenFile is a file holding the token (used when Token is empty).
	TokenFile string `yaml:"token-file"`
	// FolderUID and FolderTitle name the folder the dashboards go to (created if missing).
	FolderUID   string `yaml:"folder-uid"`
	FolderTitle string `yaml:"folder-title"`
	// ClickHouseDatasourceUID and PrometheusDatasourceUID are the data
	// sources' uids in Grafana (deploy/grafana provisions these defaults).
	ClickHouseDatasourceUID string `yaml:"clickhouse-datasource-uid"`
	PrometheusDatasourceUID string `yaml:"prometheus-datasource-uid"`
	// Timeout bounds each HTTP request to Grafana.
	Timeout time.Duration `yaml:"timeout"`
	// Tenants is how push provisions one Grafana organization per declared
	// tenant (tenancy section; docs/tenancy.md).
	Tenants TenantGrafana `yaml:"tenants"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		GrafanaURL:              "http://127.0.0.1:3000",
		FolderUID:               "telemetry",
		FolderTitle:             "Network telemetry",
		ClickHouseDatasourceUID: "clickhouse",
		PrometheusDatasourceUID: "prometheus",
		Timeout:                 10 * time.Second,
		Tenants:                 DefaultTenantGrafana(),
	}
}

var uidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error {
	if c.GrafanaURL != "" {
		u, err := url.Parse(c.GrafanaURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("grafana-url: must be an http(s) URL, not %q", c.GrafanaURL)
		}
	}
	for _, f := range []struct{ key, v string }{
		{"folder-uid", c.FolderUID},
		{"clickhouse-datasource-uid", c.ClickHouseDatasourceUID},
		{"prometheus-datasource-uid", c.PrometheusDatasourceUID},
	} {
		if !uidRE.MatchString(f.v) {
			return fmt.Errorf("%s: must be 1 to 40 letters, digits, - or _, not %q", f.key, f.v)
		}
	}
	if c.FolderTitle == "" {
		return errors.New("folder-title: must not be empty")
	}
	if c.Timeout <= 0 {
		return errors.New("timeout: must be positive")
	}
	if err := c.Tenants.Validate(); err != nil {
		return err
	}
	return nil
}
