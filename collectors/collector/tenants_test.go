package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// tenantRecord is a sample read back from Kafka with its tenant header.
type tenantRecord struct {
	s      *wirepb.Sample
	header string
	has    bool
}

// consumeTenants reads the samples topic from the start, keeping each
// sample's tenant header, until the test ends.
func consumeTenants(t *testing.T, kc *kafka.Configuration) func() []tenantRecord {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.Samples),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []tenantRecord
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				s := &wirepb.Sample{}
				if err := wire.DecodeSample(r.Value, s); err != nil {
					t.Errorf("undecodable sample: %v", err)
					return
				}
				h, ok := wire.TenantOf(r)
				mu.Lock()
				got = append(got, tenantRecord{s: s, header: string(h), has: ok})
				mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return func() []tenantRecord {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func resolver(t testing.TB, tenants ...tenant.Tenant) *tenant.Resolver {
	t.Helper()
	c := tenant.DefaultConfiguration()
	c.Tenants = tenants
	r, err := tenant.NewResolver(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTenantFairShareSimulator: two tenants on one collector, each owning
// a site of the simulated fabric (a real gNMI server) and producing to
// Kafka (kfake). acme is noisy and limited to 20 samples/s: what it gets
// through stays within its token bucket, the rest is dropped and counted
// (per tenant and as tenant_rate). globex, unlimited, is unaffected: no
// drop, every interface at the rate the fabric sends. Every record carries
// its tenant in the sample and in the header; inventory is never limited.
func TestTenantFairShareSimulator(t *testing.T) {
	const limit = 20
	sim := simtest.Start(t, 2, 2, 6) // site1, site2; 12 interfaces each at 10/s
	kc, _ := kafkatest.Fake(t, 4)
	read := consumeTenants(t, kc)
	cfg := testConfig("c1")
	cfg.Targets = simTargets(sim)
	reg := prometheus.NewRegistry()
	res := resolver(t,
		tenant.Tenant{ID: "acme", Sites: []string{"site1"}, MaxSamplesPerSecond: limit},
		tenant.Tenant{ID: "globex", Sites: []string{"site2"}})
	c, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc, Tenants: res})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	owner := map[string]string{"site1": "acme", "site2": "globex"}
	globexIfs := 0
	for _, tg := range sim.Targets() {
		if strings.HasPrefix(tg.Name, "site2-") {
			globexIfs += len(tg.Interfaces)
		}
	}
	testenv.Eventually(t, 10*time.Second, "samples of both tenants", func() bool {
		n := map[string]int{}
		for _, r := range read() {
			if r.s.GetInterface() != nil {
				n[r.s.Tenant]++
			}
		}
		return n["acme"] > 0 && n["globex"] > globexIfs*3
	})
	for _, ts := range c.Targets() {
		if ts.Tenant != owner[ts.Site] {
			t.Errorf("target %s at %s: tenant %q", ts.Name, ts.Site, ts.Tenant)
		}
	}

	// A window of 3 s of the collector's receive time.
	const window = 3 * time.Second
	from := time.Now()
	to := from.Add(window)
	time.Sleep(window + time.Second) // and the records of the window in Kafka
	perTenant := map[string]int{}
	inventory := map[string]int{}
	for _, r := range read() {
		s := r.s
		if want := owner[s.Site]; s.Tenant != want || !r.has || r.header != want {
			t.Fatalf("%s at %s: tenant %q, header %q (%v); want %q", s.Device, s.Site, s.Tenant, r.header, r.has, want)
		}
		if s.GetDeviceState() != nil {
			inventory[s.Tenant]++
			continue
		}
		if rt := time.Unix(0, s.ReceiveTimeUnixNano); !rt.Before(from) && rt.Before(to) {
			perTenant[s.Tenant]++
		}
	}
	t.Logf("samples in %s: %v (acme limited to %d/s); inventory %v", window, perTenant, limit, inventory)
	// acme: at most the bucket's second of burst, the window's tokens, and
	// the overdraw of one notification.
	if most := limit + limit*int(window/time.Second) + 20; perTenant["acme"] > most {
		t.Errorf("acme: %d samples in %s through a limit of %d/s (at most %d)", perTenant["acme"], window, limit, most)
	}
	// globex: every interface at 10/s (the fabric's rate), half of it at
	// least on a loaded machine, which is several times what acme got.
	if least := globexIfs * 10 * int(window/time.Second) / 2; perTenant["globex"] < least {
		t.Errorf("globex: %d samples in %s, want at least %d", perTenant["globex"], window, least)
	}
	if inventory["acme"] == 0 || inventory["globex"] == 0 {
		t.Errorf("inventory records by tenant %v: the limit must not hold them back", inventory)
	}

	st := c.TenantStats()
	if st["globex"].RateDropped != 0 || st["acme"].RateDropped == 0 {
		t.Fatalf("rate drops by tenant: %+v", st)
	}
	if st["acme"].Targets != 2 || st["globex"].Targets != 2 || st["default"].Targets != 0 {
		t.Fatalf("targets by tenant: %+v", st)
	}
	dropped := testenv.Series(t, reg, "telemetry_collector_tenant_samples_dropped_total", "tenant")
	if len(dropped) != 3 || dropped["default"] != 0 || dropped["globex"] != 0 || dropped["acme"] == 0 {
		t.Fatalf("tenant_samples_dropped_total %v", dropped)
	}
	total := c.Stats().Dropped["tenant_rate"]
	if total < uint64(dropped["acme"]) || total < st["acme"].RateDropped {
		t.Fatalf("samples_dropped_total{reason=tenant_rate} %d, tenant series %v, stats %d", total, dropped["acme"], st["acme"].RateDropped)
	}
	// The tenant label takes the declared tenants and the default one only.
	for _, name := range []string{"telemetry_collector_tenant_samples_total", "telemetry_collector_tenant_targets",
		"telemetry_collector_tenant_targets_over_limit"} {
		got := testenv.Series(t, reg, name, "tenant")
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, res.IDs()) {
			t.Errorf("%s tenants %v, want %v", name, ids, res.IDs())
		}
	}
}

