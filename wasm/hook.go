package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/wire"
)

// reason is why a call failed: a label value of
// telemetry_<stage>_wasm_errors_total and of the dropped records.
type reason uint8

const (
	// reasonTrap: the module trapped (unreachable, out-of-bounds access,
	// a Go panic) or exited.
	reasonTrap reason = iota
	// reasonTimeout: the call ran past its deadline (timeout) and was
	// stopped.
	reasonTimeout
	// reasonMemory: the module asked for more than memory-limit.
	reasonMemory
	// reasonABI: the module broke the ABI (a wrong buffer, a batch or
	// record that does not decode, a wrong ABI version).
	reasonABI
	// reasonModule: the module returned an error code of its own.
	reasonModule
	numReasons
)

var reasonNames = [numReasons]string{
	reasonTrap:    "trap",
	reasonTimeout: "timeout",
	reasonMemory:  "memory",
	reasonABI:     "abi",
	reasonModule:  "module",
}

func (r reason) String() string { return reasonNames[r] }

// Reasons returns the reasons a call fails for (label values of
// telemetry_<stage>_wasm_errors_total).
func Reasons() []string { return append([]string(nil), reasonNames[:]...) }

// DropReasonFiltered: records the module itself left out of its output
// (net of those it added).
const DropReasonFiltered = "filtered"

// DropReasons returns the label values of
// telemetry_<stage>_wasm_records_dropped_total: filtered, then the
// failure reasons (a failing module's batch under on-error: drop).
func DropReasons() []string { return append([]string{DropReasonFiltered}, reasonNames[:]...) }

// Results of a reload (label of telemetry_<stage>_wasm_reloads_total).
const (
	ReloadOK     = "ok"
	ReloadFailed = "failed"
)

// Dependencies are what a Hook needs from outside.
type Dependencies struct {
	// Reporter is the stage's: metrics are telemetry_<stage>_wasm_*, log
	// lines carry its component. Required.
	Reporter *component.Reporter
	// Cache, when set, is shared by every compilation (tests and tools
	// that load the same module often). nil: none.
	Cache wazero.CompilationCache
	// Instances is the default number of instances of each module (a
	// module's instances: overrides it). 0: GOMAXPROCS.
	Instances int

	// noDeadlineChecks compiles modules without wazero's deadline checks
	// (WithCloseOnContextDone): a looping module then hangs its worker.
	// For the diagnostic benchmark only (bench_internal_test.go).
	noDeadlineChecks bool
}

// Hook runs the modules of one hook point, in order: the output of one is
// the input of the next. It is safe for concurrent use: each call takes
// an instance of each module from its pool.
type Hook struct {
	hook   HookPoint
	mods   []*Module
	log    *slog.Logger
	cache  wazero.CompilationCache
	checks bool // deadline checks compiled in (always, but in a diagnostic benchmark)

	life    sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    component.Once
}

// Module is one configured module of a Hook.
type Module struct {
	cfg       ModuleConfig
	instances int
	cur       atomic.Pointer[version]
	log       *slog.Logger
	m         moduleMetrics
	st        moduleTally
	limit     component.LogLimiter
	validator func() validator

	// the watcher's state
	pending, bad string
}

// moduleMetrics are one module's series.
type moduleMetrics struct {
	calls, seconds, in, out, added prometheus.Counter
	errors                         [numReasons]prometheus.Counter
	dropped                        [numReasons + 1]prometheus.Counter // 0: filtered
	reloads                        [2]prometheus.Counter              // ok, failed
}

// moduleTally is what Stats reports, counted with the metrics.
type moduleTally struct {
	calls, in, out, added, reloadsOK, reloadsFailed atomic.Uint64
	nanos                                           atomic.Int64
	errors                                          [numReasons]atomic.Uint64
	dropped                                         [numReasons + 1]atomic.Uint64
}

// ModuleStats is a snapshot of one module's counters. Its maps have a key
// for every label value, at 0 until the first event. In + Added = Out +
// the sum of Dropped, exactly.
type ModuleStats struct {
	Name string
	// Version is the sha-256 (hex) of the file now running.
	Version string
	Calls   uint64
	Time    time.Duration
	// In, Out: records given to and passed on by the module (a failing
	// call under on-error: pass passes its input on).
	In, Out uint64
	// Added: records the module added (net, per call).
	Added uint64
	// Errors by reason (Reasons).
	Errors map[string]uint64
	// Dropped records by reason (DropReasons).
	Dropped map[string]uint64
	// Reloads by result (ok, failed).
	Reloads map[string]uint64
}

