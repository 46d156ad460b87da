package kpi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Stage is the processor's name: its metrics are telemetry_processor_*,
// its log lines carry component=processor, its dead letters say
// component "processor".
const Stage = "processor"

// Dependencies are what the processor needs from outside.
type Dependencies struct {
	// Logger is the process's logger; the processor adds
	// component=processor and instance=<instance> (do not add a component
	// key yourself: it would be there twice).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Kafka      *kafka.Configuration
	// KafkaOpts are extra franz-go options (tests: fast rebalances).
	KafkaOpts []kgo.Opt
	// Tenants is the tenancy section's resolver: the default tenant (of
	// samples without one) and whether KPIs carry it. nil: one tenant.
	Tenants *tenant.Resolver
}

// Stats is a snapshot of what the processor did. Its maps have a key for
// every label value of the matching metric, at 0 until the first event.
type Stats struct {
	SamplesIn     uint64
	KPIsOut       uint64
	DeadLetters   uint64
	ProduceErrors uint64
	// DeadLettersLost: dead letters Kafka refused for good (logged with
	// what they stood for; the records are skipped, not retried).
	DeadLettersLost uint64
	Commits         uint64
	// Wrap32 and Wrap64 count counter wraps taken as such.
	Wrap32, Wrap64 uint64
	// StuckSeries counts the series closed because their device time
	// stopped advancing while their samples kept arriving
	// (telemetry_processor_stuck_series_total; their later samples are
	// the stuck_clock drops).
	StuckSeries uint64
	// Drops by reason: the reasons of telemetry_processor_drops_total
	// (DropReasons).
	Drops map[string]uint64
	// KPIs produced by kind: the kinds of telemetry_processor_kpis_total
	// (KPIKinds); they add up to KPIsOut.
	KPIs map[string]uint64
}

// dropReason is a reason a record, an interval or a window is dropped for,
// and where it is counted: count reads the engine's counter; nil is the
// processor's own (decode: records that go to the dead-letter topic).
type dropReason struct {
	name  string
	count func(*EngineStats) uint64
}

// dropReasons is the one list of drop reasons: the label values of
// telemetry_processor_drops_total (each at 0 from the start) and the keys
// of Stats.Drops are both made from it, so neither can miss one.
var dropReasons = [...]dropReason{
	{"decode", nil}, // dropDecode
	{"duplicate", func(s *EngineStats) uint64 { return s.Duplicate }},
	{"out_of_order", func(s *EngineStats) uint64 { return s.OutOfOrder }},
	{"reset", func(s *EngineStats) uint64 { return s.Reset }},
	{"gap", func(s *EngineStats) uint64 { return s.Gap }},
	{"late", func(s *EngineStats) uint64 { return s.Late }},
	{"warmup", func(s *EngineStats) uint64 { return s.Warmup }},
	{"ignored", func(s *EngineStats) uint64 { return s.Ignored }},
	{"no_device", func(s *EngineStats) uint64 { return s.NoDevice }},
	{"unknown_state", func(s *EngineStats) uint64 { return s.UnknownState }},
	{"late_state", func(s *EngineStats) uint64 { return s.LateState }},
	{"stuck_clock", func(s *EngineStats) uint64 { return s.StuckClock }},
}

// dropDecode is the index of the decode reason in dropReasons.
const dropDecode = 0

// kpiKind is a kind of KPI, the label value of
// telemetry_processor_kpis_total and a key of Stats.KPIs.
type kpiKind int

const (
	kindInterface kpiKind = iota
	kindLink
	kindPipeline
	kindDevice
	nKinds
)

// kindNames is the one list of KPI kinds, indexed by kpiKind.
var kindNames = [nKinds]string{kindInterface: "interface", kindLink: "link", kindPipeline: "pipeline", kindDevice: "device"}

