package remediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// realKafka returns a kafka section for the real broker
// (TELEMETRY_TEST_KAFKA) with topics of its own, 4 partitions each,
// deleted when the test ends.
func realKafka(t testing.TB) *kafka.Configuration {
	t.Helper()
	k := kafka.DefaultConfiguration()
	k.Brokers = testenv.Kafka(t)
	s := suffix()
	k.Topics = kafka.Topics{Samples: "test.samples." + s, KPIs: "test.kpis." + s,
		Remediations: "test.remediations." + s, DeadLetter: "test.deadletter." + s}
	k.Partitions = 4
	opts, err := k.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.OwnTopics(t, &k, cl)
	return &k
}

func client(t testing.TB, k *kafka.Configuration, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base, err := k.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t testing.TB, cl *kgo.Client, topic, schema string, key string, m interface {
	GetVersion() uint32
}) {
	t.Helper()
	var b []byte
	var err error
	switch v := m.(type) {
	case *wirepb.KPI:
		b, err = wire.Marshal(nil, v)
	case *wirepb.RemediationEvent:
		b, err = wire.Marshal(nil, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Headers: wire.Headers(schema)}
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readAll consumes topic from the start until cond holds on what was read
// (or the deadline passes) and returns the records.
func readAll(t testing.TB, k *kafka.Configuration, topic string, timeout time.Duration, cond func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl := client(t, k, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for !cond(out) {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		out = append(out, f.Records()...)
	}
	return out
}

func transitions(t testing.TB, recs []*kgo.Record) []*wirepb.RemediationEvent {
	var out []*wirepb.RemediationEvent
	for _, r := range recs {
		var ev wirepb.RemediationEvent
		if err := wire.DecodeRemediation(r.Value, &ev); err != nil {
			t.Fatalf("decode remediation: %v", err)
		}
		if string(r.Key) != ev.EventId {
			t.Errorf("record key %q != event id %q", r.Key, ev.EventId)
		}
		if h, _ := wire.SchemaOf(r); string(h) != wire.SchemaRemediation {
			t.Errorf("schema header %q", h)
		}
		out = append(out, &ev)
	}
	return out
}

func countState(evs []*wirepb.RemediationEvent, st wirepb.EventState) int {
	n := 0
	for _, e := range evs {
		if e.State == st {
			n++
		}
	}
	return n
}

func startRemediator(t testing.TB, cfg Configuration, k *kafka.Configuration) *Remediator {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: reg, Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	registries.Store(r, reg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

func linkKPI(ws, we time.Time, src, dst string, loss float64) *wirepb.KPI {
	return &wirepb.KPI{Site: src, Device: src + "-leaf1", Id: src + ">" + dst + "@" + ws.String(),
		WindowStartUnixNano: ws.UnixNano(), WindowEndUnixNano: we.UnixNano(),
		Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{DstSite: dst, DstDevice: dst + "-leaf1", LossRatio: loss, RttMs: 20}}}
}

func kpiKey(k *wirepb.KPI) string { return rules.LabelsOf(k).Entity() }

func lossRule(webhookName string) Rule {
	clear := 0.005
	return Rule{Name: "link-loss", KPI: "link.loss_ratio", Threshold: &rules.Threshold{Op: ">", Value: 0.01},
		For: 20 * time.Second, ClearThreshold: &clear, ClearFor: 20 * time.Second, Severity: "critical",
		Action: rules.Action{Webhook: webhookName, Template: `{"link": "{{.Site}}>{{.DstSite}}", "loss": {{.Value}}}`}}
}

// Injected loss on one link of a running pipeline (kfake): exactly one
// event fires, is dispatched and acknowledged by the webhook, and resolves
// once the fault ends — every transition on the remediations topic, both
// deliveries at the receiver.
func TestEndToEndLossOnOneLink(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	recv, secret := startReceiver(t)
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: recv.URL(), Secret: secret}}
	cfg.Rules = []Rule{lossRule("gitops")}
	r := startRemediator(t, cfg, k)

	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	links := [][2]string{{"par", "lon"}, {"par", "fra"}, {"lon", "fra"}}
	for i := 0; i < 40; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		for j, l := range links {
			loss := 0.0
			if j == 2 && i >= 10 && i < 20 {
				loss = 0.08
			}
			kp := linkKPI(ws, ws.Add(10*time.Second), l[0], l[1], loss)
			produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := recv.WaitFor(ctx, 2); err != nil {
		t.Fatal(err, r.Stats())
	}
	recs := readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= 4 })
	evs := transitions(t, recs)
	ids := map[string]bool{}
	for _, e := range evs {
		ids[e.EventId] = true
	}
	if len(ids) != 1 || len(evs) != 4 {
		t.Fatalf("got %d transitions over %d events, want 4 over 1: %v", len(evs), len(ids), evs)
	}
	for _, st := range []wirepb.EventState{wirepb.EventState_FIRING, wirepb.EventState_DISPATCHED,
		wirepb.EventState_ACKNOWLEDGED, wirepb.EventState_RESOLVED} {
		if countState(evs, st) != 1 {
			t.Errorf("%s: %d transitions, want 1", st, countState(evs, st))
		}
	}
	ds := recv.Deliveries()
	if len(ds) != 2 || ds[0].State != "firing" || ds[1].State != "resolved" || ds[0].EventID != ds[1].EventID {
		t.Fatalf("deliveries: %+v", ds)
	}
	if !strings.Contains(string(ds[0].Body), `"payload":{"link":"lon>fra","loss":0.08}`) {
		t.Errorf("firing body: %s", ds[0].Body)
	}
	testenv.Eventually(t, 5*time.Second, "the 120 KPIs evaluated", func() bool { return r.Stats().KPIs >= 120 })
	st := r.Stats()
	if st.Firing != 1 || st.Resolved != 1 || st.Deliveries != 2 || st.Acknowledged != 1 || st.KPIs != 120 || st.Active != 0 {
		t.Errorf("stats %+v", st)
	}
	checkStats(t, r)
}

// The receiver is down (listener closed) when events arrive, and comes
// back on the same port: every event is delivered once it returns, with
// exactly one acknowledged delivery per event id.
func TestReceiverDownThenBack(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	secret := GenerateSecret()
	recv := NewReceiver(secret, testLogger(t))
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	addr, url := recv.Addr(), recv.URL()
	if err := recv.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.Engine = false
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: url, Secret: secret, MaxAttempts: 1000,
		RetryInitial: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, Timeout: time.Second}}
	r := startRemediator(t, cfg, k)
	prod := client(t, k)
	const n = 8
	now := time.Now()
	for i := 0; i < n; i++ {
		ev := &wirepb.RemediationEvent{EventId: "evt-" + suffix(), Rule: "link-loss", State: wirepb.EventState_FIRING,
			Severity: wirepb.Severity_CRITICAL, Site: "par", Device: "par-leaf1", DstSite: "lon", DstDevice: "lon-leaf1",
			Kpi: "link.loss_ratio", Value: 0.1, Threshold: 0.01, TimeUnixNano: now.UnixNano(),
			FiredUnixNano: now.UnixNano(), WindowEndUnixNano: now.UnixNano(), Action: "gitops"}
		produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	}
	// Down for a while: every event attempted, and retried, while attempts
	// fail with connection refused.
	testenv.Eventually(t, 10*time.Second, "two attempts per event while down", func() bool { return r.Stats().Attempts >= 2*n })
	if st := r.Stats(); st.Deliveries != 0 {
		t.Fatalf("while down: %+v", st)
	}
	if err := recv.Listen(addr); err != nil {
		t.Fatal(err)
	}
	defer recv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := recv.WaitFor(ctx, n); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool {
		return countState(transitions(t, rs), wirepb.EventState_ACKNOWLEDGED) >= n
	})
	evs := transitions(t, recs)
	acks := map[string]int{}
	for _, e := range evs {
		if e.State == wirepb.EventState_ACKNOWLEDGED {
			acks[e.EventId]++
		}
	}
	for _, d := range recv.Deliveries() {
		if recv.Received(d.WebhookID) != 1 || acks[d.EventID] != 1 {
			t.Errorf("event %s: received %d times, %d acknowledged transitions", d.EventID, recv.Received(d.WebhookID), acks[d.EventID])
		}
	}
	if len(acks) != n {
		t.Errorf("acknowledged %d events, want %d", len(acks), n)
	}
	testenv.Eventually(t, 5*time.Second, "the deliveries counted", func() bool { return r.Stats().Deliveries >= n })
	st := r.Stats()
	if st.Deliveries != n || st.DeadLetters != 0 || st.Retries == 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("stats after the outage: %+v", st)
	checkStats(t, r)
}

