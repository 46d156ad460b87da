package remediation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/processors/remediation/webhook"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Dependencies are what a Remediator needs from the process.
type Dependencies struct {
	// Logger is the process's logger, without a component key: the
	// Remediator's lines carry component=remediation. nil discards.
	Logger *slog.Logger
	// Registerer takes the telemetry_remediation_* metrics; nil registers
	// nothing.
	Registerer prometheus.Registerer
	Kafka      *kafka.Configuration
	// Tenants is the tenancy section's resolver: the tenants rules and
	// webhooks may name, the default tenant (of a KPI or an event without
	// one) and whether events carry it. nil: one tenant.
	Tenants *tenant.Resolver
}

// ruleSet is the rules in force, shared by the engine (the rules) and the
// dispatcher (their payload templates).
type ruleSet struct {
	rules     []Rule
	templates map[string]*template.Template
}

// Remediator runs the rules engine and the webhook dispatcher. It is a
// component.Component: New builds it, Start connects it (ctx bounds the
// start-up only), Stop stops it (idempotent, safe without Start and
// concurrently); Ready says whether it serves.
type Remediator struct {
	cfg  Configuration
	deps Dependencies
	log  *slog.Logger
	m    *metrics
	// lag is the consumer lag of both consumers (engine: kpis topic,
	// dispatcher: remediations topic), one gauge with a topic label, and
	// whether their commits stall.
	lag *kafka.Lag

	rules    atomic.Pointer[ruleSet]
	fileStat fileStamp
	// clients and webhooks by webhook key (Webhook.Key: "tenant/name" for
	// a tenant's); see webhookKeyFor.
	clients  map[string]*webhook.Client
	webhooks map[string]Webhook

	producer *kgo.Client
	eng      *engineLoop
	disp     *dispatcher
	// stallAfter is how long the engine may fail to produce its
	// transitions before Ready says so.
	stallAfter time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// mu serialises Start and the stop; started and stopped are written
	// under it. running is read by Ready without it (a Start may hold mu
	// for the whole start-up).
	mu       sync.Mutex
	started  bool
	stopped  bool
	running  atomic.Bool
	stopOnce component.Once
}

var (
	_ component.Component = (*Remediator)(nil)
	_ component.Readier   = (*Remediator)(nil)
)

type fileStamp struct {
	mod  time.Time
	size int64
}