// kindOf is the kind of a KPI (pipeline for a KPI without a known body, as
// it always was counted).
func kindOf(k *wirepb.KPI) kpiKind {
	switch k.Body.(type) {
	case *wirepb.KPI_Interface:
		return kindInterface
	case *wirepb.KPI_Link:
		return kindLink
	case *wirepb.KPI_DeviceKpi:
		return kindDevice
	}
	return kindPipeline
}

// counterEvents are the label values of
// telemetry_processor_counter_events_total.
var counterEvents = [...]string{"wrap32", "wrap64"}

// DropReasons returns the drop reasons, in the order of docs/kpis.md.
func DropReasons() []string {
	out := make([]string, len(dropReasons))
	for i, d := range dropReasons {
		out[i] = d.name
	}
	return out
}

// KPIKinds returns the kinds of KPI the processor produces.
func KPIKinds() []string { return append([]string(nil), kindNames[:]...) }

type metrics struct {
	samples      prometheus.Counter
	kpis         [nKinds]prometheus.Counter
	drops        [len(dropReasons)]prometheus.Counter
	wrap32       prometheus.Counter
	wrap64       prometheus.Counter
	deadletters  prometheus.Counter
	lostDLs      prometheus.Counter
	produceErrs  prometheus.Counter
	commits      prometheus.Counter
	stuck        prometheus.Counter
	series       prometheus.Gauge
	watermarkLag prometheus.Gauge
	uncommitted  prometheus.Gauge
}

// newMetrics declares the processor's metrics through r. The labelled
// series are resolved here, once: the loop adds to them without a label
// lookup.
func newMetrics(r *component.Reporter) (*metrics, error) {
	kinds := KPIKinds()
	reasons := DropReasons()
	kpis := r.CounterVec("kpis_total", "KPIs produced, by kind.", []string{"kind"}, component.Values(kinds...)...)
	drops := r.CounterVec("drops_total", "Samples, intervals or windows dropped, by reason.", []string{"reason"}, component.Values(reasons...)...)
	events := r.CounterVec("counter_events_total", "Counter wraps taken as such, by width.", []string{"event"}, component.Values(counterEvents[:]...)...)
	m := &metrics{
		samples:      r.Counter("samples_total", "Sample records consumed."),
		wrap32:       events.WithLabelValues("wrap32"),
		wrap64:       events.WithLabelValues("wrap64"),
		deadletters:  r.Counter("deadletters_total", "Records sent to the dead-letter topic."),
		lostDLs:      r.Counter("deadletters_lost_total", "Dead letters Kafka refused for good: logged with the source record's coordinates, sizes and SHA-256, and skipped."),
		produceErrs:  r.Counter("produce_errors_total", "KPI or dead-letter records Kafka did not accept."),
		commits:      r.Counter("commits_total", "Offset commits."),
		stuck:        r.Counter("stuck_series_total", "Interface and link series closed because their device time stopped advancing for max-gap while their samples kept arriving."),
		series:       r.Gauge("series", "Open interface, link and device series."),
		watermarkLag: r.Gauge("device_time_lag_seconds", "Processing time minus the newest device time seen in the last poll."),
		uncommitted:  r.Gauge("uncommitted_records", "Records consumed but not committed yet (held by open windows)."),
	}
	for i, k := range kinds {
		m.kpis[i] = kpis.WithLabelValues(k)
	}
	for i, d := range reasons {
		m.drops[i] = drops.WithLabelValues(d)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register %w", err)
	}
	return m, nil
}