// A webhook answering 500 forever: after the last attempt the event goes
// to the dead-letter topic with the reason, a failed transition is
// recorded, and the offset is committed (handled). Real Kafka.
func TestDeadLetterAfterLastRetry(t *testing.T) {
	k := realKafka(t)
	var mu sync.Mutex
	hits := 0
	srvURL := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, "backend exploded", http.StatusInternalServerError)
	}))
	cfg := DefaultConfiguration()
	cfg.Engine = false
	cfg.DispatcherGroupID = "test-dispatch-" + suffix()
	cfg.Webhooks = []Webhook{{Name: "broken", URL: srvURL, MaxAttempts: 3, RetryInitial: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond}}
	r := startRemediator(t, cfg, k)
	t.Cleanup(func() { deleteGroups(t, k, cfg.DispatcherGroupID) })
	prod := client(t, k)
	now := time.Now().UnixNano()
	ev := &wirepb.RemediationEvent{EventId: "evt-dead-" + suffix(), Rule: "r", State: wirepb.EventState_FIRING,
		Severity: wirepb.Severity_WARNING, Site: "par", Device: "d", Interface: "Ethernet1", Kpi: "interface.loss_ratio",
		TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: "broken"}
	produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	dls := readAll(t, k, k.Topics.DeadLetter, 30*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= 1 })
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1 (stats %+v)", len(dls), r.Stats())
	}
	var dl wirepb.DeadLetter
	if err := wire.DecodeDeadLetter(dls[0].Value, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Component != "dispatcher" || !strings.Contains(dl.Reason, "3 attempt") || !strings.Contains(dl.Reason, "HTTP 500") ||
		dl.SourceTopic != k.Topics.Remediations || string(dl.Key) != ev.EventId || len(dl.Payload) == 0 {
		t.Fatalf("dead letter %+v", &dl)
	}
	t.Logf("dead letter reason: %s", dl.Reason)
	mu.Lock()
	if hits != 3 {
		t.Errorf("%d attempts, want 3", hits)
	}
	mu.Unlock()
	recs := readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool {
		return countState(transitions(t, rs), wirepb.EventState_FAILED) >= 1
	})
	evs := transitions(t, recs)
	if countState(evs, wirepb.EventState_FAILED) != 1 || countState(evs, wirepb.EventState_DISPATCHED) != 1 ||
		countState(evs, wirepb.EventState_ACKNOWLEDGED) != 0 {
		t.Errorf("transitions %v", evs)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	// Handled means committed: the group's committed offset is past the record.
	adm := kadm.NewClient(client(t, k))
	offs, err := adm.FetchOffsets(context.Background(), cfg.DispatcherGroupID)
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == k.Topics.Remediations {
			committed += o.At
		}
	})
	// The event record, plus our own dispatched and failed transitions.
	if committed < 1 {
		t.Errorf("committed offsets sum %d, want ≥ 1", committed)
	}
}

