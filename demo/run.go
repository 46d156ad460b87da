// Package demo runs every stage of the pipeline in one process for a while
// (telemetry demo, the end-to-end tests, the soak benchmark), built with
// pipeline's builders and started and stopped by one component.Runner, and
// sums up what each stage did.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/chlocal"
	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// demoRules are the remediation rules the demo runs: they match the faults
// of deploy/scenarios/demo.yaml and deliver to the local webhook receiver.
const demoRules = `
- name: interface-loss
  kpi: interface.loss_ratio
  threshold: {op: ">", value: 0.01}
  for: 5s
  clear-threshold: 0.002
  clear-for: 10s
  severity: critical
  cooldown: 1m
  action: {webhook: rollout}
- name: interface-congestion
  kpi: interface.util_out
  threshold: {op: ">=", value: 0.95}
  for: 5s
  clear-threshold: 0.8
  clear-for: 10s
  severity: warning
  cooldown: 1m
  action: {webhook: rollout}
- name: link-latency
  kpi: link.rtt_ms
  threshold: {op: ">", value: 30}
  for: 5s
  clear-for: 10s
  severity: warning
  cooldown: 1m
  action: {webhook: rollout}
- name: link-down
  kpi: link.loss_ratio
  threshold: {op: ">", value: 0.5}
  for: 5s
  clear-threshold: 0.01
  clear-for: 10s
  severity: critical
  cooldown: 1m
  action: {webhook: rollout}
- name: device-unreachable
  kpi: device.reachable
  threshold: {op: "<", value: 1}
  for: 5s
  clear-for: 5s
  severity: critical
  cooldown: 1m
  action: {webhook: rollout}
`

// Options choose what Run starts and for how long.
type Options struct {
	// Duration the fabric runs.
	Duration time.Duration
	// Scenario is a fault scenario file for the simulator ("" = none).
	Scenario string
	// ClickHouse is host:port of a server to use; "" starts a local one.
	ClickHouse string
	// Kafka lists the brokers to use; empty starts an embedded broker.
	Kafka []string
	// Window is the KPI window; SampleInterval the gNMI sample interval.
	Window         time.Duration
	SampleInterval time.Duration
	// Progress is the interval of the live progress lines (0: none).
	Progress time.Duration
	// ExactDrain drains so that every notification the simulator counted
	// is accounted for: the simulated targets are taken down first (their
	// Subscribe streams end after their last notification, which gRPC
	// delivers before the status), Run waits until the collector received
	// every update the fabric sent, then stops the collector (flushing its
	// producer) and waits until the sink consumed every record the
	// collector produced before stopping the later stages. Without it the
	// collector is stopped first and notifications in flight at that
	// moment are lost uncounted (fine for a demo, not for accounting).
	ExactDrain bool
	// OnStart, when set, is called once every stage runs, before the
	// duration starts (in Run's goroutine: start your own to poll).
	OnStart func(*Running)
	// OnDrained, when set, is called after every stage drained and
	// stopped, while /metrics is still served (to scrape the final counts).
	OnDrained func(*Running)
}

// Running gives the hooks of Options access to the live stages of a run.
type Running struct {
	Fabric     *simulator.Fabric
	Targets    []simulator.Target
	Collector  *collector.Collector
	Processor  *kpi.Processor
	Remediator *remediation.Remediator
	Sink       *chsink.Sink
	// MetricsAddr is host:port of the run's /metrics ("" when disabled).
	MetricsAddr string
	// Config is the configuration as run (brokers, ClickHouse addresses,
	// topics and database filled in).
	Config pipeline.Config
}