// New builds the hook h for the modules cfgs (the section's wasm list); it
// loads nothing: Start does. It registers the metrics of every module.
func New(h HookPoint, cfgs []ModuleConfig, deps Dependencies) (*Hook, error) {
	if h != HookCollect && h != HookProcess {
		return nil, fmt.Errorf("wasm: unknown hook %q", h)
	}
	if err := Validate(h, cfgs); err != nil {
		return nil, err
	}
	if deps.Reporter == nil {
		return nil, errors.New("wasm: Dependencies.Reporter is required")
	}
	r := deps.Reporter
	hk := &Hook{hook: h, log: r.Log.With("hook", string(h)), cache: deps.Cache, checks: !deps.noDeadlineChecks}
	if len(cfgs) == 0 {
		return hk, nil
	}
	var names []string
	for _, c := range cfgs {
		names = append(names, c.withDefaults(h).Name)
	}
	perReason := func(rs []string) [][]string {
		var out [][]string
		for _, n := range names {
			for _, x := range rs {
				out = append(out, []string{n, x})
			}
		}
		return out
	}
	mod := []string{"module"}
	calls := r.CounterVec("wasm_calls_total", "Calls of a WebAssembly module, by module.", mod, component.Values(names...)...)
	seconds := r.CounterVec("wasm_call_seconds_total", "Time spent in calls of a WebAssembly module, by module.", mod, component.Values(names...)...)
	in := r.CounterVec("wasm_records_in_total", "Records given to a WebAssembly module, by module.", mod, component.Values(names...)...)
	out := r.CounterVec("wasm_records_out_total", "Records a WebAssembly module passed on, by module.", mod, component.Values(names...)...)
	added := r.CounterVec("wasm_records_added_total", "Records a WebAssembly module added (net, per call), by module.", mod, component.Values(names...)...)
	errs := r.CounterVec("wasm_errors_total", "Failed calls of a WebAssembly module, by module and reason (trap, timeout, memory, abi, module).",
		[]string{"module", "reason"}, perReason(Reasons())...)
	dropped := r.CounterVec("wasm_records_dropped_total", "Records dropped at a WebAssembly module, by module and reason (filtered by the module, or a failure reason under on-error: drop).",
		[]string{"module", "reason"}, perReason(DropReasons())...)
	reloads := r.CounterVec("wasm_reloads_total", "New versions of a WebAssembly module file, by module and result (ok: swapped in; failed: the old one kept).",
		[]string{"module", "result"}, perReason([]string{ReloadOK, ReloadFailed})...)
	if err := r.Err(); err != nil {
		return nil, err
	}
	def := deps.Instances
	if def <= 0 {
		def = runtime.GOMAXPROCS(0)
	}
	for _, c := range cfgs {
		c = c.withDefaults(h)
		n := c.Instances
		if n == 0 {
			n = def
		}
		m := &Module{cfg: c, instances: n, log: hk.log.With("module", c.Name), limit: component.LogLimiter{Period: time.Minute}}
		if h == HookCollect {
			m.validator = func() validator { return sampleValidator{wire.NewAliasingSampleDecoder()} }
		} else {
			m.validator = func() validator { return kpiValidator{wire.NewAliasingKPIDecoder()} }
		}
		m.m = moduleMetrics{
			calls: calls.WithLabelValues(c.Name), seconds: seconds.WithLabelValues(c.Name),
			in: in.WithLabelValues(c.Name), out: out.WithLabelValues(c.Name), added: added.WithLabelValues(c.Name),
		}
		for r := range numReasons {
			m.m.errors[r] = errs.WithLabelValues(c.Name, r.String())
			m.m.dropped[r+1] = dropped.WithLabelValues(c.Name, r.String())
		}
		m.m.dropped[0] = dropped.WithLabelValues(c.Name, DropReasonFiltered)
		m.m.reloads[0] = reloads.WithLabelValues(c.Name, ReloadOK)
		m.m.reloads[1] = reloads.WithLabelValues(c.Name, ReloadFailed)
		hk.mods = append(hk.mods, m)
	}
	return hk, nil
}

// Len is the number of modules.
func (h *Hook) Len() int {
	if h == nil {
		return 0
	}
	return len(h.mods)
}