func deleteGroups(t testing.TB, k *kafka.Configuration, groups ...string) {
	adm := kadm.NewClient(client(t, k))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = adm.DeleteGroups(ctx, groups...)
}

func serveHTTP(t testing.TB, h http.Handler) string {
	srv := &http.Server{Handler: h}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}

// Rules-file reload: a changed file replaces the rules; a broken one is
// rejected with the rule and key named, and the rules in force stay.
func TestRulesFileReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - {name: a, kpi: link.rtt_ms, threshold: {op: '>', value: 100}}\n")
	cfg := DefaultConfiguration()
	cfg.RulesFile = file
	cfg.ReloadInterval = 20 * time.Millisecond
	r, err := New(cfg, Dependencies{Kafka: &kafka.Configuration{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.watchRules(ctx) }()
	defer func() { cancel(); <-done }()
	wait := func(what string, cond func(Stats) bool) {
		t.Helper()
		testenv.Eventually(t, 5*time.Second, what, func() bool { return cond(r.Stats()) })
	}
	if r.Stats().Rules != 1 {
		t.Fatalf("rules %d", r.Stats().Rules)
	}
	write("rules:\n  - {name: a, kpi: link.rtt_ms, threshold: {op: '>', value: 100}}\n  - {name: b, kpi: link.jitter_ms, threshold: {op: '>', value: 10}}\n")
	wait("the second version loaded", func(s Stats) bool { return s.Reloads == 1 && s.Rules == 2 })
	write("rules:\n  - {name: a, kpi: link.rtt_ms, threshold: {op: '>>', value: 100}}\n")
	wait("the broken version rejected", func(s Stats) bool { return s.ReloadErrs == 1 })
	if r.Stats().Rules != 2 || len(r.rules.Load().rules) != 2 {
		t.Fatalf("bad file replaced the rules: %+v", r.Stats())
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfiguration()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod  func(*Configuration)
		want string
	}{
		{func(c *Configuration) { c.GroupID = "" }, "group-id:"},
		{func(c *Configuration) { c.MaxInFlight = 0 }, "max-in-flight:"},
		{func(c *Configuration) { c.Webhooks = []Webhook{{Name: "x", URL: "ftp://x"}} }, "webhooks[x].url:"},
		{func(c *Configuration) { c.Webhooks = []Webhook{{URL: "http://x"}} }, "webhooks[0].name:"},
		{func(c *Configuration) { c.Webhooks = []Webhook{{Name: "x", URL: "http://x", Secret: "whsec_!!"}} }, "webhooks[x].secret:"},
		{func(c *Configuration) {
			c.Webhooks = []Webhook{{Name: "x", URL: "http://x", Secret: GenerateSecret(), SecretEnv: "X"}}
		}, "webhooks[x].secret: give only one"},
		{func(c *Configuration) {
			c.Webhooks = []Webhook{{Name: "x", URL: "http://x"}, {Name: "x", URL: "http://y"}}
		}, "webhooks[x].name: duplicate"},
		{func(c *Configuration) { c.Rules = []Rule{lossRule("nope")} }, `rule "link-loss": action.webhook: no webhook named "nope"`},
		{func(c *Configuration) { c.RulesFile = "/nonexistent/rules.yaml" }, "rules-file:"},
	} {
		cfg := DefaultConfiguration()
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	// The example rules file in deploy/ is valid against the example webhooks.
	cfg := DefaultConfiguration()
	cfg.RulesFile = "../../deploy/remediation/rules.example.yaml"
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: "http://127.0.0.1:9/hook"}, {Name: "argocd-sync", URL: "https://argocd.example/api/v1/applications/x/sync", Format: "raw"}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("deploy/remediation/rules.example.yaml: %v", err)
	}
}