// Processor consumes samples from Kafka in a consumer group, runs the
// Engine and produces KPIs. Offsets are committed only below what open
// windows still need, and only after the KPIs produced so far are
// acknowledged (at-least-once; KPI ids make replays idempotent).
type Processor struct {
	cfg      Configuration
	deps     Dependencies
	log      *slog.Logger
	m        *metrics
	lag      *kafka.Lag
	glag     *kafka.GroupLag
	instance string

	mu        sync.Mutex // guards engine, consumed, committed, exported
	engine    *Engine
	consumed  map[int32]int64 // next offset after the last record consumed
	committed map[int32]int64
	exported  EngineStats
	kpisOut   [nKinds]uint64
	commitsN  uint64
	stuckLog  []StuckSeries // scratch of exportLocked

	// life serialises Start and Stop; state (stateNew, stateRunning,
	// stateStopped) is read without it by Ready.
	life  sync.Mutex
	state atomic.Int32

	client *kgo.Client
	cancel context.CancelFunc
	// ends is the latest listing of the samples topic's end offsets
	// (watchEnds), under endsMu.
	endsMu sync.Mutex
	ends   endOffsets
	// prodCtx bounds waiting for producer buffer space; cancelled only when
	// Stop gives up waiting (Kafka unreachable).
	prodCtx    context.Context
	prodCancel context.CancelFunc
	done       chan struct{}
	produceBad atomic.Bool
	deadN      atomic.Uint64
	lostN      atomic.Uint64
	decodeN    atomic.Uint64
	prodErrN   atomic.Uint64
	closing    bool // under mu: Stop has committed; callbacks do nothing

	snapMu      sync.Mutex // guards the snapshot Stats reads
	snap        EngineStats
	snapKPIs    [nKinds]uint64
	snapCommits uint64
	stopOnce    component.Once
	// edge runs process.wasm on the KPIs before they are produced (under
	// mu); see wasm.go.
	edge        *wasm.Hook
	edgeScratch wasm.Scratch
	// headers are the KPI records' headers of the known tenants, by the
	// tenant a KPI carries; read-only.
	headers map[string][]kgo.RecordHeader
}

const (
	stateNew int32 = iota
	stateRunning
	stateStopped
)

var (
	_ component.Component = (*Processor)(nil)
	_ component.Readier   = (*Processor)(nil)
)

// New builds a processor; it does not connect.
func New(cfg Configuration, deps Dependencies) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	if deps.Kafka == nil {
		return nil, errors.New("process: no kafka configuration")
	}
	r := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	m, err := newMetrics(r)
	if err != nil {
		return nil, err
	}
	lag := kafka.NewLag(r, cfg.StallAfter, deps.Kafka.Topics.Samples)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register %w", err)
	}
	edge, err := wasm.New(wasm.HookProcess, cfg.Wasm, wasm.Dependencies{Reporter: r, Instances: 1})
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	instance := cfg.Instance
	if instance == "" {
		h, _ := os.Hostname()
		instance = h + "-" + strconv.Itoa(os.Getpid())
	}
	engine := NewEngine(cfg, instance)
	engine.tenants = deps.Tenants
	headers := map[string][]kgo.RecordHeader{}
	for _, id := range deps.Tenants.IDs() {
		stamp := deps.Tenants.Stamp(id)
		headers[stamp] = wire.TenantHeaders(wire.SchemaKPI, stamp)
	}
	return &Processor{
		cfg: cfg, deps: deps, m: m, instance: instance,
		log:       r.Log.With("instance", instance),
		engine:    engine,
		lag:       lag,
		glag:      lag.Group(cfg.GroupID),
		consumed:  map[int32]int64{},
		committed: map[int32]int64{},
		edge:      edge,
		headers:   headers,
	}, nil
}

// Instance is the name this processor puts in its pipeline KPIs.
func (p *Processor) Instance() string { return p.instance }

