package simulator

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/meshtelemetry/telemetry/common/component"
)

// Stage is the simulator's stage name: its logs carry
// component=simulator and its metrics are named telemetry_simulator_*.
const Stage = "simulator"

// Dependencies are what the fabric needs from outside.
type Dependencies struct {
	// Logger is the process's logger; the fabric adds component=simulator
	// (do not add a component key yourself: a log line would carry it
	// twice). nil: discard.
	Logger *slog.Logger
	// Registerer receives the Prometheus metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Clock is the device clock (nil: time.Now). It may run faster than
	// real time in tests; sample intervals stay in real time.
	Clock func() time.Time
}

// Stats counts what the fabric sent.
type Stats struct {
	// Notifications is the number of Notifications sent (Subscribe and Get).
	Notifications uint64
	// Updates is the number of Update messages inside them.
	Updates uint64
	// SyncResponses is the number of sync_response messages sent.
	SyncResponses uint64
	// Subscriptions is the number of Subscribe RPCs accepted so far.
	Subscriptions uint64
	// ActiveStreams is the number of Subscribe RPCs running now.
	ActiveStreams int64
}

type statCounters struct {
	notifications, updates, syncs, subscriptions atomic.Uint64
	active                                       atomic.Int64
}

func (s *statCounters) snapshot() Stats {
	return Stats{
		Notifications: s.notifications.Load(),
		Updates:       s.updates.Load(),
		SyncResponses: s.syncs.Load(),
		Subscriptions: s.subscriptions.Load(),
		ActiveStreams: s.active.Load(),
	}
}

// rpcErrorReasons are the reasons of telemetry_simulator_rpc_errors_total
// the fabric gives itself, at 0 from the start: unauthenticated (bad
// credentials, any RPC), then the gRPC code a Subscribe ended with (its
// client's own cancellation or deadline adds Canceled or DeadlineExceeded).
var rpcErrorReasons = []string{"unauthenticated",
	codes.InvalidArgument.String(), codes.NotFound.String(), codes.Unavailable.String(), codes.Unimplemented.String()}

// subscriptionModes are the modes of telemetry_simulator_subscriptions_total.
var subscriptionModes = []string{gpb.SubscriptionList_STREAM.String(), gpb.SubscriptionList_ONCE.String(), gpb.SubscriptionList_POLL.String()}

type metrics struct {
	active        prometheus.Gauge
	subscriptions *prometheus.CounterVec
	notifications prometheus.Counter
	updates       prometheus.Counter
	errors        *prometheus.CounterVec
	faults        prometheus.Counter
	faultsActive  prometheus.Gauge
}

// newMetrics declares the fabric's metrics through r.
func newMetrics(r *component.Reporter) metrics {
	return metrics{
		active: r.Gauge("subscriptions_active", "Subscribe RPCs running now."),
		subscriptions: r.CounterVec("subscriptions_total", "Subscribe RPCs accepted, by mode.",
			[]string{"mode"}, component.Values(subscriptionModes...)...),
		notifications: r.Counter("notifications_total", "gNMI Notifications sent."),
		updates:       r.Counter("updates_total", "gNMI Updates sent."),
		errors: r.CounterVec("rpc_errors_total", "RPCs ended with an error, by reason.",
			[]string{"reason"}, component.Values(rpcErrorReasons...)...),
		faults:       r.Counter("faults_total", "Faults loaded or injected."),
		faultsActive: r.Gauge("faults_active", "Faults in effect now."),
	}
}

var (
	_ component.Component = (*Fabric)(nil)
	_ component.Readier   = (*Fabric)(nil)
)