// The dispatcher stops while an event is still retrying (endpoint down):
// its offset is not committed, so a new dispatcher in the same group
// delivers it once the endpoint is back — nothing lost, delivered once.
func TestStopWhileRetryingRedeliversAfterRestart(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	secret := GenerateSecret()
	recv := NewReceiver(secret, testLogger(t))
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	addr, url := recv.Addr(), recv.URL()
	_ = recv.Stop()
	cfg := DefaultConfiguration()
	cfg.Engine = false
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: url, Secret: secret, MaxAttempts: 1000,
		RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Timeout: time.Second}}
	r1 := startRemediator(t, cfg, k)
	prod := client(t, k)
	now := time.Now().UnixNano()
	ev := &wirepb.RemediationEvent{EventId: "evt-restart", Rule: "r", State: wirepb.EventState_FIRING,
		Kpi: "link.loss_ratio", Site: "par", Device: "d", DstSite: "lon", DstDevice: "e",
		TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: "gitops"}
	produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	testenv.Eventually(t, 10*time.Second, "three attempts", func() bool { return r1.Stats().Attempts >= 3 })
	if err := r1.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := recv.Listen(addr); err != nil {
		t.Fatal(err)
	}
	defer recv.Stop()
	r2 := startRemediator(t, cfg, k)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := recv.WaitFor(ctx, 1); err != nil {
		t.Fatal(err, r2.Stats())
	}
	testenv.Eventually(t, 5*time.Second, "the acknowledged transition", func() bool { return r2.Stats().Acknowledged >= 1 })
	time.Sleep(300 * time.Millisecond) // the scenario: time for a duplicate delivery to arrive, if there were one
	if got := recv.Received("evt-restart.firing"); got != 1 {
		t.Errorf("received %d times", got)
	}
	if st := r2.Stats(); st.Deliveries != 1 || st.Acknowledged != 1 {
		t.Errorf("restarted dispatcher stats %+v", st)
	}
}