// Start joins the consumer group and processes in the background. ctx
// bounds the start-up only (the client, topic creation); the processing
// runs until Stop, whatever becomes of ctx. A processor starts once: a
// Start after a Start or a Stop is an error.
func (p *Processor) Start(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	switch p.state.Load() {
	case stateRunning:
		return errors.New("process: already started")
	case stateStopped:
		return errors.New("process: stopped")
	}
	if err := p.edge.Start(ctx); err != nil {
		return fmt.Errorf("process: %w", err)
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(p.cfg.GroupID),
		kgo.SessionTimeout(p.cfg.SessionTimeout),
		kgo.ConsumeTopics(p.deps.Kafka.Topics.Samples),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(p.assigned),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.lost),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	cl, err := p.deps.Kafka.NewClient(ctx, p.log, append(opts, p.deps.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("process: %w", err)
	}
	p.client = cl
	p.prodCtx, p.prodCancel = context.WithCancel(context.WithoutCancel(ctx))
	lctx, lcancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = lcancel
	p.done = make(chan struct{})
	p.state.Store(stateRunning)
	go p.run(lctx)
	p.log.Info("processing", "group", p.cfg.GroupID, "topic", p.deps.Kafka.Topics.Samples, "window", p.cfg.Window)
	return nil
}

// Ready is nil while the processor runs, can still commit and reaches a
// Kafka broker. It is not ready before Start, after Stop, once Kafka
// refused one of its records (it then commits nothing more: restart it,
// see docs/kpis.md), while a partition it owns is stalled (its committed
// offset unchanged for stall-after while it lags; the error names the
// partitions), or while no broker answers. It does not ask for
// assigned partitions: with more instances than partitions, an idle
// member is a normal standby.
func (p *Processor) Ready(ctx context.Context) error {
	switch p.state.Load() {
	case stateNew:
		return errors.New("not started")
	case stateStopped:
		return errors.New("stopped")
	}
	if p.produceBad.Load() {
		return errors.New("kafka refused a KPI or dead letter: this instance commits nothing more until restarted")
	}
	if err := p.lag.Stalled(); err != nil {
		return err
	}
	if err := p.client.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

func (p *Processor) run(ctx context.Context) {
	defer close(p.done)
	wctx, wcancel := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() {
		defer watchers.Done()
		p.watchEnds(wctx)
	}()
	go func() {
		defer watchers.Done()
		p.glag.Run(wctx, p.client)
	}()
	defer func() {
		wcancel()
		watchers.Wait()
	}()
	var (
		kpis       []*wirepb.KPI
		dec        = wire.NewSampleDecoder()
		lastCommit time.Time
	)
	for {
		pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fetches := p.client.PollRecords(pctx, p.cfg.MaxPollRecords)
		cancel()
		if kafka.Closed(ctx, fetches) {
			p.client.AllowRebalance()
			return
		}
		kafka.LogFetchErrors(p.log, fetches)
		p.mu.Lock()
		now := time.Now()
		var maxDev int64
		fetches.EachRecord(func(r *kgo.Record) {
			p.consumed[r.Partition] = r.Offset + 1
			if h, ok := wire.SchemaOf(r); ok && string(h) != wire.SchemaSample {
				p.deadLetter(r, fmt.Errorf("%s header %q, want %q", wire.SchemaHeader, h, wire.SchemaSample), now)
				return
			}
			sample, err := dec.Decode(r.Value)
			if err == nil && sample.Tenant != "" && !tenant.Valid(sample.Tenant) {
				// what a store, a metric or a login could not take as a tenant
				err = fmt.Errorf("%w: tenant %q: %w", wire.ErrMalformed, sample.Tenant, tenant.CheckID(sample.Tenant))
			}
			if err != nil {
				p.deadLetter(r, err, now)
				return
			}
			maxDev = max(maxDev, sample.DeviceTimeUnixNano)
			p.engine.AddFrom(sample, now, Origin{Partition: r.Partition, Offset: r.Offset})
		})
		if maxDev > 0 {
			p.m.watermarkLag.Set(float64(now.UnixNano()-maxDev) / 1e9)
		}
		// A partition consumed up to the end offset it had when last listed
		// is caught up as of that listing: its device windows may close on
		// that time even when nothing arrives on it (see docs/kpis.md,
		// Device KPI).
		p.endsMu.Lock()
		ends := p.ends
		p.endsMu.Unlock()
		for part, next := range p.consumed {
			if end, ok := ends.off[part]; ok && next >= end {
				p.engine.CaughtUp(part, ends.at)
			}
		}
		kpis = p.engine.Collect(now, kpis[:0])
		p.produce(kpis)
		clear(kpis)
		if now.Sub(lastCommit) >= p.cfg.CommitInterval {
			lastCommit = now
			p.commitLocked(ctx, nil)
		}
		p.exportLocked()
		p.mu.Unlock()
		p.client.AllowRebalance()
	}
}

// endOffsets is a listing of the samples topic's end offsets.
type endOffsets struct {
	at  time.Time // taken before the request
	off map[int32]int64
}

// watchEnds lists the samples topic's end offsets every quarter window
// (0.1 to 1 s) while ctx lasts. A listing that fails (Kafka unreachable)
// leaves the previous one: no partition is caught up past it.
func (p *Processor) watchEnds(ctx context.Context) {
	adm := kadm.NewClient(p.client)
	every := min(max(p.cfg.Window/4, 100*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := time.Now()
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		listed, err := adm.ListEndOffsets(lctx, p.deps.Kafka.Topics.Samples)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Debug("list end offsets", "err", err)
			}
			continue
		}
		off := map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				off[o.Partition] = o.Offset
			}
		})
		p.endsMu.Lock()
		p.ends = endOffsets{at: at, off: off}
		p.endsMu.Unlock()
	}
}

