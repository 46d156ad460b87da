// Package tenant is who owns what in a pipeline shared by several
// customers or regions: the tenancy section of the configuration (the
// tenants, the sites and targets each owns, their fair-share limits), and
// the Resolver every stage asks which tenant a site or a target belongs to.
//
// A tenant id matches ^[a-z][a-z0-9_]{0,31}$, so it is safe unquoted as a
// ClickHouse identifier suffix, a user name, a Grafana organization name, a
// Kafka topic prefix and a metric label value. Data nobody owns belongs to
// the default tenant (tenancy.default-tenant, "default"), so a single-tenant
// installation, which declares no tenant, has all its data in one tenant
// and changes nothing. See docs/tenancy.md.
package tenant

import (
	"errors"
	"fmt"
	"slices"

	"github.com/meshtelemetry/telemetry/common/names"
)

// Default is the default tenant's id unless tenancy.default-tenant says
// otherwise: the tenant of data no declared tenant owns, and of records
// written before tenants existed (an empty tenant field).
const Default = "default"

// MaxIDLen is the longest tenant id in bytes.
const MaxIDLen = 32

// Tenant is one declared tenant.
type Tenant struct {
	// ID names the tenant in every record, row, metric label, ClickHouse
	// user and Grafana organization: ^[a-z][a-z0-9_]{0,31}$.
	ID string `yaml:"id"`
	// Name is the display name (deck title, Grafana organization). Empty:
	// the id.
	Name string `yaml:"name"`
	// Sites the tenant owns: every target at one of them is the tenant's,
	// unless the target is listed by another tenant's targets.
	Sites []string `yaml:"sites"`
	// Targets the tenant owns by name, wherever their site.
	Targets []string `yaml:"targets"`
	// MaxTargets is how many of the tenant's targets the collectors
	// collect, the first ones by name; the others are not started (counted
	// and logged). 0: no limit.
	MaxTargets int `yaml:"max-targets"`
	// MaxSamplesPerSecond caps the samples of the tenant one collector
	// instance hands to Kafka (a token bucket over one second); the
	// samples past it are dropped and counted. 0: no limit.
	MaxSamplesPerSecond int `yaml:"max-samples-per-second"`
}

// DisplayName is the tenant's name, or its id when it has none.
func (t Tenant) DisplayName() string {
	if t.Name != "" {
		return t.Name
	}
	return t.ID
}

// Configuration is the tenancy section of the configuration file.
type Configuration struct {
	// DefaultTenant is the tenant of data no declared tenant owns, and of
	// records without a tenant (written before tenants existed).
	DefaultTenant string `yaml:"default-tenant"`
	// Tenants are the declared tenants. None: one tenant, the default.
	Tenants []Tenant `yaml:"tenants"`
}

// DefaultConfiguration returns the defaults: no tenant declared, the
// default tenant "default".
func DefaultConfiguration() Configuration {
	return Configuration{DefaultTenant: Default}
}

// CheckID returns nil when id is a valid tenant id
// (^[a-z][a-z0-9_]{0,31}$), else an error saying why.
func CheckID(id string) error {
	if id == "" {
		return errors.New("must not be empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%q is %d bytes, at most %d", id, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		default:
			return fmt.Errorf("%q is not a tenant id: a lower-case letter, then lower-case letters, digits and _ (at most %d)", id, MaxIDLen)
		}
	}
	return nil
}

// Valid reports whether id is a valid tenant id (CheckID).
func Valid(id string) bool { return CheckID(id) == nil }

// Validate checks the section; errors start with the offending key
// (tenants[acme].sites, tenants[2].id).
func (c *Configuration) Validate() error {
	if err := CheckID(c.DefaultTenant); err != nil {
		return fmt.Errorf("default-tenant: %w", err)
	}
	ids := map[string]bool{}
	sites := map[string]string{}   // site → owner
	targets := map[string]string{} // target → owner
	for i, t := range c.Tenants {
		if err := CheckID(t.ID); err != nil {
			return fmt.Errorf("tenants[%d].id: %w", i, err)
		}
		key := "tenants[" + t.ID + "]"
		if ids[t.ID] {
			return fmt.Errorf("%s.id: %q declared twice", key, t.ID)
		}
		ids[t.ID] = true
		if t.Name != "" {
			if err := names.Check(t.Name); err != nil {
				return fmt.Errorf("%s.name: %q %w", key, t.Name, err)
			}
		}
		if err := own(key+".sites", t.ID, t.Sites, sites); err != nil {
			return err
		}
		if err := own(key+".targets", t.ID, t.Targets, targets); err != nil {
			return err
		}
		if t.MaxTargets < 0 {
			return fmt.Errorf("%s.max-targets: must not be negative", key)
		}
		if t.MaxSamplesPerSecond < 0 {
			return fmt.Errorf("%s.max-samples-per-second: must not be negative", key)
		}
	}
	return nil
}

// own records that tenant owns every name of list in owners, refusing a
// bad name and one another tenant (or this one) owns already.
func own(key, tenant string, list []string, owners map[string]string) error {
	for _, n := range list {
		if err := names.Check(n); err != nil {
			return fmt.Errorf("%s: %q %w", key, n, err)
		}
		if o, ok := owners[n]; ok {
			if o == tenant {
				return fmt.Errorf("%s: %q listed twice", key, n)
			}
			return fmt.Errorf("%s: %q is owned by tenant %q already (a site or target has one owner)", key, n, o)
		}
		owners[n] = tenant
	}
	return nil
}