// Records that cannot be handled are dead-lettered, never stop the
// consumers: an undecodable KPI (engine), an undecodable remediation
// event and an event naming an unknown webhook (dispatcher).
func TestUndecodableAndUnknownWebhookDeadLettered(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	cfg := DefaultConfiguration()
	r := startRemediator(t, cfg, k)
	prod := client(t, k)
	bad := []*kgo.Record{
		{Topic: k.Topics.KPIs, Key: []byte("x"), Value: []byte("\xff\xff not protobuf")},
		{Topic: k.Topics.Remediations, Key: []byte("y"), Value: []byte("\x08\x09")}, // version 9
	}
	if err := prod.ProduceSync(context.Background(), bad...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ev := &wirepb.RemediationEvent{EventId: "evt-unknown", Rule: "r", State: wirepb.EventState_FIRING, Action: "nowhere"}
	produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	dls := readAll(t, k, k.Topics.DeadLetter, 10*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= 3 })
	if len(dls) != 3 {
		t.Fatalf("%d dead letters, want 3 (stats %+v)", len(dls), r.Stats())
	}
	reasons := map[string]string{}
	for _, rec := range dls {
		var dl wirepb.DeadLetter
		if err := wire.DecodeDeadLetter(rec.Value, &dl); err != nil {
			t.Fatal(err)
		}
		reasons[dl.SourceTopic+"/"+string(dl.Key)] = dl.Component + ": " + dl.Reason
	}
	for key, want := range map[string]string{
		k.Topics.KPIs + "/x":                   "remediate: malformed record",
		k.Topics.Remediations + "/y":           "dispatcher: unknown wire version",
		k.Topics.Remediations + "/evt-unknown": `dispatcher: no webhook named "nowhere"`,
	} {
		if !strings.HasPrefix(reasons[key], want) {
			t.Errorf("%s: dead letter %q, want %q...", key, reasons[key], want)
		}
	}
	checkStats(t, r)
	st := r.Stats()
	if st.DeadLettersBy["remediate/decode"] != 1 || st.DeadLettersBy["dispatcher/decode"] != 1 ||
		st.DeadLettersBy["dispatcher/unknown_webhook"] != 1 || st.DeadLetters != 3 {
		t.Errorf("dead letters by reason %v", st.DeadLettersBy)
	}
}

// Two engine instances in one consumer group split the partitions; every
// entity's KPIs reach one instance (key = entity), so each faulty link
// fires exactly one event across the group.
func TestTwoEnginesShareTheGroup(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	cfg := DefaultConfiguration()
	cfg.Dispatcher = false
	cfg.Rules = []Rule{lossRule("")}
	r1 := startRemediator(t, cfg, k)
	r2 := startRemediator(t, cfg, k)
	adm := kadm.NewClient(client(t, k))
	testenv.Eventually(t, 20*time.Second, "the group stable with 2 members sharing every partition", func() bool {
		gs, err := adm.DescribeGroups(context.Background(), cfg.GroupID)
		if err != nil {
			return false
		}
		g := gs[cfg.GroupID]
		assigned := 0
		for _, m := range g.Members {
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range a.Topics {
					assigned += len(tp.Partitions)
				}
			}
		}
		return g.State == "Stable" && len(g.Members) == 2 && assigned == int(k.Partitions)
	})
	prod := client(t, k)
	t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
	const links = 16
	for i := 0; i < 12; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		for j := 0; j < links; j++ {
			loss := 0.0
			if j%2 == 0 && i >= 2 && i < 8 { // every other link loses packets for a minute
				loss = 0.2
			}
			kp := linkKPI(ws, ws.Add(10*time.Second), fmt.Sprintf("s%02d", j), "hub", loss)
			produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
		}
	}
	recs := readAll(t, k, k.Topics.Remediations, 15*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= links })
	time.Sleep(300 * time.Millisecond) // the scenario: time for an extra transition to arrive, if there were one
	evs := transitions(t, readAll(t, k, k.Topics.Remediations, 2*time.Second, func(rs []*kgo.Record) bool { return len(rs) > len(recs) }))
	perSite := map[string]int{}
	for _, e := range evs {
		if e.State == wirepb.EventState_FIRING {
			perSite[e.Site]++
		}
	}
	if len(evs) != links || len(perSite) != links/2 {
		t.Fatalf("%d transitions, firing per site %v; want %d transitions, one firing per faulty link", len(evs), perSite, links)
	}
	for s, n := range perSite {
		if n != 1 {
			t.Errorf("%s fired %d times", s, n)
		}
	}
	s1, s2 := r1.Stats(), r2.Stats()
	if s1.KPIs == 0 || s2.KPIs == 0 || s1.KPIs+s2.KPIs != 12*links || s1.Firing+s2.Firing != links/2 {
		t.Errorf("work not split: %+v / %+v", s1, s2)
	}
	t.Logf("instance 1: %d KPIs, %d events; instance 2: %d KPIs, %d events", s1.KPIs, s1.Firing, s2.KPIs, s2.Firing)
}