func kpiKey(k *wirepb.KPI) []byte {
	switch b := k.Body.(type) {
	case *wirepb.KPI_Interface:
		return []byte(k.Site + "/" + k.Device + "/" + b.Interface.Interface)
	case *wirepb.KPI_Link:
		return []byte(k.Site + "/" + k.Device + ">" + b.Link.DstSite + "/" + b.Link.DstDevice)
	case *wirepb.KPI_Pipeline:
		return []byte("pipeline/" + b.Pipeline.Instance)
	case *wirepb.KPI_DeviceKpi:
		return []byte(k.Site + "/" + k.Device)
	}
	return nil
}

func (p *Processor) onProduced(r *kgo.Record, err error) {
	if err != nil {
		p.produceBad.Store(true)
		p.prodErrN.Add(1)
		p.m.produceErrs.Inc()
		p.log.Error("produce failed: offsets will not be committed past it", "topic", r.Topic, "err", err)
	}
}

// produce sends KPIs (asynchronously; commitLocked waits for the acks).
func (p *Processor) produce(kpis []*wirepb.KPI) {
	var owners map[[2]string]string
	if len(p.cfg.Wasm) > 0 {
		owners = tenantsOf(kpis)
	}
	kpis = p.edge.KPIs(context.Background(), &p.edgeScratch, kpis) // process.wasm
	for _, k := range kpis {
		if owners != nil {
			p.restamp(k, owners)
		}
		v, err := wire.Marshal(nil, k)
		if err != nil {
			p.log.Error("marshal KPI", "err", err)
			continue
		}
		p.client.Produce(p.prodCtx, &kgo.Record{
			Topic:   p.deps.Kafka.Topics.KPIs,
			Key:     kpiKey(k),
			Value:   v,
			Headers: p.headersOf(k.Tenant),
		}, p.onProduced)
		kind := kindOf(k)
		p.kpisOut[kind]++
		p.m.kpis[kind].Inc()
	}
}

// headersOf returns the headers of a KPI record whose tenant field is tn:
// shared for the tenants of the configuration.
func (p *Processor) headersOf(tn string) []kgo.RecordHeader {
	if h, ok := p.headers[tn]; ok {
		return h
	}
	return wire.TenantHeaders(wire.SchemaKPI, tn)
}

// tenantsOf maps the (site, device) of the KPIs to their tenant, before a
// process-hook module sees them.
func tenantsOf(kpis []*wirepb.KPI) map[[2]string]string {
	m := make(map[[2]string]string, len(kpis))
	for _, k := range kpis {
		m[[2]string{k.Site, k.Device}] = k.Tenant
	}
	return m
}

// restamp sets the tenant of a KPI a process-hook module returned: a
// module cannot move a KPI to another tenant. A KPI of a (site, device)
// the batch had takes that device's tenant; another (one the module made
// up) keeps its tenant when that is a valid id, else gets the default one.
func (p *Processor) restamp(k *wirepb.KPI, owners map[[2]string]string) {
	if tn, ok := owners[[2]string{k.Site, k.Device}]; ok {
		k.Tenant = tn
		return
	}
	if k.Tenant != "" && !tenant.Valid(k.Tenant) {
		k.Tenant = p.deps.Tenants.Stamp("")
	}
}

