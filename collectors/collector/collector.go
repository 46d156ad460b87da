package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/tenant"
)

// Dependencies are what the collector needs from outside.
type Dependencies struct {
	// Logger is the process's logger; the collector adds
	// component=collector and instance=<instance> (do not add a component
	// key yourself: a log line would carry it twice). nil: discard.
	Logger *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Kafka is the kafka section (brokers, TLS, SASL, topic names).
	Kafka *kafka.Configuration
	// Tenants is the tenancy section's resolver: which tenant owns each
	// target, and the tenants' limits. nil: one tenant, the default.
	Tenants *tenant.Resolver
}

var (
	_ component.Component = (*Collector)(nil)
	_ component.Readier   = (*Collector)(nil)
)

// Collector dials its share of the targets, subscribes and produces samples.
type Collector struct {
	cfg     Configuration
	log     *slog.Logger
	m       *metrics
	matcher *matcher
	kafka   *kafka.Configuration
	codec   rawCodec
	t       tally
	// prod is set by Start; sessions hold their own pointer to it.
	prod atomic.Pointer[producer]
	// edge runs collect.wasm (nil: no module); see edge.go.
	edge *edge
	// resolver and tenants: see tenants.go. tenants is read-only after New.
	resolver *tenant.Resolver
	tenants  map[string]*tenantState

	// life serialises Start and Stop; started and stopped are under it.
	life     sync.Mutex
	started  bool
	stopped  bool
	stopOnce component.Once
	wg       sync.WaitGroup

	mu sync.Mutex
	// ctx is the collector's life, from Start to Stop (nil before Start).
	ctx         context.Context
	cancel      context.CancelFunc
	sessions    map[string]*session
	seqs        map[string]*atomic.Uint64
	fileTargets []TargetConfig
	fileMembers []string // nil: cfg.Members
	members     []string // set by SetMembers; nil: file or cfg
	fileData    []byte
	badData     []byte // last rejected file (hasBad), not reported twice
	hasBad      bool
	// overLogged are the targets over their tenant's max-targets, each
	// logged once when it went over.
	overLogged map[string]bool
}

// tally is what the collector counts for Stats, next to each metric it
// matches (the same event, the same place).
type tally struct {
	updates    atomic.Uint64
	samples    atomic.Uint64
	inventory  atomic.Uint64
	produced   atomic.Uint64
	dropped    [numDropReasons]atomic.Uint64
	decodeErrs [numReasons]atomic.Uint64
}

// drop counts n records dropped for reason, here and in the metric.
func (t *tally) drop(m *metrics, reason dropReason, n uint64) {
	t.dropped[reason].Add(n)
	m.dropped[reason].Add(float64(n))
}

// Stats is a snapshot of what the collector did. Its maps have a key for
// every label value of the matching metric, at 0 until the first event.
type Stats struct {
	// Updates is the gNMI updates received.
	Updates uint64
	// Samples is the samples handed to the producer (interface, probe).
	Samples uint64
	// Inventory is the Device (inventory) records handed to the producer.
	// Samples + Inventory = Produced + the drops + Buffered.
	Inventory uint64
	// Produced is the records acknowledged by Kafka: samples and inventory.
	Produced uint64
	// Dropped counts dropped records by reason (DropReasons);
	// "unconfirmed" ones (not acknowledged within delivery-timeout, or when
	// Stop gave up flushing) may have been stored.
	Dropped map[string]uint64
	// DecodeErrors is the updates or notifications not decoded.
	DecodeErrors uint64
	// DecodeErrorsByReason splits DecodeErrors by reason
	// (DecodeErrorReasons).
	DecodeErrorsByReason map[string]uint64
	// TargetsAssigned and TargetsUp count this instance's targets.
	TargetsAssigned int
	TargetsUp       int
	// Buffered is the records waiting for Kafka.
	Buffered int
}

// TargetStatus is one assigned target's session.
type TargetStatus struct {
	Name, Site, Address string
	State               string
	LastError           string
	LastUpdate          time.Time
	// Errors counts session failures by cause.
	Errors map[string]uint64
	// Tenant owns the target.
	Tenant string
}