// Fabric is the simulated switch fabric and its gNMI server.
type Fabric struct {
	cfg   Configuration
	log   *slog.Logger
	clock func() time.Time
	m     metrics

	epochSec int64  // second index of the fabric's boot (New)
	mask     uint64 // counter wrap mask

	devices []*device
	byName  map[string]*device
	sites   []string
	siteIdx map[string]int

	fmu    sync.RWMutex
	faults []cfault // append-only
	fence  atomic.Int64

	stats  statCounters
	schema *schema
	lastNs atomic.Int64 // latest device time handed out (nowNs)

	mu      sync.Mutex
	started bool
	stopped bool
	ln      net.Listener
	srv     *grpc.Server
	// ctx is the fabric's life, from Start to Stop: it ends the streams.
	ctx       context.Context
	cancel    context.CancelFunc
	stopOnce  component.Once
	wg        sync.WaitGroup
	truthFile *os.File
	truthBuf  *bufio.Writer
	truthNext int64
}

// New builds the fabric and loads the scenario; it does not listen yet.
// The fabric boots now: counters start at zero at the current second and
// scenario offsets count from here.
func New(cfg Configuration, deps Dependencies) (*Fabric, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	r := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	f := &Fabric{cfg: cfg, log: r.Log, clock: deps.Clock, schema: newSchema(), m: newMetrics(r)}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	if f.clock == nil {
		f.clock = time.Now
	}
	f.mask = ^uint64(0)
	if cfg.CounterBits < 64 {
		f.mask = 1<<uint(cfg.CounterBits) - 1
	}
	f.buildTopology()
	now := f.clock().UnixNano()
	f.epochSec = now / nsPerSec
	f.truthNext = f.epochSec
	for _, d := range f.devices {
		for _, ifc := range d.ifaces {
			ifc.st = ctrState{sec: f.epochSec, lastClear: f.epochSec * nsPerSec}
		}
		for _, l := range d.links {
			l.st = probeState{sec: f.epochSec}
		}
	}
	if cfg.Scenario != "" {
		sc, err := LoadScenario(cfg.Scenario)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		for i, ft := range sc.Faults {
			c, err := f.compileFault(ft, f.epochSec)
			if err != nil {
				return nil, fmt.Errorf("simulate: scenario %s: fault %d (%s): %w", cfg.Scenario, i, ft.Type, err)
			}
			f.faults = append(f.faults, c)
			f.m.faults.Inc()
		}
	}
	fs := f.faults
	for _, d := range f.devices {
		for _, ifc := range d.ifaces {
			if resetAt(fs, d, f.epochSec) {
				ifc.st.lastClear = f.epochSec * nsPerSec
			}
			ifc.st.rate, ifc.st.up = f.ifaceRates(fs, ifc, f.epochSec)
		}
		for _, l := range d.links {
			l.st.cur = f.probeSecond(fs, l, f.epochSec)
		}
	}
	f.fence.Store(f.epochSec)
	return f, nil
}

// Start listens and serves gNMI; it returns once serving. ctx bounds the
// start-up only: the fabric serves until Stop.
func (f *Fabric) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.stopped:
		return errors.New("simulate: stopped")
	case f.started:
		return errors.New("simulate: already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	var opts []grpc.ServerOption
	if f.cfg.TLS.Enabled() {
		tc, err := f.tlsConfig()
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	if f.cfg.Username != "" {
		opts = append(opts, grpc.UnaryInterceptor(f.unaryAuth), grpc.StreamInterceptor(f.streamAuth))
	}
	opts = append(opts, grpc.MaxConcurrentStreams(100000), grpc.ForceServerCodecV2(newPassCodec()), grpc.WaitForHandlers(true))
	if f.cfg.TruthFile != "" {
		tf, err := os.Create(f.cfg.TruthFile)
		if err != nil {
			return fmt.Errorf("simulate: truth-file: %w", err)
		}
		f.truthFile = tf
		f.truthBuf = bufio.NewWriterSize(tf, 1<<16)
	}
	ln, err := net.Listen("tcp", f.cfg.Listen)
	if err != nil {
		if f.truthFile != nil {
			_ = f.truthFile.Close()
		}
		return fmt.Errorf("simulate: listen: %w", err)
	}
	f.ln = ln
	f.srv = grpc.NewServer(opts...)
	gpb.RegisterGNMIServer(f.srv, &gnmiServer{f: f})
	f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.started = true
	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			f.log.Error("gNMI server stopped", "err", err)
		}
	}()
	go func() {
		defer f.wg.Done()
		f.eventLoop(f.ctx)
	}()
	f.log.Info("simulated fabric serving gNMI", "listen", ln.Addr().String(),
		"sites", f.cfg.Sites, "switches-per-site", f.cfg.SwitchesPerSite,
		"interfaces-per-switch", f.cfg.InterfacesPerSwitch, "faults", len(f.faults), "tls", f.cfg.TLS.Enabled())
	return nil
}