// deadLetter sends r to the dead-letter topic: its dead letter always fits
// in a record (wire.DeadLetterRecord cuts the key and payload and keeps
// their sizes and the payload's hash), so a record of any size the broker
// took is accounted for and never holds the partition's commits back.
func (p *Processor) deadLetter(r *kgo.Record, cause error, now time.Time) {
	p.decodeN.Add(1)
	p.m.drops[dropDecode].Inc()
	p.deadN.Add(1)
	p.m.deadletters.Inc()
	p.client.Produce(p.prodCtx, wire.DeadLetterRecord(p.deps.Kafka.Topics.DeadLetter, Stage, cause, r, now), p.onDeadLetter)
}

// onDeadLetter is the promise of a dead letter. One Kafka refused for
// good (the client retries the others without end) is logged with what it
// stood for and counted, and the commits go on past its record: the record
// is accounted for and never holds the partition back. One not sent
// because Stop gave up waiting is not acknowledged, like a KPI.
func (p *Processor) onDeadLetter(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		p.onProduced(r, err)
		return
	}
	p.lostN.Add(1)
	p.m.lostDLs.Inc()
	kafka.LogLostDeadLetter(p.log, r, err)
}

// commitLocked waits until everything produced is acknowledged, then
// commits, for each partition (only those in only, when not nil), the
// lowest offset an open window still needs (or everything consumed).
func (p *Processor) commitLocked(ctx context.Context, only []int32) {
	if err := p.client.Flush(ctx); err != nil {
		p.log.Warn("flush before commit", "err", err)
		return
	}
	if p.produceBad.Load() {
		return
	}
	offsets := map[int32]kgo.EpochOffset{}
	var uncommitted int64
	needed := p.engine.NeededAll(nil)
	for part, next := range p.consumed {
		if only != nil && !contains(only, part) {
			continue
		}
		off := next
		if n, ok := needed[part]; ok && n < off {
			off = n
		}
		uncommitted += next - off
		if off > p.committed[part] {
			offsets[part] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	if only == nil {
		p.m.uncommitted.Set(float64(uncommitted))
	}
	if len(offsets) == 0 {
		return
	}
	cerr := kafka.CommitSync(ctx, p.client, map[string]map[int32]kgo.EpochOffset{p.deps.Kafka.Topics.Samples: offsets})
	if cerr != nil {
		p.log.Warn("commit failed", "err", cerr)
		return
	}
	for part, eo := range offsets {
		p.committed[part] = eo.Offset
	}
	p.commitsN++
	p.m.commits.Inc()
}

func contains(xs []int32, x int32) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// exportLocked moves engine counters to Prometheus.
func (p *Processor) exportLocked() {
	s := p.engine.Stats()
	old := &p.exported
	p.m.samples.Add(float64(s.SamplesIn - old.SamplesIn))
	for i, d := range dropReasons {
		if d.count == nil {
			continue
		}
		if now, was := d.count(&s), d.count(old); now > was {
			p.m.drops[i].Add(float64(now - was))
		}
	}
	if s.Wrap32 > old.Wrap32 {
		p.m.wrap32.Add(float64(s.Wrap32 - old.Wrap32))
	}
	if s.Wrap64 > old.Wrap64 {
		p.m.wrap64.Add(float64(s.Wrap64 - old.Wrap64))
	}
	if s.StuckSeries > old.StuckSeries {
		p.m.stuck.Add(float64(s.StuckSeries - old.StuckSeries))
	}
	p.stuckLog = p.engine.TakeStuck(p.stuckLog[:0])
	for _, st := range p.stuckLog {
		p.log.Warn("device clock stopped: series closed, its samples dropped until its time moves on (stuck_clock)",
			"kind", st.Kind, "site", st.Site, "device", st.Device, "entity", st.Entity, "partition", st.Partition,
			"device_time", time.Unix(0, st.DeviceTime).UTC().Format(time.RFC3339Nano))
	}
	p.m.series.Set(float64(p.engine.Series()))
	p.exported = s
	p.snapMu.Lock()
	p.snap, p.snapKPIs, p.snapCommits = s, p.kpisOut, p.commitsN
	p.snapMu.Unlock()
}

func (p *Processor) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	for _, parts := range m {
		for _, part := range parts {
			p.engine.DropPartition(part)
			delete(p.consumed, part)
			delete(p.committed, part)
		}
	}
	p.glag.Assigned(m)
	p.log.Info("partitions assigned", "partitions", m)
}

// revoked emits what is closed, waits for acks, commits what the revoked
// partitions' open windows do not need, and forgets them: the next owner
// recomputes the open windows from the committed offsets.
func (p *Processor) revoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	p.produce(p.engine.Collect(time.Now(), nil))
	p.commitLocked(ctx, m[p.deps.Kafka.Topics.Samples])
	p.forgetLocked(m)
	p.exportLocked()
	p.log.Info("partitions revoked", "partitions", m)
}

