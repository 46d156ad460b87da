package remediation

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// twoTenants declares acme (site par) and globex (site fra).
func twoTenants(t testing.TB) *tenant.Resolver {
	t.Helper()
	c := tenant.DefaultConfiguration()
	c.Tenants = []tenant.Tenant{{ID: "acme", Sites: []string{"par"}}, {ID: "globex", Sites: []string{"fra"}}}
	r, err := tenant.NewResolver(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tenantRule is lossRule for tenant tn ("" : a provider rule) on kpi.
func tenantRule(name, tn, kpi string, threshold float64, webhookName string) Rule {
	r := lossRule(webhookName)
	r.Name, r.Tenant, r.KPI = name, tn, kpi
	r.Threshold = &rules.Threshold{Op: ">", Value: threshold}
	r.ClearThreshold = nil
	r.Action.Template = `{"tenant": "{{.Tenant}}", "link": "{{.Site}}>{{.DstSite}}"}`
	return r
}

// TestTenantRemediationIsolation: two tenants, a fault in each (a loss
// breach on a link of each tenant's site), each tenant with its rule and
// its own webhook "noc" (a real HTTP receiver with a secret of its own),
// and a provider rule on the round-trip time naming "noc" too. Each
// receiver gets exactly its own tenant's events — its tenant rule's and
// the provider rule's, firing and resolved — signed with its own secret
// (the receiver verifies: nothing rejected); a tenant rule does not see
// the other tenant's KPIs; the default tenant, which has no "noc", gets its
// provider-rule event on the topic only; an event naming another tenant's
// webhook (forged on the topic) is dead-lettered, not delivered. Every
// event carries its tenant in the record and the header.
func TestTenantRemediationIsolation(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	recvA, secretA := startReceiver(t)
	recvB, secretB := startReceiver(t)
	if secretA == secretB {
		t.Fatal("the receivers share a secret")
	}
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{
		{Name: "noc", Tenant: "acme", URL: recvA.URL(), Secret: secretA},
		{Name: "noc", Tenant: "globex", URL: recvB.URL(), Secret: secretB},
		{Name: "pager", Tenant: "acme", URL: recvA.URL(), Secret: secretA},
	}
	cfg.Rules = []Rule{
		tenantRule("acme-loss", "acme", "link.loss_ratio", 0.01, "noc"),
		tenantRule("globex-loss", "globex", "link.loss_ratio", 0.01, "noc"),
		tenantRule("slow-links", "", "link.rtt_ms", 100, "noc"),
	}
	reg := prometheus.NewRegistry()
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: reg, Kafka: k, Tenants: twoTenants(t)})
	if err != nil {
		t.Fatal(err)
	}
	registries.Store(r, reg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	type link struct{ tenant, src, dst string }
	links := []link{{"acme", "par", "lon"}, {"globex", "fra", "lon"}, {"", "lon", "ams"}}
	for i := 0; i < 40; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		for _, l := range links {
			kp := linkKPI(ws, ws.Add(10*time.Second), l.src, l.dst, 0)
			kp.Tenant = l.tenant
			switch {
			case l.tenant == "acme" && i >= 5 && i < 12, l.tenant == "globex" && i >= 7 && i < 15, l.tenant == "" && i >= 5 && i < 15:
				kp.GetLink().LossRatio = 0.08 // a loss breach on each tenant's link
			}
			if i >= 20 && i < 28 {
				kp.GetLink().RttMs = 250 // every link slow: the provider rule
			}
			v, err := wire.Marshal(nil, kp)
			if err != nil {
				t.Fatal(err)
			}
			rec := &kgo.Record{Topic: k.Topics.KPIs, Key: []byte(kpiKey(kp)), Value: v, Headers: wire.TenantHeaders(wire.SchemaKPI, kp.Tenant)}
			if err := prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A forged event: globex's, naming a webhook only acme has.
	forged := &wirepb.RemediationEvent{EventId: "forged-" + suffix(), Tenant: "globex", Rule: "globex-loss",
		State: wirepb.EventState_FIRING, Severity: wirepb.Severity_CRITICAL, Site: "fra", Device: "fra-leaf1",
		Kpi: "link.loss_ratio", Value: 0.5, TimeUnixNano: time.Now().UnixNano(), Action: "pager"}
	fv, _ := wire.Marshal(nil, forged)
	if err := prod.ProduceSync(context.Background(), &kgo.Record{Topic: k.Topics.Remediations, Key: []byte(forged.EventId),
		Value: fv, Headers: wire.TenantHeaders(wire.SchemaRemediation, "globex")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rc := range []*Receiver{recvA, recvB} {
		if err := rc.WaitFor(ctx, 4); err != nil {
			t.Fatal(err, r.Stats())
		}
	}
	testenv.Eventually(t, 10*time.Second, "the 120 KPIs evaluated and the forged event dead-lettered", func() bool {
		st := r.Stats()
		return st.KPIs >= 120 && st.DeadLettersBy[dispatcherComponent+"/"+reasonUnknownWebhook] == 1
	})
	time.Sleep(500 * time.Millisecond) // anything more would arrive now

	for _, tc := range []struct {
		recv   *Receiver
		tenant string
		site   string
	}{{recvA, "acme", "par"}, {recvB, "globex", "fra"}} {
		ds := tc.recv.Deliveries()
		var got []string
		for _, d := range ds {
			got = append(got, d.Rule+"/"+d.State)
			if d.Tenant != tc.tenant || !strings.Contains(string(d.Body), `"site":"`+tc.site+`"`) ||
				!strings.Contains(string(d.Body), `"payload":{"tenant":"`+tc.tenant+`"`) ||
				!strings.Contains(string(d.Body), `"tenant":"`+tc.tenant+`","data"`) {
				t.Errorf("%s's receiver got %s", tc.tenant, d.Body)
			}
		}
		slices.Sort(got)
		want := []string{tc.tenant + "-loss/firing", tc.tenant + "-loss/resolved", "slow-links/firing", "slow-links/resolved"}
		if !slices.Equal(got, want) {
			t.Errorf("%s's receiver: deliveries %v, want %v", tc.tenant, got, want)
		}
		if c := tc.recv.Counts(); c.Rejected != 0 || c.Accepted != 4 {
			t.Errorf("%s's receiver (its own secret): %+v", tc.tenant, c)
		}
	}

	// On the topic: every transition carries its tenant, in the record and
	// the header. The default tenant's loss fired no tenant rule, and its
	// provider-rule event names no webhook (it has no "noc", nor does the
	// provider).
	recs := readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool {
		return countState(transitions(t, rs), wirepb.EventState_ACKNOWLEDGED) >= 4
	})
	firing := map[string]string{} // rule/tenant → action
	for i, ev := range transitions(t, recs) {
		h, ok := wire.TenantOf(recs[i])
		if ev.Tenant == "" || !ok || string(h) != ev.Tenant {
			t.Errorf("event %s of tenant %q, header %q", ev.EventId, ev.Tenant, h)
		}
		if ev.State == wirepb.EventState_FIRING && !strings.HasPrefix(ev.EventId, "forged-") {
			firing[ev.Rule+"/"+ev.Tenant] = ev.Action
		}
	}
	wantFiring := map[string]string{"acme-loss/acme": "noc", "globex-loss/globex": "noc",
		"slow-links/acme": "noc", "slow-links/globex": "noc", "slow-links/default": ""}
	if len(firing) != len(wantFiring) {
		t.Errorf("firing events %v, want %v", firing, wantFiring)
	}
	for k, v := range wantFiring {
		if a, ok := firing[k]; !ok || a != v {
			t.Errorf("firing %s: action %q (%v), want %q", k, a, ok, v)
		}
	}
	dls := readAll(t, k, k.Topics.DeadLetter, 10*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= 1 })
	var dl wirepb.DeadLetter
	if len(dls) != 1 || wire.DecodeDeadLetter(dls[0].Value, &dl) != nil || dl.Tenant != "globex" || string(dl.Key) != forged.EventId {
		t.Errorf("dead letters %v: %+v", dls, &dl)
	}
	checkStats(t, r)
	// The webhook label of the metrics is the webhook's key: tenant/name.
	got := testenv.Series(t, reg, "telemetry_remediation_webhook_deliveries_total", "webhook")
	for _, key := range []string{"acme/noc", "globex/noc", "acme/pager"} {
		if _, ok := got[key]; !ok {
			t.Errorf("no deliveries series of webhook %s: %v", key, got)
		}
	}
}

// TestTenantRulesAndWebhooksValidated: a tenant rule names only its
// tenant's webhooks or the provider's; a webhook's name is unique within
// its tenant; rules and webhooks name declared tenants only. Errors name
// the rule or the webhook and the key.
func TestTenantRulesAndWebhooksValidated(t *testing.T) {
	hook := func(name, tn string) Webhook { return Webhook{Name: name, Tenant: tn, URL: "http://127.0.0.1:1/"} }
	res := twoTenants(t)
	for _, tc := range []struct {
		webhooks []Webhook
		rules    []Rule
		err      string
	}{
		{[]Webhook{hook("noc", "acme"), hook("noc", "globex"), hook("ops", "")},
			[]Rule{tenantRule("a", "acme", "link.loss_ratio", 0.1, "noc"), tenantRule("b", "acme", "link.loss_ratio", 0.1, "ops"),
				tenantRule("p", "", "link.loss_ratio", 0.1, "noc")}, ""},
		{[]Webhook{hook("noc", "globex")}, []Rule{tenantRule("a", "acme", "link.loss_ratio", 0.1, "noc")},
			`rules: rule "a": action.webhook: no webhook named "noc" of tenant "acme" or of the provider`},
		{[]Webhook{hook("noc", "acme"), hook("noc", "acme")}, nil, `webhooks[acme/noc].name: duplicate webhook name for tenant "acme"`},
		{[]Webhook{hook("noc", "Acme")}, nil, `webhooks[Acme/noc].tenant: "Acme" is not a tenant id`},
		{[]Webhook{hook("noc", "initech")}, nil, `webhooks[initech/noc].tenant: "initech" is not a declared tenant`},
		{nil, []Rule{tenantRule("a", "initech", "link.loss_ratio", 0.1, "")}, `rules: rule "a": tenant: "initech" is not a declared tenant`},
		{nil, []Rule{tenantRule("a", "ACME", "link.loss_ratio", 0.1, "")}, `rules: rule "a": tenant: "ACME" is not a tenant id`},
		{[]Webhook{hook("noc", "acme")}, []Rule{tenantRule("p", "", "link.loss_ratio", 0.1, "pager")}, `rules: rule "p": action.webhook: no webhook named "pager"`},
	} {
		cfg := DefaultConfiguration()
		cfg.Webhooks, cfg.Rules = tc.webhooks, tc.rules
		k, _ := kafkatest.Fake(t, 1)
		_, err := New(cfg, Dependencies{Kafka: k, Tenants: res})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("got %v, want %q", err, tc.err)
		}
	}
}

// TestTenantRuleSeesItsKPIsOnly: the rules engine alone: a tenant rule
// sees its tenant's KPIs only (a KPI without a tenant is the default
// tenant's), a provider rule every tenant's, each event carrying its KPI's
// tenant; two tenants' entities of the same name keep states and event ids
// of their own, and the default tenant's event ids are those of before.
func TestTenantRuleSeesItsKPIsOnly(t *testing.T) {
	rs := []Rule{tenantRule("acme-loss", "acme", "link.loss_ratio", 0.01, ""), tenantRule("default-loss", "default", "link.loss_ratio", 0.01, ""),
		tenantRule("any-loss", "", "link.loss_ratio", 0.01, "")}
	for i := range rs {
		rs[i].For = 0
	}
	if err := rules.Prepare(rs); err != nil {
		t.Fatal(err)
	}
	en, err := rules.NewEngine(rs)
	if err != nil {
		t.Fatal(err)
	}
	en.SetTenants(twoTenants(t))
	t0 := time.Now().Truncate(10 * time.Second)
	var out []*wirepb.RemediationEvent
	for _, tn := range []string{"acme", "globex", ""} {
		kp := linkKPI(t0, t0.Add(10*time.Second), "par", "lon", 0.5) // the same entity in each tenant
		kp.Tenant = tn
		out = en.Observe(kp, out)
	}
	got := map[string]string{}
	for _, ev := range out {
		got[ev.Rule+"/"+ev.Tenant] = ev.EventId
	}
	want := []string{"acme-loss/acme", "any-loss/acme", "any-loss/globex", "any-loss/default", "default-loss/default"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, w := range want {
		if got[w] == "" {
			t.Errorf("no event %s: %v", w, got)
		}
	}
	entity := "par/par-leaf1>lon/lon-leaf1"
	we := t0.Add(10 * time.Second).UnixNano()
	if got["any-loss/default"] != rules.EventID("any-loss", entity, we) {
		t.Error("the default tenant's event id changed")
	}
	if got["any-loss/acme"] == got["any-loss/globex"] || got["any-loss/acme"] == got["any-loss/default"] {
		t.Errorf("two tenants' events share an id: %v", got)
	}
}

// TestTenantRulesFileReload: the rules file may hold tenant rules; a
// version naming an undeclared tenant is refused like any bad version,
// the rules in force kept.
func TestTenantRulesFileReload(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	file := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - {name: loss, tenant: acme, kpi: link.loss_ratio, threshold: {op: '>', value: 0.01}, action: {webhook: noc}}\n")
	cfg := DefaultConfiguration()
	cfg.RulesFile = file
	cfg.Webhooks = []Webhook{{Name: "noc", Tenant: "acme", URL: "http://127.0.0.1:1/"}}
	r, err := New(cfg, Dependencies{Kafka: k, Tenants: twoTenants(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rs := r.rules.Load().rules; len(rs) != 1 || rs[0].Tenant != "acme" {
		t.Fatalf("rules %v", rs)
	}
	for content, want := range map[string]string{
		"rules:\n  - {name: loss, tenant: initech, kpi: link.loss_ratio, threshold: {op: '>', value: 0.01}}\n":                        `rule "loss": tenant: "initech" is not a declared tenant`,
		"rules:\n  - {name: loss, tenant: globex, kpi: link.loss_ratio, threshold: {op: '>', value: 0.01}, action: {webhook: noc}}\n": `no webhook named "noc" of tenant "globex"`,
	} {
		write(content)
		if err := r.loadRules(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
		if rs := r.rules.Load().rules; len(rs) != 1 || rs[0].Tenant != "acme" {
			t.Fatalf("the rules in force changed: %v", rs)
		}
	}
}

// TestTenantInvalidIDsDeadLettered: a KPI or an event whose tenant is not
// a tenant id is dead-lettered (decode) by the engine or the dispatcher,
// as an undecodable record: it fires nothing and is delivered nowhere.
func TestTenantInvalidIDsDeadLettered(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	recv, secret := startReceiver(t)
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{{Name: "noc", URL: recv.URL(), Secret: secret}}
	r := tenantRule("loss", "", "link.loss_ratio", 0.01, "noc")
	r.For = 0
	cfg.Rules = []Rule{r}
	rem := startRemediator(t, cfg, k)
	prod := client(t, k)
	t0 := time.Now().Add(-time.Minute).Truncate(10 * time.Second)
	kp := linkKPI(t0, t0.Add(10*time.Second), "par", "lon", 0.5)
	kp.Tenant = "ACME; DROP"
	produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	ev := &wirepb.RemediationEvent{EventId: "evt-" + suffix(), Tenant: "a b", Rule: "loss", State: wirepb.EventState_FIRING,
		Site: "par", Device: "par-leaf1", Kpi: "link.loss_ratio", TimeUnixNano: time.Now().UnixNano(), Action: "noc"}
	produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	testenv.Eventually(t, 10*time.Second, "both dead-lettered", func() bool {
		st := rem.Stats()
		return st.DeadLettersBy[engineComponent+"/"+reasonDecode] == 1 && st.DeadLettersBy[dispatcherComponent+"/"+reasonDecode] == 1
	})
	if st := rem.Stats(); st.Firing != 0 || st.Attempts != 0 || recv.Counts().Requests != 0 {
		t.Fatalf("stats %+v, receiver %+v", st, recv.Counts())
	}
	checkStats(t, rem)
}