func (f *Fabric) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.cfg.TLS.CertFile, f.cfg.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("simulate: tls.cert-file: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.cfg.TLS.ClientCAFile != "" {
		pem, err := os.ReadFile(f.cfg.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("simulate: tls.client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("simulate: tls.client-ca-file: no certificate in %s", f.cfg.TLS.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Ready reports whether the fabric serves gNMI: started and not stopped.
func (f *Fabric) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.stopped {
		return errors.New("not listening")
	}
	return nil
}

// Stop ends every stream, stops the server and flushes the truth file. It
// is idempotent (every call returns the first one's result), safe
// concurrently and without a Start; a stopped fabric does not start again.
func (f *Fabric) Stop() error {
	return f.stopOnce.Do(f.stop)
}

func (f *Fabric) stop() error {
	f.mu.Lock()
	f.stopped = true
	if !f.started {
		f.mu.Unlock()
		return nil
	}
	f.cancel()
	srv := f.srv
	f.mu.Unlock()
	// The streams end (cancelled above); GracefulStop lets gRPC flush what
	// they already sent, so every notification counted in Emitted reaches a
	// client that keeps reading. A client that does not read is cut off.
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		f.log.Warn("gNMI clients still connected 5s after stop: closing their connections; notifications they did not read are lost although counted in Emitted")
		srv.Stop()
		<-done
	}
	f.wg.Wait()
	var err error
	if f.truthFile != nil {
		f.writeTruthUpTo(f.clock().UnixNano() / nsPerSec)
		if e := f.truthBuf.Flush(); e != nil {
			err = fmt.Errorf("simulate: truth-file: %w", e)
		}
		if e := f.truthFile.Close(); e != nil && err == nil {
			err = fmt.Errorf("simulate: truth-file: %w", e)
		}
		f.truthFile = nil
	}
	f.log.Info("simulated fabric stopped", "notifications", f.stats.notifications.Load(), "updates", f.stats.updates.Load())
	return err
}

// Addr is the bound listen address (host:port), "" before Start.
func (f *Fabric) Addr() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln == nil {
		return ""
	}
	return f.ln.Addr().String()
}

// Targets lists the simulated switches.
func (f *Fabric) Targets() []Target {
	out := make([]Target, 0, len(f.devices))
	for _, d := range f.devices {
		t := Target{Name: d.name, Site: d.site, Device: d.name}
		for _, ifc := range d.ifaces {
			t.Interfaces = append(t.Interfaces, ifc.name)
		}
		for _, l := range d.links {
			t.Peers = append(t.Peers, Peer{Site: l.dst.site, Device: l.dst.name})
		}
		out = append(out, t)
	}
	return out
}

// Emitted returns what the fabric sent so far, over all targets.
func (f *Fabric) Emitted() Stats { return f.stats.snapshot() }

// EmittedTarget returns what the fabric sent so far for one target.
func (f *Fabric) EmittedTarget(name string) (Stats, error) {
	d, ok := f.byName[name]
	if !ok {
		return Stats{}, fmt.Errorf("simulate: unknown target %q", name)
	}
	return d.stats.snapshot(), nil
}

// nowNs is the device time in unix ns, never going backwards even if the
// wall clock does.
func (f *Fabric) nowNs() int64 {
	n := f.clock().UnixNano()
	for {
		l := f.lastNs.Load()
		if n <= l {
			return l
		}
		if f.lastNs.CompareAndSwap(l, n) {
			return n
		}
	}
}

// ScheduledFault is a fault with its absolute time window.
type ScheduledFault struct {
	Fault
	// From is when it starts; To when it ends (zero: it does not end).
	From, To time.Time
}

