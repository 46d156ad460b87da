package collector

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
)

// wasmAccounting checks, after Stop, that every sample the sessions handed
// over is produced or dropped with a reason: Samples + Inventory + the
// modules' Added = Produced + the drops + the modules' Dropped.
func wasmAccounting(t *testing.T, c *Collector) (dropped map[string]uint64) {
	t.Helper()
	st := c.Stats()
	var added, wdropped uint64
	dropped = map[string]uint64{}
	for _, m := range c.WasmStats() {
		added += m.Added
		for r, n := range m.Dropped {
			wdropped += n
			dropped[m.Name+"/"+r] += n
		}
	}
	if in, out := st.Samples+st.Inventory+added, st.Produced+totalDropped(st)+wdropped; in != out || c.WasmQueued() != 0 || st.Buffered != 0 {
		t.Errorf("accounting: samples %d + inventory %d + added %d = %d, produced %d + dropped %v + wasm dropped %d = %d (queued %d, buffered %d)",
			st.Samples, st.Inventory, added, in, st.Produced, st.Dropped, wdropped, out, c.WasmQueued(), st.Buffered)
	}
	return dropped
}

// TestWasmCollectorFailingModules: a trapping, looping or memory-hungry
// module in collect.wasm leaves the collector running: every sample of a
// flood is produced (on-error: pass, the next module still normalising its
// name) or dropped with the module's reason (on-error: drop), exactly.
func TestWasmCollectorFailingModules(t *testing.T) {
	const n = 3000
	for _, tc := range []struct {
		module, reason, policy string
		timeout                time.Duration
	}{
		{"trap", "trap", wasm.OnErrorPass, 2 * time.Second},
		{"loop", "timeout", wasm.OnErrorPass, 20 * time.Millisecond},
		{"hog", "memory", wasm.OnErrorDrop, 2 * time.Second},
	} {
		t.Run(tc.module, func(t *testing.T) {
			addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
				return floodPrepared(target, srv, 4, n)
			})
			kc, _ := kafkatest.Fake(t, 4)
			got := consume(t, kc)
			cfg := testConfig("c1")
			cfg.Subscriptions = cfg.Subscriptions[:1]
			cfg.InventoryInterval = time.Hour
			cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: addr}}
			cfg.Wasm = []wasm.ModuleConfig{
				{Path: wasmtest.Build(t, tc.module), OnError: tc.policy, MemoryLimit: 16 << 20, Timeout: tc.timeout},
				// generous: this module must not fail on a loaded machine
				{Path: wasmtest.Build(t, "normalize"), Timeout: 5 * time.Second},
			}
			c := startCollector(t, cfg, kc)
			testenv.Eventually(t, 60*time.Second, "the flood read", func() bool { return c.Stats().Samples == n })
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
			dropped := wasmAccounting(t, c)
			bad := c.WasmStats()[0]
			if bad.Errors[tc.reason] == 0 || bad.Calls != bad.Errors[tc.reason] {
				t.Errorf("%s: calls %d, errors %v: want every call failed with %s", tc.module, bad.Calls, bad.Errors, tc.reason)
			}
			st := c.Stats()
			switch tc.policy {
			case wasm.OnErrorPass:
				if st.Produced != n+st.Inventory {
					t.Errorf("produced %d of %d samples + %d inventory", st.Produced, n, st.Inventory)
				}
				testenv.Eventually(t, 10*time.Second, "every sample in Kafka", func() bool { return len(got.snapshot()) == int(st.Produced) })
				for _, s := range got.snapshot() {
					if it := s.GetInterface(); it != nil && !strings.HasPrefix(it.Interface, "eth") {
						t.Fatalf("interface %q not normalised", it.Interface)
					}
				}
			case wasm.OnErrorDrop:
				if dropped[tc.module+"/"+tc.reason] != n || st.Produced != st.Inventory {
					t.Errorf("dropped %v, produced %d: want the %d samples dropped for %s", dropped, st.Produced, n, tc.reason)
				}
			}
		})
	}
}

// TestWasmCollectorReloadUnderLoad swaps the collect module while a target
// floods: no sample is lost, those before the swap marked by the old
// version, those after it by the new one.
func TestWasmCollectorReloadUnderLoad(t *testing.T) {
	var sent atomic.Int64
	stop := make(chan struct{})
	// stopped: the flood has seen stop and sends no more, so sent is final
	// (an update in flight when stop closed is counted before it).
	stopped := make(chan struct{})
	var stopOnce sync.Once
	addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		if err := sendSync(srv); err != nil {
			return err
		}
		for i := 0; ; i++ { // paced, until the test says stop
			select {
			case <-stop:
				stopOnce.Do(func() { close(stopped) })
				<-srv.Context().Done()
				return nil
			default:
			}
			resp := &gnmi.SubscribeResponse{Response: &gnmi.SubscribeResponse_Update{
				Update: countersNotification(target, "Ethernet1", time.Now().UnixNano(), uint64(i))}}
			if err := srv.Send(resp); err != nil {
				return err
			}
			sent.Add(1)
			if i%100 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	path := filepath.Join(t.TempDir(), "mark.wasm")
	wasmtest.Copy(t, "mark", path)
	cfg := testConfig("c1")
	cfg.Subscriptions = cfg.Subscriptions[:1]
	cfg.InventoryInterval = time.Hour
	cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: addr}}
	cfg.Wasm = []wasm.ModuleConfig{{Path: path, WatchInterval: -1, Timeout: 10 * time.Second}}
	c := startCollector(t, cfg, kc)
	testenv.Eventually(t, 30*time.Second, "samples flowing", func() bool { return c.Stats().Samples >= 2000 })
	wasmtest.Copy(t, "mark", path, "-X main.Mark=v2")
	if err := c.ReloadWasm(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := sent.Load()
	testenv.Eventually(t, 30*time.Second, "samples after the swap", func() bool { return sent.Load() >= before+2000 })
	close(stop)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the flood did not stop")
	}
	n := uint64(sent.Load())
	testenv.Eventually(t, 60*time.Second, "the flood read", func() bool { return c.Stats().Samples == n })
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	wasmAccounting(t, c)
	st := c.Stats()
	if st.Produced != n+st.Inventory || totalDropped(st) != 0 {
		t.Fatalf("produced %d, dropped %v: want all %d", st.Produced, st.Dropped, n)
	}
	testenv.Eventually(t, 10*time.Second, "every sample in Kafka", func() bool { return len(got.snapshot()) == int(st.Produced) })
	marks := map[string]int{}
	switched := false
	for _, s := range got.snapshot() {
		if s.GetInterface() == nil {
			continue
		}
		marks[s.Collector]++
		if s.Collector == "v2" {
			switched = true
		} else if switched {
			t.Fatalf("a v1 sample after a v2 one (seq %d)", s.Seq)
		}
	}
	if marks["v1"] == 0 || marks["v2"] == 0 || uint64(marks["v1"]+marks["v2"]) != n {
		t.Errorf("marks %v: want both versions, %d in all", marks, n)
	}
	if m := c.WasmStats()[0]; m.Reloads[wasm.ReloadOK] != 1 {
		t.Errorf("reloads %v", m.Reloads)
	}
}