// New builds a Remediator: loads and checks the rules, the webhooks'
// secrets and the metrics. It connects to nothing until Start.
func New(cfg Configuration, deps Dependencies) (*Remediator, error) {
	if deps.Kafka == nil {
		return nil, errors.New("remediation: Dependencies.Kafka is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("remediate: %w", err)
	}
	if err := cfg.CheckTenants(deps.Tenants); err != nil {
		return nil, fmt.Errorf("remediate: %w", err)
	}
	rep := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	names := make([]string, 0, len(cfg.Webhooks))
	for _, w := range cfg.Webhooks {
		names = append(names, w.Key())
	}
	r := &Remediator{cfg: cfg, deps: deps, log: rep.Log, m: newMetrics(rep, names), stallAfter: 30 * time.Second,
		clients: map[string]*webhook.Client{}, webhooks: map[string]Webhook{}}
	r.lag = kafka.NewLag(rep, cfg.StallAfter, deps.Kafka.Topics.KPIs, deps.Kafka.Topics.Remediations)
	if err := rep.Err(); err != nil {
		return nil, err
	}
	if err := r.loadRules(); err != nil {
		return nil, err
	}
	for _, w := range cfg.Webhooks {
		ep, err := w.endpoint()
		if err != nil {
			return nil, fmt.Errorf("remediate: %w", err)
		}
		cl := webhook.NewClient(ep)
		name := w.Key()
		cl.OnAttempt = func(a webhook.Attempt) { r.onAttempt(name, a) }
		r.clients[name] = cl
		r.webhooks[name] = w
	}
	return r, nil
}

// loadRules (re)loads the rule set; on error the rules in force stay.
func (r *Remediator) loadRules() error {
	var st fileStamp
	if r.cfg.RulesFile != "" {
		fi, err := os.Stat(r.cfg.RulesFile)
		if err != nil {
			return fmt.Errorf("remediate: rules-file: %w", err)
		}
		st = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	rs, err := r.cfg.LoadRules()
	if err == nil {
		err = checkRuleTenants(rs, r.deps.Tenants)
	}
	if err != nil {
		return fmt.Errorf("remediate: %w", err)
	}
	set := &ruleSet{rules: rs, templates: map[string]*template.Template{}}
	for i := range rs {
		if rs[i].Action.Template == "" {
			continue
		}
		t, err := rs[i].CompileTemplate()
		if err != nil {
			return fmt.Errorf("remediate: rule %q: action.template: %w", rs[i].Name, err)
		}
		set.templates[rs[i].Name] = t
	}
	if r.eng != nil {
		if err := r.eng.setRules(rs); err != nil {
			return fmt.Errorf("remediate: %w", err)
		}
	}
	r.rules.Store(set)
	r.fileStat = st
	r.m.rules.Store(int64(len(rs)))
	return nil
}

// watchRules polls the rules file's mtime and size and reloads on change,
// once the file has stayed the same for one interval: a file rewritten in
// place (truncated, then written) is never read half-written, which could
// load an empty rule set and drop every rule for an interval.
func (r *Remediator) watchRules(ctx context.Context) {
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	var seen fileStamp // the changed version seen at the last tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(r.cfg.RulesFile)
		if err != nil {
			continue
		}
		st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
		if st == r.fileStat {
			continue
		}
		if st != seen {
			seen = st // changed since the last tick: wait until it settles
			continue
		}
		if err := r.loadRules(); err != nil {
			r.fileStat = fileStamp{mod: fi.ModTime(), size: fi.Size()} // do not retry the same bad version
			r.m.reloads.inc("error")
			r.log.Error("rules file rejected, keeping the rules in force", "file", r.cfg.RulesFile, "err", err)
			continue
		}
		r.m.reloads.inc("ok")
		r.log.Info("rules reloaded", "file", r.cfg.RulesFile, "rules", r.m.rules.Load())
	}
}

// Start connects to Kafka (creating the topics if needed, within
// kafka.TopicsTimeout: a topic that cannot be created is logged and the
// start goes on, as in every component) and starts the engine, the
// dispatcher and the rules-file watcher. It returns once they run. ctx
// bounds the start-up only: they run until Stop. A Remediator starts once;
// Start after Stop is an error.
func (r *Remediator) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopped:
		return errors.New("remediation: stopped")
	case r.started:
		return errors.New("remediation: already started")
	}
	kc := r.deps.Kafka
	prod, err := kc.NewClient(ctx, r.log, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return fmt.Errorf("remediation producer: %w", err)
	}
	// The warm-up reader connects like the others, without a group and
	// without creating topics (the producer did).
	base, err := kc.Opts()
	if err != nil {
		prod.Close()
		return fmt.Errorf("remediation kafka: %w", err)
	}
	base = append(base, kafka.WithLogger(r.log))
	var eng *engineLoop
	var disp *dispatcher
	closeAll := func() {
		if disp != nil {
			disp.cl.Close()
		}
		if eng != nil {
			eng.cl.Close()
		}
		prod.Close()
	}
	if r.cfg.Engine {
		if eng, err = newEngineLoop(ctx, r, base, r.lag.Group(r.cfg.GroupID)); err != nil {
			closeAll()
			return err
		}
	}
	if r.cfg.Dispatcher {
		if disp, err = newDispatcher(ctx, r, r.lag.Group(r.cfg.DispatcherGroupID)); err != nil {
			closeAll()
			return err
		}
	}
	r.producer, r.eng, r.disp = prod, eng, disp
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	if eng != nil {
		r.wg.Add(2)
		go func() { defer r.wg.Done(); eng.run(runCtx) }()
		go func() { defer r.wg.Done(); eng.lag.Run(runCtx, eng.cl) }()
	}
	if disp != nil {
		r.wg.Add(2)
		go func() { defer r.wg.Done(); disp.run(runCtx) }()
		go func() { defer r.wg.Done(); disp.lag.Run(runCtx, disp.cl) }()
	}
	if r.cfg.RulesFile != "" {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.watchRules(runCtx) }()
	}
	r.started = true
	r.running.Store(true)
	r.log.Info("remediation started", "engine", r.cfg.Engine, "dispatcher", r.cfg.Dispatcher,
		"rules", r.m.rules.Load(), "webhooks", len(r.clients))
	return nil
}

// Stop stops consuming, abandons deliveries still retrying (their offsets
// are not committed, so they are delivered again after a restart), commits
// the offsets of what was handled, and closes the Kafka clients. It is
// idempotent and safe concurrently (every call returns the first's
// result), and without a Start.
func (r *Remediator) Stop() error {
	return r.stopOnce.Do(func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stopped = true
		if !r.started {
			return nil
		}
		r.running.Store(false)
		r.cancel()
		r.wg.Wait()
		var errs []error
		if r.disp != nil {
			errs = append(errs, r.disp.close())
		}
		if r.eng != nil {
			errs = append(errs, r.eng.close())
		}
		r.producer.Close()
		for _, c := range r.clients {
			c.Close()
		}
		r.log.Info("remediation stopped", "stats", fmt.Sprintf("%+v", r.Stats()))
		return errors.Join(errs...)
	})
}