// New builds a collector; Start runs it.
func New(cfg Configuration, deps Dependencies) (*Collector, error) {
	if deps.Kafka == nil {
		return nil, errors.New("collector: Dependencies.Kafka is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	if err := cfg.CheckTenants(deps.Tenants); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	mt, err := compileMappings(cfg.mappings())
	if err != nil {
		return nil, fmt.Errorf("collect: mappings%w", err)
	}
	r := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	c := &Collector{
		cfg:      cfg,
		log:      r.Log.With("instance", cfg.Instance),
		matcher:  mt,
		kafka:    deps.Kafka,
		sessions: map[string]*session{},
		seqs:     map[string]*atomic.Uint64{},
		codec:    newRawCodec(),
		resolver: deps.Tenants,
	}
	c.m = newMetrics(r, func() float64 {
		if p := c.prod.Load(); p != nil {
			return float64(p.buffered())
		}
		return 0
	}, cfg.MetricsMaxTargets)
	c.tenants = newTenants(deps.Tenants, r)
	if err := r.Err(); err != nil {
		return nil, err
	}
	if c.edge, err = newEdge(cfg, r); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	return c, nil
}

// errStopped is Start after Stop: a collector runs once.
var errStopped = errors.New("collector: stopped")

// Start connects the producer, loads the targets file and starts a session
// per assigned target; it returns once they are started. ctx bounds the
// start-up only: the collector runs until Stop.
func (c *Collector) Start(ctx context.Context) error {
	c.life.Lock()
	defer c.life.Unlock()
	switch {
	case c.stopped:
		return errStopped
	case c.started:
		return errors.New("collector: already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	p, err := newProducer(c.cfg, c.kafka, c.m, &c.t, c.log, c.tenants)
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	if c.cfg.TargetsFile != "" {
		b, err := os.ReadFile(c.cfg.TargetsFile)
		if err == nil {
			err = c.loadFile(b)
		}
		if err != nil {
			p.cl.Close()
			return fmt.Errorf("collector: targets-file: %w", err)
		}
	}
	c.prod.Store(p)
	c.mu.Lock()
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.mu.Unlock()
	if c.edge != nil {
		if err := c.edge.start(ctx, c, p); err != nil {
			c.cancel()
			p.cl.Close()
			return fmt.Errorf("collector: wasm: %w", err)
		}
	}
	c.started = true
	if c.cfg.TargetsFile != "" {
		c.wg.Add(1)
		go c.watchFile()
	}
	c.reconcile()
	return nil
}

// Ready reports whether the collector serves: started, not stopped, and
// with at least one target up when targets are assigned to it.
func (c *Collector) Ready(context.Context) error {
	c.mu.Lock()
	ctx := c.ctx
	c.mu.Unlock()
	switch {
	case ctx == nil:
		return errors.New("not started")
	case ctx.Err() != nil:
		return errors.New("stopped")
	}
	if st := c.Stats(); st.TargetsAssigned > 0 && st.TargetsUp == 0 {
		return errors.New("no target up")
	}
	return nil
}

// Stop closes every session, flushes the producer (up to flush-timeout) and
// returns when no goroutine is left. It is idempotent (every call returns
// the first one's result), safe concurrently and without a Start; a
// stopped collector does not start again.
func (c *Collector) Stop() error {
	return c.stopOnce.Do(c.stop)
}

func (c *Collector) stop() error {
	c.life.Lock()
	c.stopped = true
	started := c.started
	c.life.Unlock()
	if !started {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	ss := c.sessions
	c.sessions = map[string]*session{}
	c.mu.Unlock()
	for _, s := range ss {
		<-s.done
	}
	if c.edge != nil {
		c.edge.stop()
	}
	return c.prod.Load().close(c.cfg.FlushTimeout)
}

// Stats returns a snapshot of the counters.
func (c *Collector) Stats() Stats {
	st := Stats{
		Updates:              c.t.updates.Load(),
		Samples:              c.t.samples.Load(),
		Inventory:            c.t.inventory.Load(),
		Produced:             c.t.produced.Load(),
		Dropped:              make(map[string]uint64, numDropReasons),
		DecodeErrorsByReason: make(map[string]uint64, numReasons),
	}
	for r, name := range dropReasonNames {
		st.Dropped[name] = c.t.dropped[r].Load()
	}
	for r, name := range reasonNames {
		n := c.t.decodeErrs[r].Load()
		st.DecodeErrorsByReason[name] = n
		st.DecodeErrors += n
	}
	if p := c.prod.Load(); p != nil {
		st.Buffered = p.buffered()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st.TargetsAssigned = len(c.sessions)
	for _, s := range c.sessions {
		s.mu.Lock()
		if s.state == StateUp {
			st.TargetsUp++
		}
		s.mu.Unlock()
	}
	return st
}

// Targets returns the status of every assigned target, by name.
func (c *Collector) Targets() []TargetStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TargetStatus, 0, len(c.sessions))
	for _, s := range c.sessions {
		s.mu.Lock()
		ts := TargetStatus{Name: s.cfg.Name, Site: s.cfg.Site, Address: s.cfg.Address, Tenant: s.cfg.Tenant, State: s.state,
			LastError: s.lastErr, Errors: map[string]uint64{}}
		for k, v := range s.errs {
			ts.Errors[k] = v
		}
		s.mu.Unlock()
		if n := s.lastUpdate.Load(); n > 0 {
			ts.LastUpdate = time.Unix(0, n)
		}
		out = append(out, ts)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetMembers replaces the member list (for example from a cluster
// membership source) and rebalances: targets now owned elsewhere stop, the
// ones this instance gained start. nil goes back to the configured list.
func (c *Collector) SetMembers(members []string) {
	c.mu.Lock()
	c.members = slices.Clone(members)
	c.mu.Unlock()
	c.reconcile()
}

// desired is the assigned targets with defaults applied and their tenant
// resolved, by name: those within their tenant's max-targets that
// rendezvous hashing gives this instance.
func (c *Collector) desired() map[string]TargetConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	members := c.cfg.configuredMembers()
	if c.fileMembers != nil {
		members = c.fileMembers
	}
	if c.members != nil {
		members = c.members
	}
	all := map[string]TargetConfig{}
	for _, list := range [][]TargetConfig{c.cfg.Targets, c.fileTargets} {
		for _, t := range list {
			all[t.Name] = t.withDefaults(c.cfg.TargetDefaults)
		}
	}
	c.limitTargets(all)
	out := map[string]TargetConfig{}
	for name, t := range all {
		if owns(c.cfg.Instance, members, name) {
			out[name] = t
		}
	}
	return out
}

// reconcile starts and stops sessions to match the desired targets.
func (c *Collector) reconcile() {
	want := c.desired()
	c.mu.Lock()
	if c.ctx == nil || c.ctx.Err() != nil { // not started, or stopped
		c.mu.Unlock()
		return
	}
	var stopping []*session
	for name, s := range c.sessions {
		if t, ok := want[name]; !ok || !reflect.DeepEqual(t, s.cfg) {
			s.cancel()
			stopping = append(stopping, s)
			delete(c.sessions, name)
		}
	}
	var started []string
	for name, t := range want {
		if _, ok := c.sessions[name]; ok {
			continue
		}
		c.sessions[name] = c.newSession(t)
		started = append(started, name)
	}
	c.m.targetsAssigned.Set(float64(len(c.sessions)))
	c.countTargets()
	c.mu.Unlock()
	for _, s := range stopping {
		<-s.done
		if _, still := want[s.cfg.Name]; !still {
			c.m.forget(s.cfg.Name)
			c.log.Info("target removed or moved to another member", "target", s.cfg.Name)
		}
		s.mu.Lock()
		up := s.state == StateUp
		s.mu.Unlock()
		if up {
			c.m.targetsUp.Dec()
		}
	}
	if len(started) > 0 {
		sort.Strings(started)
		c.log.Info("targets started", "targets", started)
	}
}

// newSession starts a session (c.mu held, c.ctx set).
func (c *Collector) newSession(t TargetConfig) *session {
	subs := c.cfg.Subscriptions
	if len(t.Subscriptions) > 0 {
		subs = nil
		for _, s := range c.cfg.Subscriptions {
			if slices.Contains(t.Subscriptions, s.Name) {
				subs = append(subs, s)
			}
		}
	}
	seq := c.seqs[t.Name]
	if seq == nil {
		seq = new(atomic.Uint64)
		c.seqs[t.Name] = seq
	}
	ctx, cancel := context.WithCancel(c.ctx)
	s := &session{
		c: c, cfg: t, seq: seq, cancel: cancel, done: make(chan struct{}),
		life: c.ctx, prod: c.prod.Load(),
		log:     c.log.With("target", t.Name, "address", t.Address),
		errs:    map[string]uint64{},
		series:  c.m.target(t.Name),
		limiter: component.LogLimiter{Period: time.Minute},
		tenant:  c.tenantOf(t.Tenant),
	}
	if t.Insecure && t.Username != "" {
		s.log.Warn("credentials will be sent in clear text: the target is insecure (plaintext gRPC); configure TLS for it")
	}
	for _, cause := range causeNames {
		s.errs[cause] = 0
	}
	if c.cfg.MaxUpdatesPerSecond > 0 {
		s.flood = newBucket(c.cfg.MaxUpdatesPerSecond)
	}
	s.stallTimeout = stallTimeoutFor(c.cfg.StallTimeout, subs)
	s.subs = subs
	go s.run(ctx)
	return s
}

// targetsFile is the format of the watched targets file.
type targetsFile struct {
	// Members, when present, replaces the configured member list.
	Members []string       `yaml:"members"`
	Targets []TargetConfig `yaml:"targets"`
}

// errNoTargets is a targets file that does not say which targets it
// holds: empty, only blanks or comments, or without a "targets:" list
// (missing or null). It is what a file caught while an editor or a
// configuration tool rewrites it looks like, so it is refused rather than
// read as "no targets" (which stops every session); a file meant to hold
// none says so with "targets: []".
var errNoTargets = errors.New(`no targets list (the file is empty, blank or comments only, or targets: is missing or null); write "targets: []" for none`)

// parseTargetsFile decodes and validates a targets file: one YAML
// document with a targets list (errNoTargets otherwise), unknown keys
// refused.
func parseTargetsFile(b []byte, defaults TargetConfig) (targetsFile, error) {
	var f targetsFile
	if len(bytes.TrimSpace(b)) == 0 {
		return f, errNoTargets
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return f, errNoTargets
		}
		return f, err
	}
	if f.Targets == nil {
		return f, errNoTargets
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return f, errors.New("a second YAML document (---) follows the first; a targets file holds one")
	}
	if err := validateTargets(f.Targets, defaults, "targets"); err != nil {
		return f, err
	}
	for i, m := range f.Members {
		if m == "" || slices.Contains(f.Members[:i], m) {
			return f, fmt.Errorf("members: %q empty or listed twice", m)
		}
	}
	return f, nil
}

// loadFile applies the targets file's content b, which must differ from
// the version in force; a file that does not parse or validate (its
// credentials included, see fileCredentials) is remembered as bad and
// leaves the targets in force as they are.
func (c *Collector) loadFile(b []byte) error {
	f, err := parseTargetsFile(b, c.cfg.TargetDefaults)
	if err == nil {
		err = checkTenants(f.Targets, c.cfg.TargetDefaults, c.resolver, "targets")
	}
	if err == nil {
		err = c.cfg.fileCredentials(f.Targets)
	}
	if err != nil {
		c.mu.Lock()
		c.badData, c.hasBad = b, true
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", c.cfg.TargetsFile, err)
	}
	if f.Members != nil && len(f.Members) > 0 && !slices.Contains(f.Members, c.cfg.Instance) {
		c.log.Warn("targets file members do not include this instance: it collects nothing", "members", f.Members)
	}
	c.mu.Lock()
	c.fileData = b
	c.fileTargets = f.Targets
	c.fileMembers = f.Members
	c.mu.Unlock()
	return nil
}

// watchFile polls the targets file and reconciles when it changes. A
// changed version is applied once it has read the same at two polls in a
// row, so a file rewritten in place (truncated, then written) is not taken
// half-written. A bad version (errNoTargets among them) is logged with its
// reason and counted once; the last good one stays in force.
func (c *Collector) watchFile() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.TargetsFileInterval)
	defer t.Stop()
	var pending []byte // a changed version seen at the last poll (hasPending)
	hasPending := false
	lastReadErr := ""
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(c.cfg.TargetsFile)
		if err != nil {
			hasPending = false
			if err.Error() != lastReadErr { // once per failure, not once per poll
				lastReadErr = err.Error()
				c.m.reloads.WithLabelValues(reloadError).Inc()
				c.log.Warn("targets file not reloaded, keeping the targets in force", "err", err)
			}
			continue
		}
		lastReadErr = ""
		c.mu.Lock()
		inForce := bytes.Equal(b, c.fileData)
		if inForce {
			c.badData, c.hasBad = nil, false // a bad version coming back is reported again
		}
		sameBad := c.hasBad && bytes.Equal(b, c.badData)
		c.mu.Unlock()
		switch {
		case inForce, sameBad:
			hasPending = false
			continue
		case !hasPending || !bytes.Equal(b, pending):
			pending, hasPending = b, true // changed since the last poll: wait until it settles
			continue
		}
		hasPending = false
		if err := c.loadFile(b); err != nil {
			c.m.reloads.WithLabelValues(reloadError).Inc()
			c.log.Warn("targets file not reloaded, keeping the targets in force", "err", err)
			continue
		}
		c.m.reloads.WithLabelValues(reloadOK).Inc()
		c.log.Info("targets file changed")
		c.reconcile()
	}
}
