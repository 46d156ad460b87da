package pipeline

import (
	"context"

	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
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
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/sinks/clickhouse"
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
	Sink       *clickhouse.Sink
	// MetricsAddr is host:port of the run's /metrics ("" when disabled).
	MetricsAddr string
	// Config is the configuration as run (brokers, ClickHouse addresses,
	// topics and database filled in).
	Config Config
}

// Summary is what a run did, stage by stage.
type Summary struct {
	Elapsed        time.Duration
	Scenario       string
	Targets        int
	SimUpdates     uint64
	Updates        uint64
	Samples        uint64
	CollectorDrops map[string]uint64
	KPIs           uint64
	ProcessDrops   map[string]uint64
	Fired          uint64
	Resolved       uint64
	Delivered      int
	DeadLetters    uint64
	WebhookP99     time.Duration
	Rows           uint64
	RowsByTable    map[string]uint64
	Stored         map[string]uint64
	ClickHouse     string
	// MetricsAddr is where /metrics was served during the run.
	MetricsAddr string
}

// Print writes the summary for a person.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== demo summary (%s", s.Elapsed.Round(time.Second))
	if s.Scenario != "" {
		fmt.Fprintf(w, ", scenario %s", s.Scenario)
	}
	fmt.Fprintln(w, ")")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "fabric\t%d targets, %d gNMI updates sent\n", s.Targets, s.SimUpdates)
	fmt.Fprintf(tw, "collector\t%d updates received, %d samples produced, dropped %s\n", s.Updates, s.Samples, fmtMap(s.CollectorDrops))
	fmt.Fprintf(tw, "processor\t%d KPIs produced, dropped %s\n", s.KPIs, fmtMap(s.ProcessDrops))
	fmt.Fprintf(tw, "remediation\t%d events fired, %d resolved, %d webhook deliveries (p99 KPI window end → receiver %s, allowed lateness included), %d dead letters\n",
		s.Fired, s.Resolved, s.Delivered, s.WebhookP99.Round(time.Millisecond), s.DeadLetters)
	fmt.Fprintf(tw, "sink\t%d rows written: %s\n", s.Rows, fmtMap(s.RowsByTable))
	fmt.Fprintf(tw, "clickhouse\t%s: %s\n", s.ClickHouse, fmtMap(s.Stored))
	_ = tw.Flush()
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

// stopper collects Stop functions and runs them in reverse order.
type stopper struct {
	log   *slog.Logger
	funcs []func() error
	names []string
}

func (s *stopper) add(name string, f func() error) {
	s.names = append(s.names, name)
	s.funcs = append(s.funcs, f)
}

func (s *stopper) stopAll() {
	for i := len(s.funcs) - 1; i >= 0; i-- {
		if err := s.funcs[i](); err != nil {
			s.log.Warn("stop", "component", s.names[i], "err", err)
		}
	}
	s.funcs, s.names = nil, nil
}

