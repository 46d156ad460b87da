// Package remediation evaluates rules over KPIs, drives the remediation
// event lifecycle and delivers events to webhooks.
//
// Two loops run in one Remediator (each can be turned off):
//
//   - the rules engine consumes telemetry.kpis in a consumer group (key =
//     entity, so all of an entity's windows reach one instance), evaluates
//     rules (package rules) and produces one RemediationEvent per lifecycle
//     transition (firing, resolved, escalated) to telemetry.remediations;
//   - the dispatcher consumes telemetry.remediations in its own group and
//     delivers firing, escalated and resolved transitions to webhooks
//     (package webhook): CloudEvents 1.0 JSON signed per Standard Webhooks,
//     with retries; it produces dispatched, acknowledged and failed
//     transitions back to the topic and dead-letters what it gives up on.
//
// See docs/remediation.md.
package remediation

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/meshtelemetry/telemetry/common/redact"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/processors/remediation/webhook"
)

// Rule is one remediation rule (see package rules for the keys).
type Rule = rules.Rule

// Webhook is one webhook endpoint events can be delivered to.
type Webhook struct {
	// Name is what rules' action.webhook refer to.
	Name string `yaml:"name"`
	// Tenant the webhook belongs to (docs/tenancy.md): it receives that
	// tenant's events only. Empty: a provider webhook. A name is looked up
	// in the event's tenant's webhooks first, then the provider's: a
	// provider rule naming "noc" reaches each tenant's own "noc".
	Tenant string `yaml:"tenant"`
	URL    string `yaml:"url"`
	// Secret ("whsec_<base64>") signs deliveries (Standard Webhooks). Give
	// it inline, or as the path of a file holding it (secret-file), or as
	// the name of an environment variable holding it (secret-env). Without
	// any, deliveries are not signed.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret-file"`
	SecretEnv  string `yaml:"secret-env"`
	// Format of the body: "cloudevents" (default: a structured-mode
	// CloudEvent whose data.payload is the rule's rendered template) or
	// "raw" (the rendered template alone, application/json; for APIs such
	// as ArgoCD's that want their own body).
	Format string `yaml:"format"`
	// Timeout of one attempt (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts before dead-lettering, first one included (default 6).
	MaxAttempts int `yaml:"max-attempts"`
	// Concurrency: simultaneous requests to this endpoint (default 4).
	Concurrency int `yaml:"concurrency"`
	// RetryInitial and RetryMax bound the exponential backoff between
	// attempts (defaults 500ms and 30s); waits are jittered.
	RetryInitial time.Duration `yaml:"retry-initial"`
	RetryMax     time.Duration `yaml:"retry-max"`
	// RetryAfterMax caps the wait a 429's Retry-After asks for (default 5m).
	RetryAfterMax time.Duration `yaml:"retry-after-max"`
	// States are the transitions delivered to this webhook (default firing,
	// escalated and resolved). An ArgoCD sync wants only firing.
	States []string `yaml:"states"`
	// Headers added to every request, e.g. Authorization. ${VAR} and $VAR
	// are expanded from the environment, so tokens stay out of the file.
	Headers map[string]string `yaml:"headers"`
}

