package wasm_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// cache is shared by every compilation of the package's tests.
var cache = wazero.NewCompilationCache()

// newHook starts a hook of point p with mods; it is stopped at the end.
func newHook(t testing.TB, p wasm.HookPoint, reg prometheus.Registerer, mods ...wasm.ModuleConfig) *wasm.Hook {
	t.Helper()
	h, err := wasm.New(p, mods, wasm.Dependencies{Reporter: component.NewReporter("collector", nil, reg), Cache: cache, Instances: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// samples returns n interface samples named like vendor ports.
func samples(n int) []*wirepb.Sample {
	now := testenv.Now().UnixNano()
	names := []string{"GigabitEthernet0/0/%d", "Ethernet%d", "et-0/0/%d", "mgmt%d", "TenGigE0/0/0/%d"}
	out := make([]*wirepb.Sample, n)
	for i := range out {
		out[i] = &wirepb.Sample{Site: "site1", Device: "site1-sw1", Collector: "c1", Seq: uint64(i + 1),
			DeviceTimeUnixNano: now, ReceiveTimeUnixNano: now,
			Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{
				Interface:  fmt.Sprintf(names[i%len(names)], i),
				Counters:   []*wirepb.CounterValue{{Counter: wirepb.Counter_IN_OCTETS, Value: uint64(i) * 1000}, {Counter: wirepb.Counter_OUT_OCTETS, Value: 7}},
				OperStatus: wirepb.OperStatus_UP,
			}}}
	}
	return out
}

func TestWasmNormalizeExample(t *testing.T) {
	h := newHook(t, wasm.HookCollect, nil, wasm.ModuleConfig{Path: wasmtest.Build(t, "normalize")})
	var sc wasm.Scratch
	in := samples(10)
	out, err := h.Samples(context.Background(), &sc, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 10 {
		t.Fatalf("%d samples out, want 10", len(out))
	}
	want := []string{"eth0/0/0", "eth1", "eth0/0/2", "mgmt3", "eth0/0/0/4"}
	for i, s := range out[:5] {
		if got := s.GetInterface().GetInterface(); got != want[i] {
			t.Errorf("sample %d: interface %q, want %q", i, got, want[i])
		}
		if s.Seq != in[i].Seq || s.GetInterface().Counters[0].Value != in[i].GetInterface().Counters[0].Value {
			t.Errorf("sample %d changed beyond its name: %v", i, s)
		}
	}
	st := h.Stats()[0]
	if st.Calls != 1 || st.In != 10 || st.Out != 10 {
		t.Errorf("stats %+v", st)
	}
}

// TestWasmFailures: a trapping, looping, memory-hungry or ABI-breaking
// module is stopped on every batch, counted by reason, its instance
// replaced, and the batch passed on (pass) or dropped (drop) with exact
// accounting; the module after it keeps running.
func TestWasmFailures(t *testing.T) {
	for _, tc := range []struct {
		module, reason string
		timeout        time.Duration
	}{
		{"trap", "trap", time.Second},
		{"loop", "timeout", 50 * time.Millisecond},
		{"hog", "memory", time.Second},
		{"badptr", "abi", time.Second},
		{"badnames", "abi", time.Second},
	} {
		for _, policy := range []string{wasm.OnErrorPass, wasm.OnErrorDrop} {
			t.Run(tc.module+"/"+policy, func(t *testing.T) {
				t.Parallel()
				reg := prometheus.NewRegistry()
				h := newHook(t, wasm.HookCollect, reg,
					wasm.ModuleConfig{Path: wasmtest.Build(t, tc.module), OnError: policy,
						MemoryLimit: 16 << 20, Timeout: tc.timeout},
					wasm.ModuleConfig{Path: wasmtest.Build(t, "normalize")})
				var sc wasm.Scratch
				const batches, size = 4, 25
				var out int
				for range batches {
					res, err := h.Samples(context.Background(), &sc, samples(size))
					if err != nil {
						t.Fatal(err)
					}
					out += len(res)
					if policy == wasm.OnErrorPass && res[1].GetInterface().GetInterface() != "eth1" {
						t.Fatalf("the module after the failing one did not run: %v", res[1])
					}
				}
				st := h.Stats()
				bad, next := st[0], st[1]
				if bad.Errors[tc.reason] != batches {
					t.Fatalf("errors %v, want %d %s", bad.Errors, batches, tc.reason)
				}
				for r, n := range bad.Errors {
					if r != tc.reason && n != 0 {
						t.Errorf("errors %v: %s counted", bad.Errors, r)
					}
				}
				if bad.Calls != batches || bad.In != batches*size {
					t.Errorf("calls %d in %d", bad.Calls, bad.In)
				}
				var dropped uint64
				for _, n := range bad.Dropped {
					dropped += n
				}
				if bad.In+bad.Added != bad.Out+dropped {
					t.Errorf("accounting: in %d + added %d != out %d + dropped %d", bad.In, bad.Added, bad.Out, dropped)
				}
				want := uint64(batches * size)
				if policy == wasm.OnErrorDrop {
					if bad.Dropped[tc.reason] != want || out != 0 || next.In != 0 {
						t.Errorf("drop: dropped %v, %d samples out, next module got %d", bad.Dropped, out, next.In)
					}
				} else if bad.Out != want || out != int(want) || next.In != want {
					t.Errorf("pass: out %d, %d samples out, next module got %d", bad.Out, out, next.In)
				}
				// the metrics count the same
				errs := moduleSeries(t, reg, "telemetry_collector_wasm_errors_total", tc.module)
				if errs[tc.reason] != batches {
					t.Errorf("metric errors %v", errs)
				}
			})
		}
	}
}

// moduleSeries is the series of a wasm_* metric of one module by reason.
func moduleSeries(t testing.TB, g prometheus.Gatherer, name, module string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["module"] == module {
				out[labels["reason"]] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestWasmLabelValuesInStats: every label value of the errors and dropped
// metrics is a key of Stats, and the series exist at 0.
func TestWasmLabelValuesInStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHook(t, wasm.HookCollect, reg, wasm.ModuleConfig{Path: wasmtest.Build(t, "noop")})
	st := h.Stats()[0]
	for _, r := range wasm.Reasons() {
		if _, ok := st.Errors[r]; !ok {
			t.Errorf("reason %s not in Stats.Errors", r)
		}
	}
	for _, r := range wasm.DropReasons() {
		if _, ok := st.Dropped[r]; !ok {
			t.Errorf("reason %s not in Stats.Dropped", r)
		}
	}
	if got := moduleSeries(t, reg, "telemetry_collector_wasm_errors_total", "noop"); len(got) != len(wasm.Reasons()) {
		t.Errorf("error series at start: %v", got)
	}
	if got := moduleSeries(t, reg, "telemetry_collector_wasm_records_dropped_total", "noop"); len(got) != len(wasm.DropReasons()) {
		t.Errorf("dropped series at start: %v", got)
	}
}

// TestWasmReloadUnderLoad swaps a module while workers call it: every
// sample comes out once, first marked by the old version, then by the new
// one; a broken new version is refused and the running one kept.
func TestWasmReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mark.wasm")
	wasmtest.Copy(t, "mark", path)
	v2 := wasmtest.Build(t, "mark", "-X main.Mark=v2")
	// a generous deadline: this test is about the swap, not about a slow machine
	h := newHook(t, wasm.HookCollect, nil, wasm.ModuleConfig{Path: path, WatchInterval: -1, Timeout: 10 * time.Second})
	var (
		in, out atomic.Int64
		seenV2  atomic.Bool
		wg      sync.WaitGroup
		stop    = make(chan struct{})
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc wasm.Scratch
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := h.Samples(context.Background(), &sc, samples(50))
				if err != nil {
					t.Error(err)
					return
				}
				in.Add(50)
				out.Add(int64(len(res)))
				for _, s := range res {
					switch s.Collector {
					case "v1":
					case "v2":
						seenV2.Store(true)
					default:
						t.Errorf("collector %q: neither version marked it (%+v)", s.Collector, h.Stats()[0])
						return
					}
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	b, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "samples marked by v2", seenV2.Load)
	// a broken version: refused, v2 keeps running
	if err := os.WriteFile(path, []byte("\x00asm not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(context.Background()); err == nil {
		t.Error("a broken module was accepted")
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	st := h.Stats()[0]
	if in.Load() != out.Load() || uint64(in.Load()) != st.In || st.In != st.Out {
		t.Errorf("in %d, out %d; module stats %+v", in.Load(), out.Load(), st)
	}
	if st.Reloads[wasm.ReloadOK] != 1 || st.Reloads[wasm.ReloadFailed] != 1 {
		t.Errorf("reloads %v", st.Reloads)
	}
	var sc wasm.Scratch
	res, err := h.Samples(context.Background(), &sc, samples(3))
	if err != nil || res[0].Collector != "v2" {
		t.Errorf("after the refused version: %v %v", res, err)
	}
}

// TestWasmWatch: the watcher swaps a new version in once the file stayed
// the same for one interval.
func TestWasmWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mark.wasm")
	wasmtest.Copy(t, "mark", path)
	h := newHook(t, wasm.HookCollect, nil, wasm.ModuleConfig{Path: path, WatchInterval: 50 * time.Millisecond})
	wasmtest.Copy(t, "mark", path, "-X main.Mark=v2")
	var sc wasm.Scratch
	testenv.Eventually(t, 10*time.Second, "v2 swapped in", func() bool {
		res, err := h.Samples(context.Background(), &sc, samples(1))
		return err == nil && res[0].Collector == "v2"
	})
}

// TestWasmSelfCheck: a module that is not one (wrong exports, wrong hook,
// garbage) does not start, with an error naming it.
func TestWasmSelfCheck(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(junk, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    wasm.HookPoint
		path string
	}{
		{"garbage", wasm.HookCollect, junk},
		{"missing", wasm.HookCollect, filepath.Join(dir, "none.wasm")},
		{"no process export", wasm.HookProcess, wasmtest.Build(t, "normalize")},
		{"no collect export", wasm.HookCollect, wasmtest.Build(t, "errorbudget")},
	} {
		h, err := wasm.New(tc.p, []wasm.ModuleConfig{{Path: tc.path}}, wasm.Dependencies{Reporter: component.NewReporter("collector", nil, nil), Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(context.Background()); err == nil {
			t.Errorf("%s: started", tc.name)
			h.Stop()
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

func TestWasmValidate(t *testing.T) {
	for _, tc := range []struct {
		mods []wasm.ModuleConfig
		want string
	}{
		{[]wasm.ModuleConfig{{}}, "wasm[0].path: must not be empty"},
		{[]wasm.ModuleConfig{{Path: "a.wasm", OnError: "explode"}}, `wasm[0].on-error: "explode" is not pass or drop`},
		{[]wasm.ModuleConfig{{Path: "a.wasm", Hook: "process"}}, `wasm[0].hook: "process" in the collect section (a process module goes in the process section)`},
		{[]wasm.ModuleConfig{{Path: "a.wasm", Capabilities: []string{"network"}}}, `wasm[0].capabilities: "network" is not clock or random`},
		{[]wasm.ModuleConfig{{Path: "a.wasm", MemoryLimit: 1000}}, "wasm[0].memory-limit: 1000 bytes is not between 1 MiB and 4 GiB"},
		{[]wasm.ModuleConfig{{Path: "x/a.wasm"}, {Path: "y/a.wasm"}}, `wasm[1].name: "a" used twice (set name)`},
	} {
		err := wasm.Validate(wasm.HookCollect, tc.mods)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.mods, err, tc.want)
		}
	}
	if err := wasm.Validate(wasm.HookCollect, []wasm.ModuleConfig{{Path: "a.wasm", Hook: "collect", OnError: "drop", Capabilities: []string{"clock"}}}); err != nil {
		t.Error(err)
	}
}

// TestWasmKPIs: the process hook adds fields (errorbudget) and vetoes
// (veto) KPIs.
func TestWasmKPIs(t *testing.T) {
	h := newHook(t, wasm.HookProcess, nil,
		wasm.ModuleConfig{Path: wasmtest.Build(t, "errorbudget")},
		wasm.ModuleConfig{Path: wasmtest.Build(t, "veto")})
	ws := testenv.Now().Truncate(10 * time.Second)
	kpis := []*wirepb.KPI{
		{Id: "a", Site: "site1", Device: "site1-sw1", WindowStartUnixNano: ws.UnixNano(), WindowEndUnixNano: ws.Add(10 * time.Second).UnixNano(), Samples: 3,
			Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{Interface: "Ethernet1", LossRatio: 0.002, UtilIn: 0.5}}},
		{Id: "b", Site: "site1", Device: "site1-sw1", Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{Instance: "p1", Samples: 9}}},
		{Id: "c", Site: "site1", Device: "site1-sw1", Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{DstSite: "site2", DstDevice: "site2-sw1", LossRatio: 0, RttMs: 3}}},
	}
	var sc wasm.Scratch
	out := h.KPIs(context.Background(), &sc, kpis)
	if len(out) != 2 || out[0].Id != "a" || out[1].Id != "c" {
		t.Fatalf("out %v", out)
	}
	if got := out[0].Fields["error_budget_burn"]; got < 1.999 || got > 2.001 {
		t.Errorf("burn %v, want 2", got)
	}
	if v, ok := out[1].Fields["error_budget_burn"]; !ok || v != 0 {
		t.Errorf("link burn %v %v", v, ok)
	}
	if out[0].GetInterface().UtilIn != 0.5 || out[0].WindowEndUnixNano != kpis[0].WindowEndUnixNano || out[0].Samples != 3 {
		t.Errorf("KPI changed beyond its fields: %v", out[0])
	}
	st := h.Stats()
	if st[1].Dropped[wasm.DropReasonFiltered] != 1 {
		t.Errorf("veto stats %+v", st[1])
	}
}

// TestWasmDeployExample: deploy/wasm's configuration snippet has only known
// keys and validates.
func TestWasmDeployExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "wasm", "telemetry.wasm.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Collect struct {
			Wasm []wasm.ModuleConfig `yaml:"wasm"`
		} `yaml:"collect"`
		Process struct {
			Wasm []wasm.ModuleConfig `yaml:"wasm"`
		} `yaml:"process"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Collect.Wasm) != 3 || len(cfg.Process.Wasm) != 1 {
		t.Errorf("modules: %+v", cfg)
	}
	if err := wasm.Validate(wasm.HookCollect, cfg.Collect.Wasm); err != nil {
		t.Error(err)
	}
	if err := wasm.Validate(wasm.HookProcess, cfg.Process.Wasm); err != nil {
		t.Error(err)
	}
}
