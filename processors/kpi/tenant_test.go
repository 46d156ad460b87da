package kpi

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func twoTenants(t testing.TB) *tenant.Resolver {
	t.Helper()
	c := tenant.DefaultConfiguration()
	c.Tenants = []tenant.Tenant{{ID: "acme", Sites: []string{"s1"}}, {ID: "globex", Sites: []string{"s2"}}}
	r, err := tenant.NewResolver(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tenantRates are the in-octet rates (bytes/s) of one interface named the
// same in three tenants (a sample without a tenant is the default's).
var tenantRates = map[string]uint64{"acme": 1e6, "globex": 2e6, "": 3e6, "default": 3e6}

// feedTenants feeds 35 s of one interface (s1/d1/e1), of a device's state
// and of a probe towards s2/d9, in each tenant: the same names
// everywhere, and samples without a tenant next to ones of "default".
func feedTenants(e *Engine) {
	for r := int64(0); r < 35; r++ {
		ts := t0 + r*sec
		now := time.Unix(0, ts+50*int64(time.Millisecond))
		for _, tn := range []string{"acme", "globex", "", "default"} {
			if tn == "default" && r%2 == 0 || tn == "" && r%2 == 1 {
				continue // the default tenant's samples alternate "" and "default"
			}
			s := ifSample("d1", "e1", ts, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(r) * tenantRates[tn]})
			s.Tenant = tn
			e.Add(s, now)
			d := devSample("d1", ts, wirepb.DeviceState_DEVICE_UP, "")
			d.Tenant = tn
			e.Add(d, now)
			p := probe(ts, 1000, 10, 0, uint64(r)*10, uint64(r)*10)
			p.Tenant = tn
			e.Add(p, now)
		}
	}
}

// TestTenantSeriesAndIDs: series of tenants never mix, whatever their
// names; every KPI carries its samples' tenant; the default tenant's KPIs
// keep the ids they had before tenants existed (so a replay on an existing
// installation still de-duplicates), the other tenants' ids differ.
func TestTenantSeriesAndIDs(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	e.tenants = twoTenants(t)
	feedTenants(e)
	out := e.Collect(time.Unix(0, t0+35*sec), nil)
	type key struct{ tenant, kind string }
	seen := map[key]int{}
	ids := map[string]string{}
	for _, k := range out {
		kind := kindNames[kindOf(k)]
		seen[key{k.Tenant, kind}]++
		switch kind {
		case "pipeline":
			if k.Tenant != "default" {
				t.Errorf("pipeline KPI of tenant %q, want the default tenant", k.Tenant)
			}
			continue
		case "interface":
			near(t, k.Tenant+" util_in", k.GetInterface().UtilIn, float64(tenantRates[k.Tenant])*8/1e9, 1e-9)
		}
		var want string
		switch kind {
		case "interface":
			want = tenantKPIID(k.Tenant, kind, "s1", "d1", "e1", "", k.WindowStartUnixNano)
		case "link":
			want = tenantKPIID(k.Tenant, kind, "s1", "d1", "s2", "d9", k.WindowStartUnixNano)
		case "device":
			want = tenantKPIID(k.Tenant, kind, "s1", "d1", "", "", k.WindowStartUnixNano)
		}
		if k.Tenant == "default" {
			want = kpiID(kind, "s1", "d1", "", "", k.WindowStartUnixNano)
			switch kind {
			case "interface":
				want = kpiID(kind, "s1", "d1", "e1", "", k.WindowStartUnixNano)
			case "link":
				want = kpiID(kind, "s1", "d1", "s2", "d9", k.WindowStartUnixNano)
			}
		}
		if k.Id != want {
			t.Errorf("%s %s KPI of window %d: id %s, want %s", k.Tenant, kind, k.WindowStartUnixNano, k.Id, want)
		}
		if other, dup := ids[k.Id]; dup {
			t.Errorf("id %s given to %s and %s", k.Id, other, k.Tenant)
		}
		ids[k.Id] = k.Tenant
	}
	for _, tn := range []string{"acme", "globex", "default"} {
		for _, kind := range []string{"interface", "link", "device"} {
			if seen[key{tn, kind}] == 0 {
				t.Errorf("no %s KPI of %s: %v", kind, tn, seen)
			}
		}
	}
	if seen[key{"", "interface"}] != 0 || len(seen) != 10 {
		t.Errorf("KPIs by tenant and kind: %v", seen)
	}
	// The default tenant's samples, with and without a tenant, are one
	// series: as many windows as the others.
	if seen[key{"default", "interface"}] != seen[key{"acme", "interface"}] {
		t.Errorf("default tenant split in two series: %v", seen)
	}

	// Without a tenant declared, the same samples make KPIs without a
	// tenant, with the ids of before: a single-tenant installation is
	// unchanged.
	single := NewEngine(testConfig(), "test")
	for r := int64(0); r < 25; r++ {
		s := ifSample("d1", "e1", t0+r*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(r) * 1e6})
		single.Add(s, time.Unix(0, t0+r*sec))
	}
	for _, k := range single.Collect(time.Unix(0, t0+25*sec), nil) {
		if k.Tenant != "" {
			t.Errorf("single-tenant KPI with tenant %q", k.Tenant)
		}
		if k.GetInterface() != nil && k.Id != kpiID("interface", "s1", "d1", "e1", "", k.WindowStartUnixNano) {
			t.Errorf("single-tenant id %s changed", k.Id)
		}
	}
}