// Run runs every stage of the pipeline in this process for o.Duration (or
// until ctx ends), printing progress to out, then drains the stages in
// pipeline order and returns the summary.
func Run(ctx context.Context, cfg Config, log *slog.Logger, o Options, out io.Writer) (Summary, error) {
	start := time.Now()
	sum := Summary{Scenario: o.Scenario}
	st := &stopper{log: log}
	defer st.stopAll()

	d := daemon.New(cfg.HTTP, log)
	if err := d.Start(); err != nil {
		return sum, err
	}
	st.add("http", d.Stop)
	reg := d.Registry

	// Kafka: the embedded broker unless --kafka names a cluster.
	if len(o.Kafka) == 0 {
		var kc *kfake.Cluster
		err := labeled(ctx, "kafka", func(context.Context) error {
			var err error
			kc, err = kfake.NewCluster(kfake.NumBrokers(1))
			return err
		})
		if err != nil {
			return sum, fmt.Errorf("embedded kafka: %w", err)
		}
		st.add("kafka", func() error { kc.Close(); return nil })
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
		srv, err := chlocal.Start(ctx, dir, nil)
		if err != nil {
			os.RemoveAll(dir)
			return sum, fmt.Errorf("demo: %w", err)
		}
		st.add("clickhouse", func() error { err := srv.Stop(); os.RemoveAll(dir); return err })
		cfg.ClickHouse.Addresses = []string{srv.TCPAddr}
		fmt.Fprintf(out, "clickhouse: started a local server on %s (data in %s, removed at exit)\n", srv.TCPAddr, dir)
	} else {
		cfg.ClickHouse.Addresses = []string{o.ClickHouse}
		fmt.Fprintf(out, "clickhouse: %s, database %s\n", o.ClickHouse, cfg.ClickHouse.Database)
	}
	sum.ClickHouse = cfg.ClickHouse.Addresses[0] + "/" + cfg.ClickHouse.Database

	// Sink first: it migrates the schema.
	sink, err := clickhouse.New(cfg.ClickHouse, clickhouse.Dependencies{Logger: log.With("component", "sink"), Registerer: reg, Kafka: &cfg.Kafka})
	if err != nil {
		return sum, err
	}
	if err := labeled(ctx, "sink", sink.Start); err != nil {
		return sum, fmt.Errorf("sink: %w", err)
	}
	st.add("sink", sink.Stop)

	// Remediation: the local receiver and the rules engine + dispatcher.
	secret := remediation.GenerateSecret()
	recv := remediation.NewReceiver(secret, log.With("component", "receiver"))
	if err := recv.Start(); err != nil {
		return sum, fmt.Errorf("webhook receiver: %w", err)
	}
	st.add("receiver", recv.Stop)
	rcfg := cfg.Remediate
	if len(rcfg.Rules) == 0 && rcfg.RulesFile == "" {
		if err := yaml.Unmarshal([]byte(demoRules), &rcfg.Rules); err != nil {
			return sum, fmt.Errorf("demo rules: %w", err)
		}
	}
	rcfg.Webhooks = append(rcfg.Webhooks, remediation.Webhook{Name: "rollout", URL: recv.URL(), Secret: secret})
	if err := rcfg.Validate(); err != nil {
		return sum, fmt.Errorf("demo remediate config: %w", err)
	}
	rem, err := remediation.New(rcfg, remediation.Dependencies{Logger: log.With("component", "remediate"), Registerer: reg, Kafka: &cfg.Kafka})
	if err != nil {
		return sum, err
	}
	if err := labeled(ctx, "remediate", rem.Start); err != nil {
		return sum, fmt.Errorf("remediate: %w", err)
	}
	st.add("remediate", rem.Stop)

	// KPI processor.
	pcfg := cfg.Process
	pcfg.Window = o.Window
	proc, err := kpi.New(pcfg, kpi.Dependencies{Logger: log.With("component", "process"), Registerer: reg, Kafka: &cfg.Kafka})
	if err != nil {
		return sum, err
	}
	if err := labeled(ctx, "process", proc.Start); err != nil {
		return sum, fmt.Errorf("process: %w", err)
	}
	st.add("process", proc.Stop)

	// Simulated fabric.
	scfg := cfg.Simulate
	scfg.Listen = "127.0.0.1:0"
	if o.Scenario != "" {
		scfg.Scenario = o.Scenario
	}
	fab, err := simulator.New(scfg, simulator.Dependencies{Logger: log.With("component", "simulate"), Registerer: reg})
	if err != nil {
		return sum, err
	}
	if err := labeled(ctx, "simulate", fab.Start); err != nil {
		return sum, fmt.Errorf("simulate: %w", err)
	}
	st.add("simulate", fab.Stop)
	targets := fab.Targets()
	sum.Targets = len(targets)

	// Collector, dialing every simulated switch.
	ccfg := cfg.Collect
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
	col, err := collector.New(ccfg, collector.Dependencies{Logger: log.With("component", "collect"), Registerer: reg, Kafka: &cfg.Kafka})
	if err != nil {
		return sum, err
	}
	if err := labeled(ctx, "collect", col.Start); err != nil {
		return sum, fmt.Errorf("collect: %w", err)
	}
	st.add("collect", col.Stop)
	fmt.Fprintf(out, "fabric: %d switches on %s, %d interfaces each; running for %s (Ctrl-C stops early)\n",
		len(targets), fab.Addr(), scfg.InterfacesPerSwitch, o.Duration)
	if d.Addr() != "" {
		fmt.Fprintf(out, "metrics: http://%s/metrics\n", d.Addr())
	}
	sum.MetricsAddr = d.Addr()
	running := &Running{Fabric: fab, Targets: targets, Collector: col, Processor: proc, Remediator: rem,
		Sink: sink, MetricsAddr: d.Addr(), Config: cfg}
	running.Config.Collect = ccfg
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
				rs.Firing, rs.Resolved, recv.Counts().Accepted, sumMap(ss.Rows), cs.Buffered)
		}
	}
	interrupted := ctx.Err() != nil

	// Drain in pipeline order: stop the sources, let the stages catch up,
	// then stop each (they flush and commit).
	fmt.Fprintln(out, "stopping: flushing collector, processor, remediation and sink")
	if o.ExactDrain {
		exactDrain(ctx, fab, targets, col, sink, cfg.Kafka.Topics.Samples, out)
	} else {
		_ = col.Stop()
	}
	_ = fab.Stop()
	drain(ctx, 10*time.Second, func() bool {
		return proc.Stats().SamplesIn >= col.Stats().Produced-uint64(len(targets))*2
	})
	_ = proc.Stop()
	drain(ctx, 5*time.Second, func() bool { return rem.Stats().KPIs >= proc.Stats().KPIsOut })
	_ = rem.Stop()
	_ = sink.Stop()

	cs, ps, rs, ss, fs := col.Stats(), proc.Stats(), rem.Stats(), sink.Stats(), fab.Emitted()
	sum.Elapsed = time.Since(start)
	sum.SimUpdates = fs.Updates
	sum.Updates = cs.Updates
	sum.Samples = cs.Samples
	sum.CollectorDrops = cs.Dropped
	sum.KPIs = ps.KPIsOut
	sum.ProcessDrops = ps.Drops
	sum.Fired, sum.Resolved = rs.Firing, rs.Resolved
	sum.Delivered = recv.Counts().Accepted
	sum.DeadLetters = rs.DeadLetters + ss.DeadLetters
	sum.WebhookP99 = p99(recv.Latencies("firing"))
	sum.RowsByTable = ss.Rows
	sum.Rows = sumMap(ss.Rows)
	stored, err := countRows(context.Background(), cfg.ClickHouse)
	if err != nil {
		return sum, fmt.Errorf("query clickhouse: %w", err)
	}
	sum.Stored = stored
	if o.OnDrained != nil {
		o.OnDrained(running)
	}
	if interrupted {
		fmt.Fprintln(out, "interrupted: stopped early")
	}
	return sum, nil
}

// labeled runs start with the pprof label stage=name: the goroutines it
// starts inherit it, so a CPU profile of a run splits by stage
// (go tool pprof -tags, or -tagfocus stage=collect).
func labeled(ctx context.Context, name string, start func(context.Context) error) error {
	var err error
	pprof.Do(ctx, pprof.Labels("stage", name), func(ctx context.Context) { err = start(ctx) })
	return err
}

// exactDrain stops the sources so that nothing counted is in flight: see
// Options.ExactDrain.
func exactDrain(ctx context.Context, fab *simulator.Fabric, targets []simulator.Target, col *collector.Collector,
	sink *clickhouse.Sink, samplesTopic string, out io.Writer) {
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
func ensureTopics(ctx context.Context, cfg *Config) error {
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

// countRows counts the de-duplicated rows of the main tables.
func countRows(ctx context.Context, cfg clickhouse.Configuration) (map[string]uint64, error) {
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := map[string]uint64{}
	for _, t := range []string{"interface_kpis", "link_kpis", "interface_counters", "remediation_events", "devices"} {
		var n uint64
		q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL", cfg.Database, t)
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