// Summary is what a run did, stage by stage. Its Print shows how the
// numbers of one stage make the next, so a reader can check that nothing
// was lost without reading code.
type Summary struct {
	Elapsed       time.Duration
	Scenario      string
	Targets       int
	Notifications uint64 // gNMI notifications the fabric sent
	SimUpdates    uint64 // gNMI updates inside them
	Updates       uint64 // updates the collector received
	Samples       uint64 // samples the collector produced (interface counters and state, probes)
	// Inventory is the device-state records the collector produced (a
	// target's connecting, up, down).
	Inventory      uint64
	CollectorDrops map[string]uint64
	// Consumed is the records of the samples topic the processor read.
	Consumed     uint64
	KPIs         uint64
	ProcessDrops map[string]uint64
	Evaluated    uint64 // KPIs the rules engine evaluated
	Fired        uint64
	Resolved     uint64
	Open         int // events fired and not resolved when the run ended
	Delivered    int // webhook deliveries the local receiver accepted
	Acknowledged uint64
	DeadLetters  uint64
	WebhookP99   time.Duration
	Rows         uint64
	RowsByTable  map[string]uint64
	// Stored is each table's rows after de-duplication (FINAL), and
	// StoredEvents remediation_events' by state.
	Stored       map[string]uint64
	StoredEvents map[string]uint64
	ClickHouse   string
	// MetricsAddr is where /metrics was served during the run.
	MetricsAddr string
	// Tenants is what the run did per tenant when the tenancy section
	// declares tenants (docs/tenancy.md), by tenant id; empty otherwise.
	Tenants []TenantSummary
}

// TenantSummary is one tenant's part of a run.
type TenantSummary struct {
	ID, Name string
	// Targets collected, and not collected for the tenant's max-targets.
	Targets, OverLimit int
	// Samples collected, and dropped for its max-samples-per-second.
	Samples, RateDropped uint64
	// Delivered is the webhook deliveries its own receiver accepted
	// (the provider's receiver for the default tenant), and Foreign those
	// of them that were another tenant's events: 0, always.
	Delivered, Foreign int
}

// sources groups the tables the sink writes by what fills them, in the
// order of the sink line.
var sources = []struct {
	what   string
	tables []string
}{
	{"samples", []string{schema.InterfaceCounters, schema.InterfaceState, schema.ProbeResults}},
	{"device states", []string{schema.Devices}},
	{"KPIs", []string{schema.InterfaceKPIs, schema.LinkKPIs, schema.PipelineKPIs, schema.DeviceKPIs}},
	{"event transitions", []string{schema.RemediationEvents}},
	{"dead letters", []string{schema.DeadLetters}},
}

// dropReasons explains the processor's drop reasons in the summary.
var dropReasons = map[string]string{
	"warmup":        "a series' first sample or window; a rate needs two samples, a device's state before its first record is unknown",
	"no_device":     "a device-state record without a device name",
	"unknown_state": "a device-state record with an unknown state",
	"late_state":    "a device-state record after its window closed, applied from the next",
	"reset":         "the interval across a counter reset",
	"gap":           "an interval longer than max-gap",
	"late":          "past allowed-lateness",
	"duplicate":     "seen before",
	"out_of_order":  "older than the series' last sample",
	"decode":        "undecodable",
}

// eventStates is the order of remediation_events' states in the summary.
var eventStates = []string{"firing", "dispatched", "acknowledged", "escalated", "failed", "resolved"}

// Print writes the summary for a person: one line per stage, each
// starting with the stage's name.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== demo summary (%s", s.Elapsed.Round(time.Second))
	if s.Scenario != "" {
		fmt.Fprintf(w, ", scenario %s", s.Scenario)
	}
	fmt.Fprintln(w, ")")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "fabric\t%d targets sent %d gNMI updates in %d notifications\n", s.Targets, s.SimUpdates, s.Notifications)
	fmt.Fprintf(tw, "collector\t%d updates received; produced %d samples (one per notification) + %d device-state records (on each session change, and every inventory-interval); dropped %s\n",
		s.Updates, s.Samples, s.Inventory, fmtMap(nonZero(s.CollectorDrops)))
	fmt.Fprintf(tw, "processor\t%d KPIs produced from %d records consumed (of %d produced); %s\n",
		s.KPIs, s.Consumed, s.Samples+s.Inventory, fmtDrops(s.ProcessDrops))
	fmt.Fprintf(tw, "remediation\t%d events fired, %d resolved, %d still open, from %d KPIs evaluated; %d webhook deliveries (one per firing and per resolved), %d acknowledged (a 2xx to a firing); p99 KPI window end → receiver %s (allowed lateness included); %d dead letters\n",
		s.Fired, s.Resolved, s.Open, s.Evaluated, s.Delivered, s.Acknowledged, s.WebhookP99.Round(time.Millisecond), s.DeadLetters)
	fmt.Fprintf(tw, "sink\t%d rows written: %s\n", s.Rows, s.rowsBySource())
	fmt.Fprintf(tw, "clickhouse\t%s, rows after de-duplication (FINAL): %s\n", s.ClickHouse, s.stored())
	if len(s.Tenants) > 0 {
		var parts []string
		for _, t := range s.Tenants {
			parts = append(parts, fmt.Sprintf("%s (%s): %d targets (%d over max-targets), %d samples (%d dropped over max-samples-per-second), %d webhook deliveries to its own receiver (%d of another tenant)",
				t.ID, t.Name, t.Targets, t.OverLimit, t.Samples, t.RateDropped, t.Delivered, t.Foreign))
		}
		fmt.Fprintf(tw, "tenants\t%s\n", strings.Join(parts, "; "))
	}
	_ = tw.Flush()
}