// TestTenantProcessorKafka: through Kafka (kfake), KPI records carry their
// tenant in the record and in the header; a sample whose tenant is not a
// tenant id is dead-lettered, counted with the undecodable ones; a dead
// letter carries the tenant its source's header names when valid.
func TestTenantProcessorKafka(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	cl := producer(t, kc)
	var recs []*kgo.Record
	for r := int64(0); r < 25; r++ {
		for i, tn := range []string{"acme", "globex"} {
			s := ifSample("d"+strconv.Itoa(i), "e1", t0+r*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(r) * 1e6})
			s.Site, s.Tenant = "s"+strconv.Itoa(i+1), tn
			rec := sampleRecord(t, s)
			rec.Headers = wire.TenantHeaders(wire.SchemaSample, tn)
			recs = append(recs, rec)
		}
	}
	bad := ifSample("d9", "e1", t0, 1e9, cv{})
	bad.Tenant = "ACME"
	badRec := sampleRecord(t, bad)
	badRec.Headers = wire.TenantHeaders(wire.SchemaSample, "ACME")
	junk := &kgo.Record{Key: []byte("junk"), Value: []byte{0xff, 0x01}, Headers: wire.TenantHeaders(wire.SchemaSample, "globex")}
	recs = append(recs, badRec, junk)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.Instance = "one"
	cfg.GroupID = "g-" + kc.Topics.Samples
	p, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc, KafkaOpts: kafkatest.FastGroup(), Tenants: twoTenants(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	opts, _ := kc.Opts()
	rd, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.KPIs, kc.Topics.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	byTenant := map[string]int{}
	dls := map[string]string{} // dead letter key → tenant
	deadline := time.Now().Add(20 * time.Second)
	for byTenant["acme"] < 2 || byTenant["globex"] < 2 || len(dls) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: interface KPIs by tenant %v, dead letters %v", byTenant, dls)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := rd.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			h, _ := wire.TenantOf(r)
			if r.Topic == kc.Topics.DeadLetter {
				var dl wirepb.DeadLetter
				if err := wire.DecodeDeadLetter(r.Value, &dl); err != nil {
					t.Fatal(err)
				}
				if string(h) != dl.Tenant {
					t.Errorf("dead letter of tenant %q with header %q", dl.Tenant, h)
				}
				dls[string(dl.Key)] = dl.Tenant
				return
			}
			var k wirepb.KPI
			if err := wire.DecodeKPI(r.Value, &k); err != nil {
				t.Fatal(err)
			}
			if string(h) != k.Tenant || k.Tenant == "" {
				t.Errorf("KPI of tenant %q with header %q", k.Tenant, h)
			}
			if want := map[string]string{"s1": "acme", "s2": "globex", "pipeline": "default"}[k.Site]; k.Site != "" && k.Tenant != want {
				t.Errorf("KPI of %s: tenant %q, want %q", k.Site, k.Tenant, want)
			}
			if k.GetInterface() != nil {
				byTenant[k.Tenant]++
			}
		})
	}
	if dls["junk"] != "globex" || dls["d9/e1"] != "" || len(dls) != 2 {
		t.Fatalf("dead letters by key: tenant %v", dls)
	}
	if st := p.Stats(); st.DeadLetters != 2 || st.Drops["decode"] != 2 {
		t.Fatalf("stats: %d dead letters, %d decode drops", st.DeadLetters, st.Drops["decode"])
	}
}