// Faults lists the scenario's and injected faults with their windows.
func (f *Fabric) Faults() []ScheduledFault {
	fs := f.snapshotFaults()
	out := make([]ScheduledFault, 0, len(fs))
	for _, c := range fs {
		sf := ScheduledFault{Fault: c.Fault, From: time.Unix(c.startSec, 0)}
		if c.endSec != forever {
			sf.To = time.Unix(c.endSec, 0)
		}
		out = append(out, sf)
	}
	return out
}

// Epoch is the fabric's boot time (start of the second New was called in):
// counters are zero there and scenario offsets count from it.
func (f *Fabric) Epoch() time.Time { return time.Unix(f.epochSec, 0) }

// Inject adds a fault at run time. Its Start counts from now and is moved
// to the next second boundary not yet served, so served counters and the
// truth never disagree about the past. It returns the absolute time the
// fault starts.
func (f *Fabric) Inject(ft Fault) (time.Time, error) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	base := max(f.clock().UnixNano()/nsPerSec, f.fence.Load()) + 1
	c, err := f.compileFault(ft, base)
	if err != nil {
		return time.Time{}, fmt.Errorf("simulate: inject %s: %w", ft.Type, err)
	}
	// Copy on write: readers hold the old slice.
	fs := make([]cfault, len(f.faults), len(f.faults)+1)
	copy(fs, f.faults)
	f.faults = append(fs, c)
	f.m.faults.Inc()
	f.log.Info("fault injected", "fault", ft.String(), "at", time.Unix(c.startSec, 0).UTC())
	return time.Unix(c.startSec, 0), nil
}

// SetTargetDown makes one target unreachable (down=true): its running
// Subscribe streams end with codes.Unavailable and new RPCs are refused
// until SetTargetDown(name, false). The device keeps counting.
func (f *Fabric) SetTargetDown(name string, down bool) error {
	d, ok := f.byName[name]
	if !ok {
		return fmt.Errorf("simulate: unknown target %q", name)
	}
	d.setDown(&down, nil)
	f.log.Info("target reachability changed", "target", name, "down", down)
	return nil
}

// setDown updates the manual and/or reboot state of a device.
func (d *device) setDown(manual, reboot *bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	was := d.manualDown || d.rebootDown
	if manual != nil {
		d.manualDown = *manual
	}
	if reboot != nil {
		d.rebootDown = *reboot
	}
	now := d.manualDown || d.rebootDown
	switch {
	case !was && now:
		close(d.downCh)
	case was && !now:
		d.downCh = make(chan struct{})
	}
}

// eventLoop applies device reboots and writes the truth file.
func (f *Fabric) eventLoop(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var wasActive []bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k := f.clock().UnixNano() / nsPerSec
		fs := f.snapshotFaults()
		for len(wasActive) < len(fs) {
			wasActive = append(wasActive, false)
		}
		nActive := 0
		for i := range fs {
			a := fs[i].active(k)
			if a {
				nActive++
			}
			if a != wasActive[i] {
				wasActive[i] = a
				if a {
					f.log.Info("fault started", "index", i, "fault", fs[i].Fault.String())
				} else {
					f.log.Info("fault ended", "index", i, "fault", fs[i].Fault.String())
				}
			}
		}
		f.m.faultsActive.Set(float64(nActive))
		for _, d := range f.devices {
			rebooting := false
			for i := range fs {
				c := &fs[i]
				if c.Type == FaultCounterReset && c.dev == d && c.Duration > 0 && c.active(k) {
					rebooting = true
				}
			}
			d.mu.Lock()
			changed := d.rebootDown != rebooting
			d.mu.Unlock()
			if changed {
				d.setDown(nil, &rebooting)
				f.log.Info("device reboot", "device", d.name, "down", rebooting)
			}
		}
		if f.truthBuf != nil {
			f.writeTruthUpTo(k)
			if err := f.truthBuf.Flush(); err != nil {
				f.log.Warn("truth file write failed", "err", err)
			}
		}
	}
}
