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

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/processors/remediation/webhook"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Dependencies are what a Remediator needs from the process.
type Dependencies struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Kafka      *kafka.Configuration
}

// ruleSet is the rules in force, shared by the engine (the rules) and the
// dispatcher (their payload templates).
type ruleSet struct {
	rules     []Rule
	templates map[string]*template.Template
}

// Remediator runs the rules engine and the webhook dispatcher.
type Remediator struct {
	cfg  Configuration
	deps Dependencies
	log  *slog.Logger
	m    *metrics
	c    counters
	// lag is the consumer lag of both consumers (engine: kpis topic,
	// dispatcher: remediations topic), one gauge with a topic label.
	lag *kafka.Lag

	rules    atomic.Pointer[ruleSet]
	fileStat fileStamp
	clients  map[string]*webhook.Client
	webhooks map[string]Webhook

	producer *kgo.Client
	eng      *engineLoop
	disp     *dispatcher

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	start  bool
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New builds a Remediator: loads and checks the rules, the webhooks'
// secrets and the metrics. It connects to nothing until Start.
func New(cfg Configuration, deps Dependencies) (*Remediator, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Kafka == nil {
		return nil, errors.New("remediation: Dependencies.Kafka is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("remediate: %w", err)
	}
	r := &Remediator{cfg: cfg, deps: deps, log: deps.Logger.With("component", "remediation"),
		clients: map[string]*webhook.Client{}, webhooks: map[string]Webhook{}}
	m, err := newMetrics(deps.Registerer, &r.c)
	if err != nil {
		return nil, fmt.Errorf("remediation metrics: %w", err)
	}
	r.m = m
	r.lag = kafka.NewLag(deps.Registerer, "remediation")
	if err := r.loadRules(); err != nil {
		return nil, err
	}
	for _, w := range cfg.Webhooks {
		ep, err := w.endpoint()
		if err != nil {
			return nil, fmt.Errorf("remediate: %w", err)
		}
		cl := webhook.NewClient(ep)
		name := w.Name
		cl.OnAttempt = func(a webhook.Attempt) { r.onAttempt(name, a) }
		r.clients[w.Name] = cl
		r.webhooks[w.Name] = w
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
	r.c.rules.Store(int64(len(rs)))
	return nil
}

// watchRules polls the rules file's mtime and size and reloads on change.
func (r *Remediator) watchRules(ctx context.Context) {
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
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
		if (fileStamp{mod: fi.ModTime(), size: fi.Size()}) == r.fileStat {
			continue
		}
		if err := r.loadRules(); err != nil {
			r.fileStat = fileStamp{mod: fi.ModTime(), size: fi.Size()} // do not retry the same bad version
			r.c.reloadErrs.Add(1)
			r.m.reloads.WithLabelValues("error").Inc()
			r.log.Error("rules file rejected, keeping the rules in force", "file", r.cfg.RulesFile, "err", err)
			continue
		}
		r.c.reloads.Add(1)
		r.m.reloads.WithLabelValues("ok").Inc()
		r.log.Info("rules reloaded", "file", r.cfg.RulesFile, "rules", r.c.rules.Load())
	}
}

// Start connects to Kafka, creates the topics if needed, and starts the
// engine, the dispatcher and the rules-file watcher. It returns once they
// run.
func (r *Remediator) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start {
		return errors.New("remediation: already started")
	}
	kc := r.deps.Kafka
	opts, err := kc.Opts()
	if err != nil {
		return fmt.Errorf("remediation kafka: %w", err)
	}
	opts = append(opts, kafka.WithLogger(r.log))
	prod, err := kgo.NewClient(append(opts, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...)
	if err != nil {
		return fmt.Errorf("remediation kafka producer: %w", err)
	}
	cctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
	err = kc.EnsureTopics(cctx, prod)
	cancelT()
	if err != nil {
		prod.Close()
		return fmt.Errorf("remediation: %w", err)
	}
	r.producer = prod
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	if r.cfg.Engine {
		e, err := newEngineLoop(r, opts)
		if err != nil {
			cancel()
			prod.Close()
			return err
		}
		r.eng = e
		r.wg.Add(1)
		go func() { defer r.wg.Done(); e.run(runCtx) }()
	}
	if r.cfg.Dispatcher {
		d, err := newDispatcher(r, opts)
		if err != nil {
			cancel()
			r.wg.Wait()
			if r.eng != nil {
				r.eng.close()
			}
			prod.Close()
			return err
		}
		r.disp = d
		r.wg.Add(1)
		go func() { defer r.wg.Done(); d.run(runCtx) }()
	}
	if r.cfg.RulesFile != "" {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.watchRules(runCtx) }()
	}
	r.start = true
	r.log.Info("remediation started", "engine", r.cfg.Engine, "dispatcher", r.cfg.Dispatcher,
		"rules", r.c.rules.Load(), "webhooks", len(r.clients))
	return nil
}

// Stop stops consuming, abandons deliveries still retrying (their offsets
// are not committed, so they are delivered again after a restart), commits
// the offsets of what was handled, and closes the Kafka clients.
func (r *Remediator) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.start {
		return nil
	}
	r.start = false
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
}

// Stats returns the running totals.
func (r *Remediator) Stats() Stats { return r.c.stats() }

func (r *Remediator) onAttempt(name string, a webhook.Attempt) {
	r.c.attempts.Add(1)
	if a.N > 1 {
		r.c.retries.Add(1)
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
	r.m.attempts.WithLabelValues(name, status).Inc()
	if a.Err != nil {
		r.log.Debug("webhook attempt failed", "webhook", name, "attempt", a.N, "status", a.Status, "err", a.Err, "wait", a.Wait)
	}
}

// remediationRecord builds the Kafka record of a transition.
func (r *Remediator) remediationRecord(ev *wirepb.RemediationEvent) (*kgo.Record, error) {
	b, err := wire.Marshal(nil, ev)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: r.deps.Kafka.Topics.Remediations, Key: []byte(ev.GetEventId()), Value: b,
		Headers: []kgo.RecordHeader{{Key: wire.SchemaHeader, Value: []byte(wire.SchemaRemediation)}}}, nil
}

// deadLetterRecord builds the dead-letter record for a consumed record.
func (r *Remediator) deadLetterRecord(component, reason string, src *kgo.Record) *kgo.Record {
	dl := &wirepb.DeadLetter{Reason: reason, Component: component, SourceTopic: src.Topic,
		SourcePartition: src.Partition, SourceOffset: src.Offset, Key: src.Key, Payload: src.Value,
		TimeUnixNano: time.Now().UnixNano()}
	b, _ := wire.Marshal(nil, dl) // a DeadLetter always marshals
	r.c.deadLetters.Add(1)
	return &kgo.Record{Topic: r.deps.Kafka.Topics.DeadLetter, Key: src.Key, Value: b,
		Headers: []kgo.RecordHeader{{Key: wire.SchemaHeader, Value: []byte(wire.SchemaDeadLetter)}}}
}
