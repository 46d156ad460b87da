package collector

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Tenants (docs/tenancy.md). Every target has a tenant: its tenant key, or
// the tenancy section's owner of the target or of its site, or the default
// tenant. Every sample and inventory record carries it, in the record and
// in the telemetry-tenant header. A tenant's fair share is enforced here:
// max-targets (the first ones by name are collected, by every member
// alike, so the limit holds for the whole set of collectors) and
// max-samples-per-second (a token bucket per tenant and collector
// instance; samples past it are dropped, counted as tenant_rate).

// tenantState is one tenant's limits and series; one per tenant of
// Resolver.IDs, made by New and read-only afterwards (the counts are
// atomics or under Collector.mu).
type tenantState struct {
	id string
	// stamp is what its records carry (tenant.Resolver.Stamp): "" for the
	// default tenant of a single-tenant installation.
	stamp      string
	maxTargets int
	bucket     *bucket // nil: no samples/s limit
	headers    []kgo.RecordHeader

	samples     prometheus.Counter
	rateDropped prometheus.Counter
	targets     prometheus.Gauge
	overLimit   prometheus.Gauge

	nSamples, nRateDropped atomic.Uint64
	// nTargets and nOver are under Collector.mu.
	nTargets, nOver int
}

// TenantStats is what the collector did for one tenant.
type TenantStats struct {
	// Samples is the tenant's samples collected (before its limit), and
	// RateDropped those dropped by its max-samples-per-second.
	Samples, RateDropped uint64
	// Targets is the tenant's targets this instance collects; OverLimit
	// its targets not started anywhere because of its max-targets.
	Targets, OverLimit int
}

// newTenants builds the state of every tenant r knows, with its series
// (each at 0 from the start: the label values are the declared tenants
// and the default one, so their number is bounded by the configuration).
// Without a declared tenant the series are not registered: a
// single-tenant collector's /metrics is as it was.
func newTenants(r *tenant.Resolver, rep *component.Reporter) map[string]*tenantState {
	if !r.Declared() {
		rep = component.NewReporter(rep.Stage(), nil, nil)
	}
	ids := r.IDs()
	samples := rep.CounterVec("tenant_samples_total", "Samples collected, by tenant (before the tenant's max-samples-per-second).",
		[]string{"tenant"}, component.Values(ids...)...)
	dropped := rep.CounterVec("tenant_samples_dropped_total", "Samples dropped by the tenant's max-samples-per-second, by tenant.",
		[]string{"tenant"}, component.Values(ids...)...)
	targets := rep.GaugeVec("tenant_targets", "Targets this instance collects, by tenant.", []string{"tenant"})
	over := rep.GaugeVec("tenant_targets_over_limit", "Targets not collected because of the tenant's max-targets, by tenant.", []string{"tenant"})
	out := make(map[string]*tenantState, len(ids))
	for _, id := range ids {
		t, _ := r.Tenant(id)
		stamp := r.Stamp(id)
		ts := &tenantState{id: id, stamp: stamp, maxTargets: t.MaxTargets, headers: wire.TenantHeaders(wire.SchemaSample, stamp),
			samples: samples.WithLabelValues(id), rateDropped: dropped.WithLabelValues(id),
			targets: targets.WithLabelValues(id), overLimit: over.WithLabelValues(id)}
		if t.MaxSamplesPerSecond > 0 {
			ts.bucket = newBucket(t.MaxSamplesPerSecond)
		}
		out[id] = ts
	}
	return out
}

// CheckTenants checks the tenant of every configured target against the
// tenancy section r (nil: single-tenant): a tenant key must name a declared
// tenant, or the default one, and agree with the section when it owns the
// target or its site. Errors name the key (targets[2].tenant).
func (c *Configuration) CheckTenants(r *tenant.Resolver) error {
	return checkTenants(c.Targets, c.TargetDefaults, r, "targets")
}

func checkTenants(ts []TargetConfig, defaults TargetConfig, r *tenant.Resolver, key string) error {
	for i, t := range ts {
		t = t.withDefaults(defaults)
		if _, err := r.Target(t.Tenant, t.Site, t.Name); err != nil {
			return fmt.Errorf("%s[%d].tenant: %w", key, i, err)
		}
	}
	return nil
}