// Resolver tells which tenant owns a site or a target, and which tenants
// exist. It is read-only once built and safe for concurrent use. A nil
// *Resolver is the single-tenant resolver: every id is the default tenant
// "default", and no tenant is declared.
type Resolver struct {
	def      string
	bySite   map[string]string
	byTarget map[string]string
	tenants  map[string]Tenant
	ids      []string
}

// NewResolver builds the resolver of a configuration, which it validates.
func NewResolver(c Configuration) (*Resolver, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("tenancy.%w", err)
	}
	r := &Resolver{def: c.DefaultTenant, bySite: map[string]string{}, byTarget: map[string]string{},
		tenants: map[string]Tenant{}}
	for _, t := range c.Tenants {
		t.Sites, t.Targets = slices.Clone(t.Sites), slices.Clone(t.Targets)
		r.tenants[t.ID] = t
		for _, s := range t.Sites {
			r.bySite[s] = t.ID
		}
		for _, n := range t.Targets {
			r.byTarget[n] = t.ID
		}
		r.ids = append(r.ids, t.ID)
	}
	if !slices.Contains(r.ids, r.def) {
		r.ids = append(r.ids, r.def)
	}
	slices.Sort(r.ids)
	return r, nil
}

// Default returns the default tenant's id.
func (r *Resolver) Default() string {
	if r == nil {
		return Default
	}
	return r.def
}

// Or returns id, or the default tenant when id is empty (a record written
// before tenants existed).
func (r *Resolver) Or(id string) string {
	if id == "" {
		return r.Default()
	}
	return id
}

// Owner returns the tenant that owns a target (by name) or its site, and
// whether one does: target ownership first, then site ownership.
func (r *Resolver) Owner(site, target string) (string, bool) {
	if r == nil {
		return "", false
	}
	if id, ok := r.byTarget[target]; ok {
		return id, true
	}
	if id, ok := r.bySite[site]; ok {
		return id, true
	}
	return "", false
}

// Of returns the tenant of a target at a site: the tenant that lists the
// target, else the one that owns the site, else the default tenant. (A
// target's own tenant key comes first: see Target.)
func (r *Resolver) Of(site, target string) string {
	if id, ok := r.Owner(site, target); ok {
		return id
	}
	return r.Default()
}

// Target returns the tenant of a target whose configuration names
// explicit (its tenant key, "" when it has none): explicit when given,
// which must be a known tenant and agree with the tenancy section when
// that section owns the target or its site; else Of(site, target). The
// error reads as the value of the target's tenant key.
func (r *Resolver) Target(explicit, site, target string) (string, error) {
	if explicit == "" {
		return r.Of(site, target), nil
	}
	if err := r.Check(explicit); err != nil {
		return "", err
	}
	if id, ok := r.Owner(site, target); ok && id != explicit {
		if r.byTarget[target] == id {
			return "", fmt.Errorf("%q, but tenancy.tenants[%s].targets lists %q", explicit, id, target)
		}
		return "", fmt.Errorf("%q, but site %q belongs to tenant %q (tenancy.tenants[%s].sites)", explicit, site, id, id)
	}
	return explicit, nil
}

// Check returns nil when id is a declared tenant or the default one.
func (r *Resolver) Check(id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if id == r.Default() {
		return nil
	}
	if r != nil {
		if _, ok := r.tenants[id]; ok {
			return nil
		}
	}
	return fmt.Errorf("%q is not a declared tenant (tenancy.tenants) nor the default tenant %q", id, r.Default())
}

// Known reports whether id is a declared tenant or the default one.
func (r *Resolver) Known(id string) bool { return r.Check(id) == nil }

// IDs returns the declared tenants and the default one, sorted: every
// value a tenant label of a metric can take, so their number is bounded by
// the configuration.
func (r *Resolver) IDs() []string {
	if r == nil {
		return []string{Default}
	}
	return slices.Clone(r.ids)
}

// Tenant returns a declared tenant (limits, display name). The default
// tenant, when not declared, is returned with its id alone and false.
func (r *Resolver) Tenant(id string) (Tenant, bool) {
	if r != nil {
		if t, ok := r.tenants[id]; ok {
			return t, true
		}
	}
	return Tenant{ID: id}, false
}

// Declared reports whether the tenancy section declares a tenant (the
// default one alone included): whether there is anything per tenant to
// enforce or report.
func (r *Resolver) Declared() bool {
	return r != nil && len(r.tenants) > 0
}

// Multi reports whether a tenant besides the default one is declared.
func (r *Resolver) Multi() bool {
	return r != nil && len(r.ids) > 1
}

// Stamp returns the tenant a record of tenant id carries (its tenant field
// and telemetry-tenant header): id, the default tenant for "", except that
// without a declared tenant besides the default one (Multi false) the
// default tenant is written as no tenant, so that a single-tenant
// installation writes its records byte for byte as before tenants
// existed. Readers take a record without a tenant as the default tenant's
// (Or).
func (r *Resolver) Stamp(id string) string {
	id = r.Or(id)
	if !r.Multi() && id == r.Default() {
		return ""
	}
	return id
}