// rowsBySource is "samples 5233 = interface_counters 3800 + ...; ...".
func (s Summary) rowsBySource() string {
	seen := map[string]bool{}
	var parts []string
	for _, src := range sources {
		var n uint64
		var terms []string
		for _, t := range src.tables {
			seen[t] = true
			if v, ok := s.RowsByTable[t]; ok {
				n += v
				terms = append(terms, fmt.Sprintf("%s %d", t, v))
			}
		}
		if len(terms) > 0 {
			parts = append(parts, fmt.Sprintf("%s %d = %s", src.what, n, strings.Join(terms, " + ")))
		}
	}
	other := map[string]uint64{}
	for t, v := range s.RowsByTable {
		if !seen[t] {
			other[t] = v
		}
	}
	if len(other) > 0 {
		parts = append(parts, "other "+fmtMap(other))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// stored lists every table's rows after de-duplication, saying why a
// table keeps fewer rows than were written.
func (s Summary) stored() string {
	keys := make([]string, 0, len(s.Stored))
	for k := range s.Stored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		p := fmt.Sprintf("%s %d", k, s.Stored[k])
		switch {
		case k == schema.Devices:
			p += " (one row per device: its latest state)"
		case k == schema.RemediationEvents && len(s.StoredEvents) > 0:
			var st []string
			for _, state := range eventStates {
				if n := s.StoredEvents[state]; n > 0 {
					st = append(st, fmt.Sprintf("%s %d", state, n))
				}
			}
			p += " (" + strings.Join(st, ", ") + ")"
		case s.Stored[k] < s.RowsByTable[k]:
			p += fmt.Sprintf(" (%d replayed rows merged)", s.RowsByTable[k]-s.Stored[k])
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// fmtDrops explains the processor's drops: the non-zero ones with what
// they mean, then the reasons that stayed at 0.
func fmtDrops(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var hit, zero []string
	for _, k := range keys {
		if m[k] == 0 {
			zero = append(zero, k)
			continue
		}
		h := fmt.Sprintf("%s %d", k, m[k])
		if why, ok := dropReasons[k]; ok {
			h += " (" + why + ")"
		}
		hit = append(hit, h)
	}
	out := "no KPI from: none"
	if len(hit) > 0 {
		out = "no KPI from: " + strings.Join(hit, ", ")
	}
	if len(zero) > 0 {
		out += "; 0 " + strings.Join(zero, ", ")
	}
	return out
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func fmtMap(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sumMap(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// Run runs every stage of the pipeline in this process for o.Duration (or
// until ctx ends), printing progress to out, then drains the stages in
// pipeline order and returns the summary.
func Run(ctx context.Context, cfg pipeline.Config, log *slog.Logger, o Options, out io.Writer) (Summary, error) {
	start := time.Now()
	sum := Summary{Scenario: o.Scenario}
	// Every part is added to one runner as it is built, started in order,
	// and stopped in reverse at the end (the drain below stops the stages
	// first, in pipeline order; Stop is idempotent).
	r := component.NewRunner(log)
	defer func() { _ = r.Stop() }() // the runner logs each part that fails to stop
	add := func(name string, c component.Component) error {
		r.Add(name, component.Labeled(name, c))
		return r.Start(ctx)
	}

	d := daemon.New(cfg.HTTP, log)
	if err := add("http", &component.Func{StartFunc: func(context.Context) error { return d.Start() }, StopFunc: d.Stop}); err != nil {
		return sum, err
	}
	deps := pipeline.Deps{Log: log, Registerer: d.Registry}

	// Kafka: the embedded broker unless --kafka names a cluster.
	if len(o.Kafka) == 0 {
		var kc *kfake.Cluster
		err := add("kafka", &component.Func{
			StartFunc: func(context.Context) error {
				var err error
				kc, err = kfake.NewCluster(kfake.NumBrokers(1))
				return err
			},
			StopFunc: func() error { kc.Close(); return nil },
		})
		if err != nil {
			return sum, fmt.Errorf("embedded kafka: %w", err)
		}
		cfg.Kafka.Brokers = kc.ListenAddrs()
		cfg.Kafka.ReplicationFactor = 1
	} else {
		cfg.Kafka.Brokers = o.Kafka
	}
	if err := ensureTopics(ctx, &cfg); err != nil {
		return sum, err
	}
	fmt.Fprintf(out, "kafka: %s (%s)\n", strings.Join(cfg.Kafka.Brokers, ","), kafkaKind(o))

	// ClickHouse: the given server, or a local throw-away one.
	if o.ClickHouse == "" {
		dir, err := os.MkdirTemp("", "telemetry-demo-clickhouse-")
		if err != nil {
			return sum, err
		}
		var srv *chlocal.Server
		err = add("clickhouse", &component.Func{
			StartFunc: func(ctx context.Context) error {
				var err error
				srv, err = chlocal.Start(ctx, dir, nil)
				return err
			},
			StopFunc: func() error { err := srv.Stop(); os.RemoveAll(dir); return err },
		})
		if err != nil {
			os.RemoveAll(dir)
			return sum, fmt.Errorf("demo: %w", err)
		}
		cfg.ClickHouse.Addresses = []string{srv.TCPAddr}
		fmt.Fprintf(out, "clickhouse: started a local server on %s (data in %s, removed at exit)\n", srv.TCPAddr, dir)
	} else {
		cfg.ClickHouse.Addresses = []string{o.ClickHouse}
		fmt.Fprintf(out, "clickhouse: %s, database %s\n", o.ClickHouse, cfg.ClickHouse.Database)
	}
	sum.ClickHouse = cfg.ClickHouse.Addresses[0] + "/" + cfg.ClickHouse.Database

	// Sink first: it migrates the schema.
	sink, err := cfg.NewSink(deps)
	if err != nil {
		return sum, err
	}
	if err := add(pipeline.StageSink, sink); err != nil {
		return sum, err
	}

	// Remediation: the local receiver and the rules engine + dispatcher.
	secret := remediation.GenerateSecret()
	recv := remediation.NewReceiver(secret, log.With("component", "receiver"))
	if err := add("receiver", &component.Func{StartFunc: func(context.Context) error { return recv.Start() }, StopFunc: recv.Stop}); err != nil {
		return sum, fmt.Errorf("webhook receiver: %w", err)
	}
	if len(cfg.Remediate.Rules) == 0 && cfg.Remediate.RulesFile == "" {
		if err := yaml.Unmarshal([]byte(demoRules), &cfg.Remediate.Rules); err != nil {
			return sum, fmt.Errorf("demo rules: %w", err)
		}
	}
	cfg.Remediate.Webhooks = append(cfg.Remediate.Webhooks, remediation.Webhook{Name: "rollout", URL: recv.URL(), Secret: secret})
	// With tenants declared, each gets a receiver and a "rollout" webhook
	// of its own, with its own secret: the demo's rules, the provider's,
	// deliver each tenant's events to its own receiver, and the default
	// tenant's to the one above.
	tenants, err := cfg.Tenants()
	if err != nil {
		return sum, err
	}
	receivers := map[string]*remediation.Receiver{tenants.Default(): recv}
	for _, id := range tenants.IDs() {
		if !tenants.Multi() || id == tenants.Default() {
			continue
		}
		sec := remediation.GenerateSecret()
		rc := remediation.NewReceiver(sec, log.With("component", "receiver", "tenant", id))
		if err := add("receiver-"+id, &component.Func{StartFunc: func(context.Context) error { return rc.Start() }, StopFunc: rc.Stop}); err != nil {
			return sum, fmt.Errorf("webhook receiver of %s: %w", id, err)
		}
		receivers[id] = rc
		cfg.Remediate.Webhooks = append(cfg.Remediate.Webhooks, remediation.Webhook{Name: "rollout", Tenant: id, URL: rc.URL(), Secret: sec})
	}
	accepted := func() (n int) {
		for _, rc := range receivers {
			n += rc.Counts().Accepted
		}
		return n
	}
	if err := cfg.Remediate.Validate(); err != nil {
		return sum, fmt.Errorf("demo remediate config: %w", err)
	}
	rem, err := cfg.NewRemediator(deps)
	if err != nil {
		return sum, err
	}
	if err := add(pipeline.StageRemediation, rem); err != nil {
		return sum, err
	}

	// KPI processor.
	cfg.Process.Window = o.Window
	proc, err := cfg.NewProcessor(deps)
	if err != nil {
		return sum, err
	}
	if err := add(pipeline.StageProcessor, proc); err != nil {
		return sum, err
	}

	// Simulated fabric.
	cfg.Simulate.Listen = "127.0.0.1:0"
	if o.Scenario != "" {
		cfg.Simulate.Scenario = o.Scenario
	}
	fab, err := cfg.NewSimulator(deps)
	if err != nil {
		return sum, err
	}
	if err := add(pipeline.StageSimulator, fab); err != nil {
		return sum, err
	}
	targets := fab.Targets()
	sum.Targets = len(targets)

	// Collector, dialing every simulated switch.
	ccfg := &cfg.Collect
	ccfg.Targets = nil
	for _, t := range targets {
		ccfg.Targets = append(ccfg.Targets, collector.TargetConfig{Name: t.Name, Address: fab.Addr(), Site: t.Site, Insecure: true})
	}
	for i := range ccfg.Subscriptions {
		if ccfg.Subscriptions[i].StreamMode == "sample" || ccfg.Subscriptions[i].Mode == "poll" {
			ccfg.Subscriptions[i].SampleInterval = o.SampleInterval
		}
	}
	if err := ccfg.Validate(); err != nil {
		return sum, fmt.Errorf("demo collect config: %w", err)
	}
	col, err := cfg.NewCollector(deps)
	if err != nil {
		return sum, err
	}
	if err := add(pipeline.StageCollector, col); err != nil {
		return sum, err
	}
	fmt.Fprintf(out, "fabric: %d switches on %s, %d interfaces each; running for %s (Ctrl-C stops early)\n",
		len(targets), fab.Addr(), cfg.Simulate.InterfacesPerSwitch, o.Duration)
	if d.Addr() != "" {
		fmt.Fprintf(out, "metrics: http://%s/metrics\n", d.Addr())
	}
	sum.MetricsAddr = d.Addr()
	running := &Running{Fabric: fab, Targets: targets, Collector: col, Processor: proc, Remediator: rem,
		Sink: sink, MetricsAddr: d.Addr(), Config: cfg}
	if o.OnStart != nil {
		o.OnStart(running)
	}

	// Live progress until the duration is up or Ctrl-C.
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var tick <-chan time.Time
	if o.Progress > 0 {
		t := time.NewTicker(o.Progress)
		defer t.Stop()
		tick = t.C
	}
	var lastSamples uint64
	lastAt := time.Now()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case now := <-tick:
			cs, ps, rs, ss := col.Stats(), proc.Stats(), rem.Stats(), sink.Stats()
			rate := float64(cs.Samples-lastSamples) / now.Sub(lastAt).Seconds()
			lastSamples, lastAt = cs.Samples, now
			fmt.Fprintf(out, "[%3.0fs] targets up %d/%d | samples %d (%.0f/s) | KPIs %d | events fired %d resolved %d | webhooks %d | rows %d | buffered %d\n",
				time.Since(start).Seconds(), cs.TargetsUp, cs.TargetsAssigned, cs.Samples, rate, ps.KPIsOut,
				rs.Firing, rs.Resolved, accepted(), sumMap(ss.Rows), cs.Buffered)
		}
	}
	interrupted := ctx.Err() != nil

	// Stop errors are collected, not dropped: Run returns them.
	var stopErrs []error
	stopStage := func(name string, c component.Component) {
		if err := c.Stop(); err != nil {
			stopErrs = append(stopErrs, fmt.Errorf("%s: %w", name, err))
		}
	}
	// Drain in pipeline order: stop the sources, let the stages catch up,
	// then stop each (they flush and commit).
	fmt.Fprintln(out, "stopping: flushing collector, processor, remediation and sink")
	if o.ExactDrain {
		exactDrain(ctx, fab, targets, col, sink, cfg.Kafka.Topics.Samples, out)
	}
	stopStage(pipeline.StageCollector, col) // flushes; after exactDrain, its first result
	stopStage(pipeline.StageSimulator, fab)
	// The collector has stopped: what it produced is final, and the
	// processor reads all of it (at most 10 s).
	drain(ctx, 10*time.Second, func() bool { return proc.Stats().SamplesIn >= col.Stats().Produced })
	stopStage(pipeline.StageProcessor, proc)
	drain(ctx, 5*time.Second, func() bool { return rem.Stats().KPIs >= proc.Stats().KPIsOut })
	stopStage(pipeline.StageRemediation, rem)
	// The processor has stopped: the sink stores every KPI it produced (at
	// most 10 s), so the sink line of the summary adds up.
	drain(ctx, 10*time.Second, func() bool { return sink.Stats().Records[cfg.Kafka.Topics.KPIs] >= proc.Stats().KPIsOut })
	stopStage(pipeline.StageSink, sink)

	cs, ps, rs, ss, fs := col.Stats(), proc.Stats(), rem.Stats(), sink.Stats(), fab.Emitted()
	sum.Elapsed = time.Since(start)
	sum.Notifications = fs.Notifications
	sum.SimUpdates = fs.Updates
	sum.Updates = cs.Updates
	sum.Samples = cs.Samples
	sum.Inventory = cs.Inventory
	sum.CollectorDrops = cs.Dropped
	sum.Consumed = ps.SamplesIn
	sum.KPIs = ps.KPIsOut
	sum.ProcessDrops = ps.Drops
	sum.Evaluated = rs.KPIs
	sum.Fired, sum.Resolved = rs.Firing, rs.Resolved
	if rs.Firing > rs.Resolved {
		sum.Open = int(rs.Firing - rs.Resolved)
	}
	sum.Acknowledged = rs.Acknowledged
	sum.Delivered = accepted()
	sum.DeadLetters = rs.DeadLetters + ss.DeadLetters
	var lat []time.Duration
	for _, rc := range receivers {
		lat = append(lat, rc.Latencies("firing")...)
	}
	sum.WebhookP99 = p99(lat)
	if tenants.Multi() {
		sum.Tenants = tenantSummaries(tenants, col.TenantStats(), receivers)
	}
	sum.RowsByTable = ss.Rows
	sum.Rows = sumMap(ss.Rows)
	stored, events, err := countRows(context.Background(), cfg.ClickHouse, ss.Rows, start.Add(-time.Second))
	if err != nil {
		return sum, fmt.Errorf("query clickhouse: %w", err)
	}
	sum.Stored, sum.StoredEvents = stored, events
	if o.OnDrained != nil {
		o.OnDrained(running)
	}
	if interrupted {
		fmt.Fprintln(out, "interrupted: stopped early")
	}
	if len(stopErrs) > 0 {
		return sum, fmt.Errorf("stopping: %w", errors.Join(stopErrs...))
	}
	return sum, nil
}

// tenantSummaries is the per-tenant part of the summary: every tenant with
// targets or deliveries, by id.
func tenantSummaries(r *tenant.Resolver, cs map[string]collector.TenantStats, receivers map[string]*remediation.Receiver) []TenantSummary {
	var out []TenantSummary
	for _, id := range r.IDs() {
		t, _ := r.Tenant(id)
		st := cs[id]
		ts := TenantSummary{ID: id, Name: t.DisplayName(), Targets: st.Targets, OverLimit: st.OverLimit,
			Samples: st.Samples, RateDropped: st.RateDropped}
		if rc := receivers[id]; rc != nil {
			for _, d := range rc.Deliveries() {
				ts.Delivered++
				if r.Or(d.Tenant) != id {
					ts.Foreign++
				}
			}
		}
		if ts.Targets+ts.OverLimit+ts.Delivered > 0 {
			out = append(out, ts)
		}
	}
	return out
}

// exactDrain stops the sources so that nothing counted is in flight: see
// Options.ExactDrain.
func exactDrain(ctx context.Context, fab *simulator.Fabric, targets []simulator.Target, col *collector.Collector,
	sink *chsink.Sink, samplesTopic string, out io.Writer) {
	for _, t := range targets {
		_ = fab.SetTargetDown(t.Name, true)
	}
	// Every stream ended after its last notification; the collector reads
	// them before it sees the stream's status.
	received := drain(ctx, 30*time.Second, func() bool {
		e := fab.Emitted()
		return e.ActiveStreams == 0 && col.Stats().Updates >= e.Updates
	})
	// Stop flushes the producer: every sample is acknowledged or counted
	// as dropped.
	_ = col.Stop()
	consumed := drain(ctx, 30*time.Second, func() bool {
		return sink.Stats().Records[samplesTopic] >= col.Stats().Produced
	})
	if !received || !consumed {
		e, cs, ss := fab.Emitted(), col.Stats(), sink.Stats()
		fmt.Fprintf(out, "exact drain incomplete: fabric sent %d updates (%d streams active), collector received %d; collector produced %d, sink consumed %d\n",
			e.Updates, e.ActiveStreams, cs.Updates, cs.Produced, ss.Records[samplesTopic])
	}
}

// drain waits until done reports true, at most limit; it reports whether
// done did.
func drain(_ context.Context, limit time.Duration, done func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if done() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		// Keep draining (bounded) even when ctx ended: Ctrl-C still flushes.
		time.Sleep(50 * time.Millisecond)
	}
}

func kafkaKind(o Options) string {
	if len(o.Kafka) == 0 {
		return "embedded"
	}
	return "external"
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)*99+99)/100-1]
}

// ensureTopics creates the pipeline's topics.
func ensureTopics(ctx context.Context, cfg *pipeline.Config) error {
	opts, err := cfg.Kafka.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cfg.Kafka.EnsureTopics(tctx, cl)
}

// timeColumn is the column that dates a table's rows.
func timeColumn(table string) string {
	if table == schema.Devices {
		return "last_seen"
	}
	return "ts"
}

// countRows counts the de-duplicated rows of every table the run wrote
// (and of the main tables even if it wrote none), and remediation_events'
// rows by state: the rows of this run, timed since since (a database given
// with --clickhouse keeps earlier runs' rows).
func countRows(ctx context.Context, cfg chsink.Configuration, written map[string]uint64, since time.Time) (map[string]uint64, map[string]uint64, error) {
	conn, err := chsink.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	tables := map[string]bool{}
	for _, t := range []string{schema.InterfaceKPIs, schema.LinkKPIs, schema.InterfaceCounters,
		schema.RemediationEvents, schema.Devices} {
		tables[t] = true
	}
	for t := range written {
		tables[t] = true
	}
	out := map[string]uint64{}
	for t := range tables {
		var n uint64
		q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL WHERE %s >= toDateTime(%d)", cfg.Database, t, timeColumn(t), since.Unix())
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", t, err)
		}
		out[t] = n
	}
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT toString(state), count() FROM %s.%s FINAL WHERE ts >= toDateTime(%d) GROUP BY state",
		cfg.Database, schema.RemediationEvents, since.Unix()))
	if err != nil {
		return nil, nil, fmt.Errorf("%s by state: %w", schema.RemediationEvents, err)
	}
	defer rows.Close()
	events := map[string]uint64{}
	for rows.Next() {
		var state string
		var n uint64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, nil, fmt.Errorf("%s by state: %w", schema.RemediationEvents, err)
		}
		events[state] = n
	}
	return out, events, rows.Err()
}