// tenantOf is the state of a tenant id (the default tenant's for one
// unknown, which a checked configuration never gives).
func (c *Collector) tenantOf(id string) *tenantState {
	if ts := c.tenants[id]; ts != nil {
		return ts
	}
	return c.tenants[c.resolver.Default()]
}

// limitTargets resolves the tenant of every target of all (in place) and
// removes the targets beyond their tenant's max-targets: the first ones
// by name stay, so every member of a collector set keeps the same ones.
// It counts those removed by tenant and logs each once when it goes over
// (c.mu held).
func (c *Collector) limitTargets(all map[string]TargetConfig) {
	byTenant := map[string][]string{}
	for name, t := range all {
		id, err := c.resolver.Target(t.Tenant, t.Site, t.Name)
		if err != nil { // checked when loaded; not collected for a wrong tenant
			c.log.Warn("target not collected: bad tenant", "target", name, "err", err)
			delete(all, name)
			continue
		}
		t.Tenant = id
		all[name] = t
		byTenant[id] = append(byTenant[id], name)
	}
	over := map[string]bool{}
	for _, ts := range c.tenants {
		ts.nOver = 0
		names := byTenant[ts.id]
		if ts.maxTargets == 0 || len(names) <= ts.maxTargets {
			ts.overLimit.Set(0)
			continue
		}
		slices.Sort(names)
		var fresh []string
		for _, name := range names[ts.maxTargets:] {
			delete(all, name)
			over[name] = true
			if !c.overLogged[name] {
				fresh = append(fresh, name)
			}
		}
		ts.nOver = len(names) - ts.maxTargets
		ts.overLimit.Set(float64(ts.nOver))
		if len(fresh) > 0 {
			c.log.Warn("targets over their tenant's max-targets are not collected", "tenant", ts.id,
				"max_targets", ts.maxTargets, "targets", len(names), "not_collected", fresh)
		}
	}
	c.overLogged = over
}

// countTargets sets the tenants' targets gauges from the sessions (c.mu
// held).
func (c *Collector) countTargets() {
	for _, ts := range c.tenants {
		ts.nTargets = 0
	}
	for _, s := range c.sessions {
		s.tenant.nTargets++
	}
	for _, ts := range c.tenants {
		ts.targets.Set(float64(ts.nTargets))
	}
}

// TenantStats returns what the collector did for each tenant (declared
// ones and the default), by tenant id.
func (c *Collector) TenantStats() map[string]TenantStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]TenantStats, len(c.tenants))
	for id, ts := range c.tenants {
		out[id] = TenantStats{Samples: ts.nSamples.Load(), RateDropped: ts.nRateDropped.Load(),
			Targets: ts.nTargets, OverLimit: ts.nOver}
	}
	return out
}

// admit counts n samples of the tenant collected at now and reports
// whether its max-samples-per-second lets them through; when not, they
// are counted as dropped (tenant_rate) here, in the tenant's series and
// in the collector's Stats.
func (ts *tenantState) admit(c *Collector, n int, now time.Time) bool {
	ts.nSamples.Add(uint64(n))
	ts.samples.Add(float64(n))
	if ts.bucket == nil || ts.bucket.take(uint64(n), now) {
		return true
	}
	ts.nRateDropped.Add(uint64(n))
	ts.rateDropped.Add(float64(n))
	c.t.drop(c.m, dropTenantRate, uint64(n))
	return false
}

// restamp sets the tenant of a sample a collect-hook module returned: a
// module cannot move a sample to another tenant. A sample of a device this
// instance collects takes the device's tenant; another (a device the module
// made up) keeps the tenant it has when that is a known tenant, else gets
// the default one.
func (c *Collector) restamp(s *wirepb.Sample) {
	c.mu.Lock()
	ss := c.sessions[s.GetDevice()]
	c.mu.Unlock()
	if ss != nil {
		s.Tenant = ss.tenant.stamp
		return
	}
	id := c.resolver.Or(s.GetTenant())
	if c.tenants[id] == nil {
		id = c.resolver.Default()
	}
	s.Tenant = c.resolver.Stamp(id)
}
