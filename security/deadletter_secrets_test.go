package security

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestWebhookSecretsStayOutOfClickHouse: webhook deliveries fail — an
// endpoint that repeats the request (URL with its query token, user
// information, Authorization) in its 404 page, and one that is down — so
// the dispatcher dead-letters them and records failed transitions, which
// the sink stores in ClickHouse. Neither deadletters.reason nor
// remediation_events.message holds a secret of the webhooks, while both
// name the failure. Real Kafka, real ClickHouse.
func TestWebhookSecretsStayOutOfClickHouse(t *testing.T) {
	brokers := testenv.Kafka(t)
	addr, db, conn := testenv.ClickHouseDB(t)
	pw, user, tok, hdr := randomSecret(t, "url-pw"), randomSecret(t, "url-user"), randomSecret(t, "url-token"), randomSecret(t, "hdr-token")
	secrets := []string{pw, user, tok, hdr}
	t.Setenv("TEST_SECURITY_HOOK_TOKEN", hdr)

	kc := kafka.DefaultConfiguration()
	kc.Brokers = brokers
	s := randomSecret(t, "t")
	kc.Topics = kafka.Topics{Samples: "sec.samples." + s, KPIs: "sec.kpis." + s, Remediations: "sec.remediations." + s, DeadLetter: "sec.deadletter." + s}
	kc.Partitions = 1
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.OwnTopics(t, &kc, admin)

	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no hook at "+r.URL.String()+" for "+fmt.Sprint(r.Header), http.StatusNotFound)
	}))
	t.Cleanup(echo.Close)
	echoHost := strings.TrimPrefix(echo.URL, "http://")
	auth := map[string]string{"Authorization": "Bearer ${TEST_SECURITY_HOOK_TOKEN}"}
	rcfg := remediation.DefaultConfiguration()
	rcfg.Engine = false
	rcfg.DispatcherGroupID = "sec-dispatch-" + s
	rcfg.Webhooks = []remediation.Webhook{
		{Name: "echo", URL: "http://bot:" + pw + "@" + echoHost + "/hook?token=" + tok, Headers: auth, MaxAttempts: 1},
		{Name: "echo-user", URL: "http://" + user + "@" + echoHost + "/hook?token=" + tok, MaxAttempts: 1},
		{Name: "down", URL: "http://bot:" + pw + "@127.0.0.1:1/hook?token=" + tok, Headers: auth, MaxAttempts: 2, RetryInitial: 10 * time.Millisecond},
	}
	var logs testenv.Logs
	rem, err := remediation.New(rcfg, remediation.Dependencies{Logger: logs.JSONLogger(), Registerer: prometheus.NewRegistry(), Kafka: &kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rem.Stop() })

	scfg := chsink.DefaultConfiguration()
	scfg.Addresses, scfg.Database = []string{addr}, db
	scfg.GroupID = "sec-sink-" + s
	scfg.MigrationLockTimeout = 20 * time.Second
	sink, err := chsink.New(scfg, chsink.Dependencies{Logger: logs.JSONLogger(), Registerer: prometheus.NewRegistry(), Kafka: &kc,
		KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := sink.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Stop() })

	prod, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	now := testenv.Now().UnixNano()
	for _, w := range rcfg.Webhooks {
		ev := &wirepb.RemediationEvent{Version: 1, EventId: "evt-" + w.Name + "-" + s, Rule: "r", State: wirepb.EventState_FIRING,
			Severity: wirepb.Severity_WARNING, Site: "par", Device: "par-leaf1", Interface: "Ethernet1", Kpi: "interface.loss_ratio",
			TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: w.Name}
		b, err := wire.Marshal(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		rec := &kgo.Record{Topic: kc.Topics.Remediations, Key: []byte(ev.EventId), Value: b, Headers: wire.Headers(wire.SchemaRemediation)}
		if err := prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	rows := func(q string) []string {
		r, err := conn.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var v string
			if err := r.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	n := len(rcfg.Webhooks)
	var reasons, messages []string
	testenv.Eventually(t, 60*time.Second, "the dead letters and failed transitions in ClickHouse", func() bool {
		reasons = rows("SELECT reason FROM " + db + ".deadletters WHERE component = 'dispatcher'")
		messages = rows("SELECT message FROM " + db + ".remediation_events WHERE state = 'failed'")
		return len(reasons) >= n && len(messages) >= n
	})
	for _, r := range reasons {
		t.Logf("deadletters.reason: %.300s", r)
		assertNoSecrets(t, "deadletters.reason", r, secrets)
		if !strings.Contains(r, "HTTP 404") && !strings.Contains(r, "token=xxxxx") {
			t.Errorf("reason %q names neither the status nor the masked URL", r)
		}
	}
	for _, m := range messages {
		assertNoSecrets(t, "remediation_events.message", m, secrets)
	}
	assertNoSecrets(t, "the dispatcher's and the sink's logs", logs.String(), secrets)
}