// Start loads every module (compile, instantiate, self-check: ABI version
// and a call on an empty batch) and starts watching their files. A module
// that does not load is an error naming it. ctx bounds the loading only.
func (h *Hook) Start(ctx context.Context) error {
	h.life.Lock()
	defer h.life.Unlock()
	switch {
	case h.stopped:
		return errors.New("wasm: stopped")
	case h.started:
		return errors.New("wasm: already started")
	}
	for i, m := range h.mods {
		b, err := loadFile(m.cfg.Path)
		if err == nil {
			var v *version
			v, err = m.load(ctx, b, h.cache, h.checks)
			if err == nil {
				m.cur.Store(v)
				m.log.Info("wasm module loaded", "path", m.cfg.Path, "sha256", v.sum[:12], "instances", m.instances)
				continue
			}
		}
		for _, l := range h.mods[:i] {
			l.cur.Load().retire()
		}
		return fmt.Errorf("wasm[%d] (%s): %w", i, m.cfg.Name, err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	for _, m := range h.mods {
		if m.cfg.WatchInterval > 0 {
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				m.watch(wctx, h.cache, h.checks)
			}()
		}
	}
	h.started = true
	return nil
}

// Stop stops watching and closes every instance. Calls under way finish
// first (they are bounded by their deadline). Idempotent.
func (h *Hook) Stop() error {
	return h.once.Do(func() error {
		h.life.Lock()
		defer h.life.Unlock()
		h.stopped = true
		if !h.started {
			return nil
		}
		h.cancel()
		h.wg.Wait()
		for _, m := range h.mods {
			m.cur.Load().retire()
		}
		return nil
	})
}

// Stats returns a snapshot of every module's counters, in order.
func (h *Hook) Stats() []ModuleStats {
	if h == nil {
		return nil
	}
	out := make([]ModuleStats, 0, len(h.mods))
	for _, m := range h.mods {
		s := ModuleStats{Name: m.cfg.Name, Calls: m.st.calls.Load(), Time: time.Duration(m.st.nanos.Load()),
			In: m.st.in.Load(), Out: m.st.out.Load(), Added: m.st.added.Load(),
			Errors: map[string]uint64{}, Dropped: map[string]uint64{},
			Reloads: map[string]uint64{ReloadOK: m.st.reloadsOK.Load(), ReloadFailed: m.st.reloadsFailed.Load()}}
		if v := m.cur.Load(); v != nil {
			s.Version = v.sum
		}
		for r := range numReasons {
			s.Errors[r.String()] = m.st.errors[r].Load()
			s.Dropped[r.String()] = m.st.dropped[r+1].Load()
		}
		s.Dropped[DropReasonFiltered] = m.st.dropped[0].Load()
		out = append(out, s)
	}
	return out
}

// load compiles b, instantiates it once and self-checks that instance,
// which becomes the first idle one of the version.
func (m *Module) load(ctx context.Context, b []byte, cache wazero.CompilationCache, checks bool) (*version, error) {
	v, err := compile(ctx, m.cfg, b, cache, m.instances, checks)
	if err != nil {
		return nil, err
	}
	i, err := v.instantiate(ctx)
	if err != nil {
		v.rt.Close(context.Background())
		return nil, err
	}
	if err := i.selfCheck(); err != nil {
		v.rt.Close(context.Background())
		if s := i.stderr.String(); s != "" {
			err = fmt.Errorf("%w (stderr: %q)", err, s)
		}
		return nil, err
	}
	v.free <- i
	return v, nil
}

// watch checks the file every interval; a new content that stayed the
// same for one interval is loaded and swapped in if it passes its
// self-check. A bad version is counted once and the old one kept.
func (m *Module) watch(ctx context.Context, cache wazero.CompilationCache, checks bool) {
	t := time.NewTicker(m.cfg.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.check(ctx, cache, checks)
	}
}

// check is one turn of watch.
func (m *Module) check(ctx context.Context, cache wazero.CompilationCache, checks bool) {
	b, err := loadFile(m.cfg.Path)
	if err != nil {
		if m.limit.Allow("read") {
			m.log.Warn("wasm module file unreadable; the loaded version keeps running (logged once a minute)", "path", m.cfg.Path, "err", err)
		}
		return
	}
	v := sumOf(b)
	cur := m.cur.Load()
	switch {
	case v == cur.sum:
		m.pending = ""
		return
	case v == m.bad:
		return
	case v != m.pending:
		m.pending = v // loaded once it stays the same for one interval
		return
	}
	m.pending = ""
	nv, err := m.load(ctx, b, cache, checks)
	if err != nil {
		m.bad = v
		m.st.reloadsFailed.Add(1)
		m.m.reloads[1].Inc()
		m.log.Error("new wasm module version rejected; the old one keeps running", "path", m.cfg.Path, "sha256", v[:12], "err", err)
		return
	}
	m.cur.Store(nv)
	m.st.reloadsOK.Add(1)
	m.m.reloads[0].Inc()
	m.log.Info("wasm module reloaded", "path", m.cfg.Path, "sha256", v[:12], "previous", cur.sum[:12])
	cur.retire()
}

// Reload loads the module files now, as the watcher does once a change is
// stable (tests, tools): a file whose content differs from the running
// version is swapped in when it passes its self-check. It returns the
// reload error of the first module that failed.
func (h *Hook) Reload(ctx context.Context) error {
	var first error
	for _, m := range h.mods {
		before := m.st.reloadsFailed.Load()
		m.pending, m.bad = "", ""
		b, err := loadFile(m.cfg.Path)
		if err == nil {
			m.pending = sumOf(b)
			m.check(ctx, h.cache, h.checks)
		}
		if err == nil && m.st.reloadsFailed.Load() != before {
			err = fmt.Errorf("wasm module %s: new version rejected", m.cfg.Name)
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// run calls the module on the batch in (n records) and appends its output
// to dst. changed is false when the batch goes on as it was (the module
// left it unchanged, or failed under on-error: pass); keep is false when
// it is dropped (failed under on-error: drop). nOut is the output's
// record count.
func (m *Module) run(ctx context.Context, val validator, in []byte, n int, dst []byte) (out []byte, nOut int, changed, keep bool) {
	v := m.cur.Load()
	start := time.Now()
	i, err := v.acquire(ctx)
	if err == nil {
		out, nOut, changed, err = i.call(in, dst)
		sound := true
		var ce *callError
		if errors.As(err, &ce) && (ce.reason == reasonTrap || ce.reason == reasonTimeout || ce.reason == reasonMemory) {
			sound = false
			if s := i.stderr.String(); s != "" {
				err = fmt.Errorf("%w (stderr: %q)", err, s)
			}
		}
		v.release(i, sound)
	} else if ctx.Err() != nil {
		err = &callError{reasonTimeout, fmt.Errorf("waiting for an instance: %w", err)}
	}
	if err == nil && changed && nOut < 0 {
		nOut, err = val.validate(out[len(dst):])
		if err != nil {
			err = &callError{reasonABI, err}
		}
	}
	d := time.Since(start)
	m.st.calls.Add(1)
	m.m.calls.Inc()
	m.st.nanos.Add(int64(d))
	m.m.seconds.Add(d.Seconds())
	m.st.in.Add(uint64(n))
	m.m.in.Add(float64(n))
	if err != nil {
		r := reasonTrap
		var ce *callError
		if errors.As(err, &ce) {
			r = ce.reason
		}
		m.st.errors[r].Add(1)
		m.m.errors[r].Inc()
		if m.limit.Allow(r.String()) {
			m.log.Warn("wasm module failed; the batch is handled by on-error (logged once a minute per reason)",
				"reason", r.String(), "on-error", m.cfg.OnError, "records", n, "err", err)
		}
		if m.cfg.OnError == OnErrorDrop {
			m.st.dropped[r+1].Add(uint64(n))
			m.m.dropped[r+1].Add(float64(n))
			return dst, 0, true, false
		}
		m.st.out.Add(uint64(n))
		m.m.out.Add(float64(n))
		return dst, n, false, true
	}
	if !changed {
		nOut = n
	}
	m.st.out.Add(uint64(nOut))
	m.m.out.Add(float64(nOut))
	if nOut < n {
		m.st.dropped[0].Add(uint64(n - nOut))
		m.m.dropped[0].Add(float64(n - nOut))
	} else if nOut > n {
		m.st.added.Add(uint64(nOut - n))
		m.m.added.Add(float64(nOut - n))
	}
	return out, nOut, changed, true
}

// Scratch is one worker's buffers for Run: a worker (goroutine) keeps its
// own and never shares it.
type Scratch struct {
	in   []byte
	a, b []byte
	vals []validator
}

// Run runs the batch in (n records, encoded as SampleBatch for the
// collect hook, KPIBatch for process) through every module. changed is
// false when out is in itself (no module changed it); otherwise out is in
// the scratch's buffers and valid until its next Run. A batch a module
// dropped (on-error: drop) comes out empty (nOut 0). Run never fails: the
// failures are counted and handled by each module's on-error.
func (h *Hook) Run(ctx context.Context, sc *Scratch, in []byte, n int) (out []byte, nOut int, changed bool) {
	if len(sc.vals) != len(h.mods) {
		sc.vals = make([]validator, len(h.mods))
		for i, m := range h.mods {
			sc.vals[i] = m.validator()
		}
	}
	cur := in
	for i, m := range h.mods {
		dst := sc.a[:0]
		o, no, ch, keep := m.run(ctx, sc.vals[i], cur, n, dst)
		if !keep {
			return nil, 0, true
		}
		if ch {
			sc.a, sc.b = sc.b, o // o is in a's storage; next output goes to the other
			cur, n, changed = o, no, true
		}
	}
	return cur, n, changed
}

// sumOf is the hex sha-256 of b.
func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