// Configuration is the remediate section of the configuration file.
type Configuration struct {
	// RulesFile is a YAML file with a top-level "rules:" list; it is
	// re-read when its modification time or size changes (polled every
	// reload-interval). Its rules add to the inline ones.
	RulesFile      string        `yaml:"rules-file"`
	ReloadInterval time.Duration `yaml:"reload-interval"`
	// Rules given inline.
	Rules []Rule `yaml:"rules"`
	// Webhooks rules deliver to.
	Webhooks []Webhook `yaml:"webhooks"`
	// Engine runs the rules engine (consumes KPIs); Dispatcher runs the
	// webhook dispatcher (consumes remediation events). Both by default.
	Engine     bool `yaml:"engine"`
	Dispatcher bool `yaml:"dispatcher"`
	// GroupID is the rules engine's consumer group on the KPI topic;
	// DispatcherGroupID the dispatcher's on the remediations topic.
	GroupID           string `yaml:"group-id"`
	DispatcherGroupID string `yaml:"dispatcher-group-id"`
	// Source is the CloudEvents source attribute.
	Source string `yaml:"source"`
	// MaxInFlight bounds the deliveries the dispatcher holds at once
	// (in flight or waiting to retry); the consumer pauses at the bound.
	MaxInFlight int `yaml:"max-in-flight"`
	// Warmup: when the engine is assigned a partition, it replays that
	// partition's KPIs from this long ago up to the committed offset to
	// rebuild the rule state (transitions discarded), so an event already
	// active continues with the same id after a rebalance or restart. 0
	// turns it off (state starts empty). WarmupTimeout bounds the replay.
	Warmup        time.Duration `yaml:"warmup"`
	WarmupTimeout time.Duration `yaml:"warmup-timeout"`
	// StateTTL: the engine forgets an idle entity it has not seen a KPI
	// for in this long (KPI time).
	StateTTL time.Duration `yaml:"state-ttl"`
	// StallAfter: a partition of the engine's or the dispatcher's group
	// whose committed offset has not moved for this long while it lags
	// is stalled, and Ready says so (/readyz 503) until its commits move.
	StallAfter time.Duration `yaml:"stall-after"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		ReloadInterval:    5 * time.Second,
		Engine:            true,
		Dispatcher:        true,
		GroupID:           "telemetry-remediate",
		DispatcherGroupID: "telemetry-dispatch",
		Source:            "/meshtelemetry/remediation",
		MaxInFlight:       1024,
		StateTTL:          time.Hour,
		Warmup:            15 * time.Minute,
		WarmupTimeout:     30 * time.Second,
		StallAfter:        2 * time.Minute,
	}
}

// Validate checks the section; errors start with the offending key. It
// also loads and checks the rules file, so a bad rule stops the command
// at start with a message naming the rule and the key.
func (c *Configuration) Validate() error {
	if c.ReloadInterval <= 0 {
		return errors.New("reload-interval: must be positive")
	}
	if c.Engine && c.GroupID == "" {
		return errors.New("group-id: must not be empty")
	}
	if c.Dispatcher && c.DispatcherGroupID == "" {
		return errors.New("dispatcher-group-id: must not be empty")
	}
	if c.Engine && c.Dispatcher && c.GroupID == c.DispatcherGroupID {
		return errors.New("dispatcher-group-id: must differ from group-id")
	}
	if c.Source == "" {
		return errors.New("source: must not be empty")
	}
	if c.MaxInFlight < 1 {
		return errors.New("max-in-flight: must be at least 1")
	}
	if c.Warmup < 0 {
		return errors.New("warmup: must not be negative")
	}
	if c.Warmup > 0 && c.WarmupTimeout <= 0 {
		return errors.New("warmup-timeout: must be positive")
	}
	if c.StateTTL <= 0 {
		return errors.New("state-ttl: must be positive")
	}
	if c.StallAfter <= 0 {
		return errors.New("stall-after: must be positive")
	}
	names := map[string]bool{}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if err := w.validate(); err != nil {
			if w.Name == "" {
				return fmt.Errorf("webhooks[%d].%w", i, err)
			}
			return fmt.Errorf("webhooks[%s].%w", w.Key(), err)
		}
		if names[w.Key()] {
			if w.Tenant != "" {
				return fmt.Errorf("webhooks[%s].name: duplicate webhook name for tenant %q", w.Key(), w.Tenant)
			}
			return fmt.Errorf("webhooks[%s].name: duplicate webhook name", w.Key())
		}
		names[w.Key()] = true
	}
	if _, err := c.LoadRules(); err != nil {
		return err
	}
	return nil
}

func (w *Webhook) validate() error {
	if w.Name == "" {
		return errors.New("name: must not be empty")
	}
	if w.Tenant != "" {
		if err := tenant.CheckID(w.Tenant); err != nil {
			return fmt.Errorf("tenant: %w", err)
		}
	}
	// The URL is shown masked (redact.URL): an invalid one may still hold
	// a password or a token, and url.Parse's own error repeats it whole.
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: %q is not an http(s) URL", redact.URL(w.URL))
	}
	n := 0
	for _, s := range []string{w.Secret, w.SecretFile, w.SecretEnv} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("secret: give only one of secret, secret-file and secret-env")
	}
	if w.Secret != "" {
		if _, err := webhook.ParseSecret(w.Secret); err != nil {
			return fmt.Errorf("secret: %w", err)
		}
	}
	if !slices.Contains([]string{"", "cloudevents", "raw"}, w.Format) {
		return fmt.Errorf("format: %q is not cloudevents or raw", w.Format)
	}
	for k, d := range map[string]time.Duration{"timeout": w.Timeout, "retry-initial": w.RetryInitial,
		"retry-max": w.RetryMax, "retry-after-max": w.RetryAfterMax} {
		if d < 0 {
			return fmt.Errorf("%s: must not be negative", k)
		}
	}
	for _, st := range w.States {
		if !slices.Contains(deliverable, st) {
			return fmt.Errorf("states: %q is not one of %v", st, deliverable)
		}
	}
	if w.MaxAttempts < 0 {
		return errors.New("max-attempts: must not be negative")
	}
	if w.Concurrency < 0 {
		return errors.New("concurrency: must not be negative")
	}
	for _, name := range slices.Sorted(maps.Keys(w.Headers)) {
		// The value as written; endpoint checks it again once ${VAR} is
		// expanded.
		if err := webhook.ValidateHeader(name, w.Headers[name]); err != nil {
			return fmt.Errorf("headers: %w", err)
		}
	}
	return nil
}

// deliverable are the states a webhook may receive.
var deliverable = []string{"firing", "escalated", "resolved"}

// delivers reports whether the webhook receives transitions in state.
func (w *Webhook) delivers(state string) bool {
	if len(w.States) == 0 {
		return slices.Contains(deliverable, state)
	}
	return slices.Contains(w.States, state)
}

// Key names the webhook among all: its name for a provider webhook,
// "tenant/name" for a tenant's (the webhook label of the metrics, the
// key of errors: webhooks[acme/noc]).
func (w *Webhook) Key() string { return webhookKey(w.Tenant, w.Name) }

func webhookKey(tenant, name string) string {
	if tenant == "" {
		return name
	}
	return tenant + "/" + name
}

// key reads the webhook's signing key from wherever it is configured (nil
// when unsigned).
func (w *Webhook) key() ([]byte, error) {
	s := w.Secret
	switch {
	case w.SecretFile != "":
		b, err := os.ReadFile(w.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhooks[%s].secret-file: %w", w.Key(), err)
		}
		s = string(b)
	case w.SecretEnv != "":
		s = os.Getenv(w.SecretEnv)
		if s == "" {
			return nil, fmt.Errorf("webhooks[%s].secret-env: $%s is empty", w.Key(), w.SecretEnv)
		}
	case s == "":
		return nil, nil
	}
	k, err := webhook.ParseSecret(s)
	if err != nil {
		return nil, fmt.Errorf("webhooks[%s].secret: %w", w.Key(), err)
	}
	return k, nil
}

func (w *Webhook) endpoint() (webhook.Endpoint, error) {
	k, err := w.key()
	if err != nil {
		return webhook.Endpoint{}, err
	}
	h := map[string]string{}
	for name, v := range w.Headers {
		h[name] = os.ExpandEnv(v)
		if err := webhook.ValidateHeader(name, h[name]); err != nil {
			return webhook.Endpoint{}, fmt.Errorf("webhooks[%s].headers: %w (after expanding the environment)", w.Key(), err)
		}
	}
	ri := w.RetryInitial
	if ri == 0 {
		ri = 500 * time.Millisecond
	}
	return webhook.Endpoint{Name: w.Key(), URL: w.URL, Key: k, Headers: h, Timeout: w.Timeout,
		MaxAttempts: w.MaxAttempts, Concurrency: w.Concurrency, RetryInitial: ri, RetryMax: w.RetryMax,
		RetryAfterMax: w.RetryAfterMax}, nil
}

// LoadRules returns the effective rule set: the inline rules followed by
// the rules file's, defaults filled, validated, names unique across both,
// and every action.webhook naming a configured webhook: for a tenant rule
// one of its tenant's or a provider webhook (never another tenant's); for
// a provider rule a provider webhook or one that some tenant has.
func (c *Configuration) LoadRules() ([]Rule, error) {
	all := slices.Clone(c.Rules)
	if c.RulesFile != "" {
		b, err := os.ReadFile(c.RulesFile)
		if err != nil {
			return nil, fmt.Errorf("rules-file: %w", err)
		}
		fr, err := rules.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("rules-file %s: %w", c.RulesFile, err)
		}
		all = append(all, fr...)
	}
	// Deep-copy pointer fields so defaults never write into the caller's rules.
	for i := range all {
		if t := all[i].Threshold; t != nil {
			cp := *t
			all[i].Threshold = &cp
		}
		if b := all[i].Baseline; b != nil {
			cp := *b
			all[i].Baseline = &cp
		}
	}
	if err := rules.Prepare(all); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	for _, r := range all {
		name := r.Action.Webhook
		if name == "" {
			continue
		}
		if r.Tenant != "" {
			if _, ok := c.webhookFor(r.Tenant, name); !ok {
				return nil, fmt.Errorf("rules: rule %q: action.webhook: no webhook named %q of tenant %q or of the provider "+
					"(a tenant rule names its tenant's webhooks or the provider's)", r.Name, name, r.Tenant)
			}
			continue
		}
		if !slices.ContainsFunc(c.Webhooks, func(w Webhook) bool { return w.Name == name }) {
			return nil, fmt.Errorf("rules: rule %q: action.webhook: no webhook named %q", r.Name, name)
		}
	}
	return all, nil
}

// webhookFor returns the webhook an event of tenant tn (a tenant id, the
// default tenant for an event without one) delivered to name goes to: the
// tenant's webhook of that name, else the provider's; never another
// tenant's.
func (c *Configuration) webhookFor(tn, name string) (Webhook, bool) {
	var provider *Webhook
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		switch {
		case w.Name != name:
		case w.Tenant == tn:
			return *w, true
		case w.Tenant == "":
			provider = w
		}
	}
	if provider != nil {
		return *provider, true
	}
	return Webhook{}, false
}

// CheckTenants checks the tenants the rules (the rules file's included)
// and the webhooks name against the tenancy section r (nil:
// single-tenant): each must be a declared tenant or the default one.
func (c *Configuration) CheckTenants(r *tenant.Resolver) error {
	for _, w := range c.Webhooks {
		if w.Tenant == "" {
			continue
		}
		if err := r.Check(w.Tenant); err != nil {
			return fmt.Errorf("webhooks[%s].tenant: %w", w.Key(), err)
		}
	}
	rs, err := c.LoadRules()
	if err != nil {
		return err
	}
	return checkRuleTenants(rs, r)
}

func checkRuleTenants(rs []Rule, r *tenant.Resolver) error {
	for _, rl := range rs {
		if rl.Tenant == "" {
			continue
		}
		if err := r.Check(rl.Tenant); err != nil {
			return fmt.Errorf("rules: rule %q: tenant: %w", rl.Name, err)
		}
	}
	return nil
}

// String describes the webhook without its secret or header values, its
// URL masked by redact.URL (for `telemetry config keys` and logs).
func (w Webhook) String() string {
	secret := "none"
	switch {
	case w.Secret != "":
		secret = "inline(redacted)"
	case w.SecretFile != "":
		secret = "file:" + w.SecretFile
	case w.SecretEnv != "":
		secret = "env:" + w.SecretEnv
	}
	hdrs := make([]string, 0, len(w.Headers))
	for k := range w.Headers {
		hdrs = append(hdrs, k)
	}
	slices.Sort(hdrs)
	if w.Tenant != "" {
		return fmt.Sprintf("{name=%s tenant=%s url=%s format=%s secret=%s headers=%v}", w.Name, w.Tenant, redact.URL(w.URL), w.Format, secret, hdrs)
	}
	return fmt.Sprintf("{name=%s url=%s format=%s secret=%s headers=%v}", w.Name, redact.URL(w.URL), w.Format, secret, hdrs)
}