func (p *Processor) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	p.forgetLocked(m)
	p.log.Warn("partitions lost", "partitions", m)
}

// forgetLocked drops the state and the lag of partitions this member no
// longer owns (p.mu held).
func (p *Processor) forgetLocked(m map[string][]int32) {
	for _, part := range m[p.deps.Kafka.Topics.Samples] {
		p.engine.DropPartition(part)
		delete(p.consumed, part)
		delete(p.committed, part)
	}
	p.glag.Forget(m)
}

// Stop stops consuming, produces the windows already closed, commits what
// is acknowledged, leaves the group and closes the client. Open windows are
// not emitted: their samples stay uncommitted and the next owner computes
// them. Idempotent, safe concurrently and without a Start.
func (p *Processor) Stop() error {
	return p.stopOnce.Do(p.stop)
}

func (p *Processor) stop() error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.state.Swap(stateStopped) != stateRunning {
		return nil
	}
	defer p.prodCancel()
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		// blocked producing into a full buffer: Kafka is unreachable
		p.log.Error("stop: producer blocked for 10s, giving up on unacknowledged KPIs")
		p.prodCancel()
		<-p.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.mu.Lock()
	p.produce(p.engine.Collect(time.Now(), nil))
	p.commitLocked(ctx, nil)
	p.exportLocked()
	// Nothing may be committed after this point by the revoke callback
	// run from Close: the state is what we just committed.
	p.closing = true
	p.mu.Unlock()
	p.client.Close()
	p.edge.Stop()
	p.log.Info("stopped")
	if p.produceBad.Load() {
		return errors.New("process: some KPIs were not acknowledged; their samples were not committed")
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (p *Processor) Stats() Stats {
	// not under mu: the loop may hold it while waiting for Kafka acks
	p.snapMu.Lock()
	s, kpis, commits := p.snap, p.snapKPIs, p.snapCommits
	p.snapMu.Unlock()
	st := Stats{
		DeadLetters:     p.deadN.Load(),
		DeadLettersLost: p.lostN.Load(),
		ProduceErrors:   p.prodErrN.Load(),
		SamplesIn:       s.SamplesIn,
		Commits:         commits,
		Wrap32:          s.Wrap32,
		Wrap64:          s.Wrap64,
		StuckSeries:     s.StuckSeries,
		Drops:           make(map[string]uint64, len(dropReasons)),
		KPIs:            make(map[string]uint64, nKinds),
	}
	for _, d := range dropReasons {
		if d.count == nil {
			st.Drops[d.name] = p.decodeN.Load()
		} else {
			st.Drops[d.name] = d.count(&s)
		}
	}
	for i, n := range kpis {
		st.KPIs[kindNames[i]] = n
		st.KPIsOut += n
	}
	return st
}