// An engine instance stops in the middle of a fault; the next one (same
// group) warms up from the KPI topic and resolves the same event — one
// firing, one resolved, one id. Without warm-up the new owner knows nothing:
// it fires a second event, and the first is never resolved.
func TestWarmupContinuesEventAcrossRestart(t *testing.T) {
	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("warmup=%v", warm), func(t *testing.T) {
			k, _ := kafkatest.Fake(t, 4)
			cfg := DefaultConfiguration()
			cfg.Dispatcher = false
			cfg.Rules = []Rule{lossRule("")}
			if !warm {
				cfg.Warmup = 0
			}
			prod := client(t, k)
			t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
			send := func(from, to int) {
				for i := from; i < to; i++ {
					ws := t0.Add(time.Duration(i) * 10 * time.Second)
					loss := 0.0
					if i >= 3 && i < 12 {
						loss = 0.3
					}
					kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", loss)
					produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
				}
			}
			waitStats := func(r *Remediator, what string, cond func(Stats) bool) {
				t.Helper()
				testenv.Eventually(t, 15*time.Second, what, func() bool { return cond(r.Stats()) })
			}
			a := startRemediator(t, cfg, k)
			send(0, 10)
			waitStats(a, "the first instance: 10 KPIs, one firing", func(s Stats) bool { return s.KPIs == 10 && s.Firing == 1 })
			if err := a.Stop(); err != nil {
				t.Fatal(err)
			}
			b := startRemediator(t, cfg, k)
			send(10, 20)
			waitStats(b, "the second instance: 10 KPIs", func(s Stats) bool { return s.KPIs == 10 })
			evs := transitions(t, readAll(t, k, k.Topics.Remediations, 1500*time.Millisecond, func(rs []*kgo.Record) bool { return false }))
			ids := map[string][]string{}
			for _, e := range evs {
				ids[e.EventId] = append(ids[e.EventId], rules.StateName(e.State))
			}
			t.Logf("events: %v; second instance %+v", ids, b.Stats())
			if warm {
				if len(ids) != 1 || len(evs) != 2 || evs[0].State != wirepb.EventState_FIRING || evs[1].State != wirepb.EventState_RESOLVED {
					t.Fatalf("with warm-up: %v, want one event firing then resolved", ids)
				}
				if st := b.Stats(); st.Firing != 0 || st.Resolved != 1 {
					t.Errorf("second instance %+v", st)
				}
			} else if len(ids) != 2 {
				t.Fatalf("without warm-up: %v, want two events", ids)
			}
		})
	}
}

// startReceiver starts a signature-verifying webhook receiver on loopback
// with a secret of its own, stopped when the test ends.
func startReceiver(t *testing.T) (*Receiver, string) {
	t.Helper()
	secret := GenerateSecret()
	recv := NewReceiver(secret, testLogger(t))
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Stop() })
	return recv, secret
}