// TestTenantMaxTargets: a tenant's targets beyond its max-targets are not
// started, the first ones by name kept, by every member alike (two
// instances sharing the targets collect exactly the allowed ones between
// them); the others are counted and logged once.
func TestTenantMaxTargets(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	res := resolver(t, tenant.Tenant{ID: "acme", Sites: []string{"par"}, MaxTargets: 3},
		tenant.Tenant{ID: "globex", Sites: []string{"fra"}})
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.yaml")
	var targets []TargetConfig
	for _, n := range []string{"par-e", "par-a", "par-d", "par-c", "par-b", "fra-a", "fra-b"} {
		targets = append(targets, TargetConfig{Name: n, Address: "127.0.0.1:1"})
	}
	writeTargets(t, file, nil, targets)
	var logs testenv.Logs
	var cs []*Collector
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	for i, inst := range []string{"c1", "c2"} {
		cfg := testConfig(inst)
		cfg.Members = []string{"c1", "c2"}
		cfg.TargetsFile = file
		c, err := New(cfg, Dependencies{Registerer: regs[i], Kafka: kc, Tenants: res, Logger: logs.JSONLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		cs = append(cs, c)
	}
	collected := func() []string {
		var out []string
		for _, c := range cs {
			for _, ts := range c.Targets() {
				out = append(out, ts.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	want := []string{"fra-a", "fra-b", "par-a", "par-b", "par-c"}
	if got := collected(); !slices.Equal(got, want) {
		t.Fatalf("collected %v, want %v", got, want)
	}
	for i, c := range cs {
		if st := c.TenantStats(); st["acme"].OverLimit != 2 || st["globex"].OverLimit != 0 {
			t.Fatalf("c%d: %+v", i+1, st)
		}
		if got := testenv.Series(t, regs[i], "telemetry_collector_tenant_targets_over_limit", "tenant"); got["acme"] != 2 || got["globex"] != 0 {
			t.Fatalf("c%d: tenant_targets_over_limit %v", i+1, got)
		}
	}
	// A target added before the others by name takes a place: par-c goes
	// over. The file changes, the collectors reconcile: what stays over is
	// not logged again.
	writeTargets(t, file, nil, append(targets, TargetConfig{Name: "par-0", Address: "127.0.0.1:1"}))
	want = []string{"fra-a", "fra-b", "par-0", "par-a", "par-b"}
	testenv.Eventually(t, 10*time.Second, "the new target in, par-c out", func() bool {
		return slices.Equal(collected(), want)
	})
	for _, c := range cs {
		c.reconcile()
	}
	lines := strings.Count(logs.String(), "over their tenant's max-targets")
	// each instance: once at start (par-d, par-e), once for par-c
	if lines != 4 {
		t.Fatalf("%d over-limit log lines, want 4:\n%s", lines, logs.String())
	}
	for _, n := range []string{"par-c", "par-d", "par-e"} {
		if !strings.Contains(logs.String(), `"`+n+`"`) {
			t.Errorf("%s not logged", n)
		}
	}
}

// TestTenantKeyOfTargets: a target's tenant key must name a known tenant
// and agree with the tenancy section, in the configuration (refused,
// naming the key) and in the targets file (the version refused, the
// targets in force kept); it places a target of an unowned site.
func TestTenantKeyOfTargets(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	res := resolver(t, tenant.Tenant{ID: "acme", Sites: []string{"par"}}, tenant.Tenant{ID: "globex", Targets: []string{"lon-sw9"}})
	for _, tc := range []struct {
		tenant, name, err string
	}{
		{"globex", "par-sw1", `collect: targets[0].tenant: "globex", but site "par" belongs to tenant "acme"`},
		{"acme", "lon-sw9", `collect: targets[0].tenant: "acme", but tenancy.tenants[globex].targets lists "lon-sw9"`},
		{"initech", "lon-sw1", `collect: targets[0].tenant: "initech" is not a declared tenant`},
		{"Acme", "lon-sw1", `collect: targets[0].tenant: "Acme" is not a tenant id`},
	} {
		cfg := testConfig("c1")
		cfg.Targets = []TargetConfig{{Name: tc.name, Address: "127.0.0.1:1", Tenant: tc.tenant}}
		_, err := New(cfg, Dependencies{Kafka: kc, Tenants: res})
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("tenant %q of %s: %v, want %q", tc.tenant, tc.name, err, tc.err)
		}
	}
	cfg := testConfig("c1")
	cfg.TargetDefaults.Tenant = "acme"
	if _, err := New(cfg, Dependencies{Kafka: kc, Tenants: res}); err == nil || !strings.Contains(err.Error(), "target-defaults: name, address, site and tenant are per target") {
		t.Errorf("tenant in target-defaults: %v", err)
	}

	file := filepath.Join(t.TempDir(), "targets.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write("targets:\n  - {name: lon-sw1, address: '127.0.0.1:1', tenant: globex}\n  - {name: par-sw1, address: '127.0.0.1:1'}\n  - {name: lon-sw2, address: '127.0.0.1:1'}\n")
	cfg = testConfig("c1")
	cfg.TargetsFile = file
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Dependencies{Kafka: kc, Tenants: res, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	tenants := func() map[string]string {
		out := map[string]string{}
		for _, ts := range c.Targets() {
			out[ts.Name] = ts.Tenant
		}
		return out
	}
	if got := tenants(); got["lon-sw1"] != "globex" || got["par-sw1"] != "acme" || got["lon-sw2"] != "default" || len(got) != 3 {
		t.Fatalf("tenants %v", got)
	}
	write("targets:\n  - {name: par-sw1, address: '127.0.0.1:1', tenant: globex}\n")
	testenv.Eventually(t, 10*time.Second, "the conflicting targets file refused", func() bool {
		return testenv.Series(t, reg, "telemetry_collector_targets_file_reloads_total", "result")["error"] == 1
	})
	if got := tenants(); len(got) != 3 || got["par-sw1"] != "acme" {
		t.Fatalf("targets after a refused file: %v", got)
	}
	// Moving a target to another tenant restarts its session with it.
	write("targets:\n  - {name: lon-sw1, address: '127.0.0.1:1', tenant: acme}\n")
	testenv.Eventually(t, 10*time.Second, "lon-sw1 moved to acme", func() bool {
		got := tenants()
		return len(got) == 1 && got["lon-sw1"] == "acme"
	})
}

// TestTenantSingleTenantRecordsUnchanged: without a declared tenant the
// records carry no tenant and no tenant header, as before tenants
// existed; declaring only the default tenant (for its limits) keeps it so.
func TestTenantSingleTenantRecordsUnchanged(t *testing.T) {
	sim := simtest.Start(t, 1, 1, 1)
	for _, res := range []*tenant.Resolver{nil, resolver(t, tenant.Tenant{ID: "default", MaxSamplesPerSecond: 1e6})} {
		kc, _ := kafkatest.Fake(t, 2)
		read := consumeTenants(t, kc)
		cfg := testConfig("c1")
		cfg.Targets = simTargets(sim)
		c, err := New(cfg, Dependencies{Kafka: kc, Tenants: res, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "samples and inventory", func() bool {
			var ifs, inv bool
			for _, r := range read() {
				ifs = ifs || r.s.GetInterface() != nil
				inv = inv || r.s.GetDeviceState() != nil
			}
			return ifs && inv
		})
		_ = c.Stop()
		for _, r := range read() {
			if r.s.Tenant != "" || r.has {
				t.Fatalf("single-tenant record with tenant %q, header %v", r.s.Tenant, r.has)
			}
		}
		if c.Targets() != nil && len(c.Targets()) != 0 {
			t.Fatal("stopped collector lists targets")
		}
	}
}

// TestTenantRestamp: a sample a collect-hook module returns takes the
// tenant of its device again; a sample of a device the module made up
// keeps a known tenant, and gets the default one for an unknown one.
func TestTenantRestamp(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	res := resolver(t, tenant.Tenant{ID: "acme", Sites: []string{"par"}}, tenant.Tenant{ID: "globex", Sites: []string{"fra"}})
	cfg := testConfig("c1")
	cfg.Targets = []TargetConfig{{Name: "par-sw1", Address: "127.0.0.1:1"}}
	c, err := New(cfg, Dependencies{Kafka: kc, Tenants: res})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for _, tc := range []struct{ device, tenant, want string }{
		{"par-sw1", "globex", "acme"},
		{"par-sw1", "", "acme"},
		{"made-up", "globex", "globex"},
		{"made-up", "initech", "default"},
		{"made-up", "", "default"},
	} {
		s := &wirepb.Sample{Device: tc.device, Tenant: tc.tenant}
		c.restamp(s)
		if s.Tenant != tc.want {
			t.Errorf("%s of %q: restamped %q, want %q", tc.device, tc.tenant, s.Tenant, tc.want)
		}
	}
}

// BenchmarkEndToEndTenants is BenchmarkEndToEnd with two tenants
// declared, each owning half the targets (no limit): the cost of stamping
// every record and its header, and of the per-tenant counts.
func BenchmarkEndToEndTenants(b *testing.B) {
	const targets, ifaces = 8, 16
	per := b.N/targets + 1
	addr := serveFake(b, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		return floodPrepared(target, srv, ifaces, per)
	})
	kc, _ := kafkatest.Fake(b, 4)
	cfg := testConfig("bench")
	cfg.Subscriptions = cfg.Subscriptions[:1]
	cfg.Linger = 5 * time.Millisecond
	var acme, globex []string
	for i := 0; i < targets; i++ {
		cfg.Targets = append(cfg.Targets, TargetConfig{Name: fmt.Sprintf("site%d-sw1", i), Address: addr})
		if i%2 == 0 {
			acme = append(acme, fmt.Sprintf("site%d", i))
		} else {
			globex = append(globex, fmt.Sprintf("site%d", i))
		}
	}
	res := resolver(b, tenant.Tenant{ID: "acme", Sites: acme}, tenant.Tenant{ID: "globex", Sites: globex})
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	c, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc, Tenants: res})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	want := uint64(per * targets)
	for {
		st := c.Stats()
		if st.Produced >= want+st.Inventory {
			break
		}
		if totalDropped(st) > 0 {
			b.Fatalf("dropped: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	st := c.Stats()
	b.ReportMetric(float64(st.Updates)/el.Seconds(), "updates/s")
	b.ReportMetric(float64(st.Updates)/cpu.Seconds(), "updates/cpu-s")
	b.ReportMetric(float64(st.Samples)/el.Seconds(), "samples/s")
}