// Ready reports whether the Remediator serves (for /readyz): it runs, a
// Kafka broker answers, the rules engine is not stuck failing to
// produce its transitions (it then stops consuming: its KPIs are not
// committed and the group's lag grows) for more than 30 s, and no
// partition of the engine's or the dispatcher's group is stalled (its
// committed offset unchanged for stall-after while it lags; the error
// names the partitions). The rules are loaded by New, so a Remediator
// that exists has them. A dispatcher retrying a webhook that is down is
// working as intended and stays ready while its retries end (delivered or
// dead-lettered) within stall-after; one whose records are held longer
// (more attempts, long Retry-After waits) is stalled and says so.
func (r *Remediator) Ready(ctx context.Context) error {
	if !r.running.Load() {
		return errors.New("remediation: not running")
	}
	if e := r.eng; e != nil {
		if since := e.failingSince.Load(); since != 0 && time.Since(time.Unix(0, since)) > r.stallAfter {
			return fmt.Errorf("remediation engine: transitions not produced since %s",
				time.Unix(0, since).UTC().Format(time.RFC3339))
		}
	}
	if err := r.lag.Stalled(); err != nil {
		return err
	}
	if err := r.producer.Ping(ctx); err != nil {
		return fmt.Errorf("remediation kafka: %w", err)
	}
	return nil
}

// Stats returns the running totals.
func (r *Remediator) Stats() Stats { return r.m.stats() }

func (r *Remediator) onAttempt(name string, a webhook.Attempt) {
	if a.N > 1 {
		r.m.retries.Add(1)
	}
	status := "error"
	switch {
	case a.Status == 429:
		status = "429"
	case a.Status >= 200 && a.Status < 300:
		status = "2xx"
	case a.Status >= 400 && a.Status < 500:
		status = "4xx"
	case a.Status >= 500:
		status = "5xx"
	case a.Status != 0:
		status = "other"
	}
	r.m.attempts.inc(name + "/" + status)
	if a.Err != nil {
		r.log.Debug("webhook attempt failed", "webhook", name, "attempt", a.N, "status", a.Status, "err", a.Err, "wait", a.Wait)
	}
}

// remediationRecord builds the Kafka record of a transition, with its
// tenant header when it has a tenant.
func (r *Remediator) remediationRecord(ev *wirepb.RemediationEvent) (*kgo.Record, error) {
	b, err := wire.Marshal(nil, ev)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: r.deps.Kafka.Topics.Remediations, Key: []byte(ev.GetEventId()), Value: b,
		Headers: wire.TenantHeaders(wire.SchemaRemediation, ev.GetTenant())}, nil
}

// webhookKeyFor is the key of the webhook an event of tenant tn ("": the
// default tenant) delivered to name goes to: the tenant's own webhook of
// that name, else the provider's; never another tenant's. false when
// there is none.
func (r *Remediator) webhookKeyFor(tn, name string) (string, bool) {
	tn = r.deps.Tenants.Or(tn)
	if k := webhookKey(tn, name); r.clients[k] != nil {
		return k, true
	}
	if r.clients[name] != nil && r.webhooks[name].Tenant == "" {
		return name, true
	}
	return "", false
}

// newEngine is a rules engine over rs that reads the tenancy.
func (r *Remediator) newEngine(rs []Rule) *rules.Engine {
	en, _ := rules.NewEngine(rs) // rules were checked at load
	en.SetTenants(r.deps.Tenants)
	return en
}

// lostDeadLetter accounts for a dead letter of comp that Kafka refused for
// good (the producer retries the others without end): logged with what it
// stood for and counted; its record is then handled, not retried, so it
// never holds its partition back.
func (r *Remediator) lostDeadLetter(comp string, dl *kgo.Record, err error) {
	r.m.lostDLs.inc(comp)
	kafka.LogLostDeadLetter(r.log, dl, err)
}

// deadLetter counts src as dead-lettered by comp (engineComponent or
// dispatcherComponent) for reason, and returns its dead-letter record,
// which always fits in a Kafka record (wire.DeadLetterRecord).
func (r *Remediator) deadLetter(comp, reason string, cause error, src *kgo.Record) *kgo.Record {
	r.m.deadLetters.inc(comp + "/" + reason)
	return wire.DeadLetterRecord(r.deps.Kafka.Topics.DeadLetter, comp, cause, src, time.Now())
}
