package remediation

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// noSecret fails when any secret is in out.
func noSecret(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("%s shows a secret (%.6s…): …%s…", what, s, out[max(0, i-120):min(len(out), i+len(s)+40)])
		}
	}
}

// A webhook's URL is never shown with its user information or query
// values: not by String (config keys, logs), not in the error about an
// invalid URL (url.Parse's own error repeats the URL whole).
func TestWebhookURLSecretsNeverShown(t *testing.T) {
	const pw, tok = "u-p4ss-s3cr3t", "q-t0k3n-s3cr3t"
	w := Webhook{Name: "ops", URL: "https://bot:" + pw + "@hooks.example/hook?token=" + tok + "&ref=main"}
	s := fmt.Sprint(w)
	noSecret(t, "Webhook.String", s, pw, tok)
	if !strings.Contains(s, "https://bot:xxxxx@hooks.example/hook?token=xxxxx&ref=xxxxx") {
		t.Errorf("Webhook.String = %s, want the URL masked, its shape kept", s)
	}
	for _, bad := range []string{
		"https://bot:" + pw + "@hooks.example:bad port/hook?token=" + tok,
		"https://bot:" + pw + "@hooks.example/%zz?token=" + tok,
		"hooks.example/hook?token=" + tok, // no scheme
		"bot:" + pw + "@hooks.example/hook",
		"ftp://bot:" + pw + "@hooks.example/hook?token=" + tok,
		"https://bot:" + pw + "@hooks.example/\x7f?token=" + tok,
	} {
		cfg := DefaultConfiguration()
		cfg.Webhooks = []Webhook{{Name: "ops", URL: bad}}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "webhooks[ops].url:") {
			t.Errorf("url %q: error %v, want webhooks[ops].url", bad, err)
			continue
		}
		noSecret(t, "the invalid-URL error", err.Error(), pw, tok)
	}
}

// A header value with CR or LF is refused at load, whether written in the
// file or arriving through ${VAR}, naming the webhook and the header.
func TestWebhookHeaderWithCRLFRefused(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{{Name: "ops", URL: "http://127.0.0.1:9/hook", Headers: map[string]string{"X-Token": "a\r\nX-Injected: 1"}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "webhooks[ops].headers: header X-Token") {
		t.Errorf("error %v, want webhooks[ops].headers: header X-Token …", err)
	}
	cfg.Webhooks[0].Headers = map[string]string{"Bad Name": "v"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "webhooks[ops].headers:") {
		t.Errorf("error %v, want webhooks[ops].headers", err)
	}
	t.Setenv("TEST_REMEDIATION_CRLF_TOKEN", "t0k\r\nX-Injected: 1")
	cfg.Webhooks[0].Headers = map[string]string{"Authorization": "Bearer ${TEST_REMEDIATION_CRLF_TOKEN}"}
	_, err := New(cfg, Dependencies{Kafka: &kafka.Configuration{}})
	if err == nil || !strings.Contains(err.Error(), "webhooks[ops].headers: header Authorization") {
		t.Errorf("New: %v, want webhooks[ops].headers: header Authorization …", err)
	}
	if err != nil {
		noSecret(t, "the header error", err.Error(), "t0k")
	}
}

// Deliveries that fail — a server that echoes the request (URL, headers)
// in its 404 page, an endpoint that is down — leave no secret of the
// webhook (URL password or user, query token, Authorization header) in the
// dead letters' reasons, the failed transitions' messages or the logs.
// Real Kafka.
func TestDeliveryFailuresKeepWebhookSecretsOut(t *testing.T) {
	k := realKafka(t)
	const pw, user, tok, hdr = "u-p4ss-s3cr3t", "ghp_us3r_t0k3n", "q-t0k3n-s3cr3t", "h-b34r3r-s3cr3t"
	t.Setenv("TEST_REMEDIATION_HOOK_TOKEN", hdr)
	echo := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook: "+r.URL.String()+" "+fmt.Sprint(r.Header), http.StatusNotFound)
	}))
	echoHost := strings.TrimSuffix(strings.TrimPrefix(echo, "http://"), "/hook")
	cfg := DefaultConfiguration()
	cfg.Engine = false
	cfg.DispatcherGroupID = "test-dispatch-" + suffix()
	auth := map[string]string{"Authorization": "Bearer ${TEST_REMEDIATION_HOOK_TOKEN}"}
	cfg.Webhooks = []Webhook{
		{Name: "echo", URL: "http://bot:" + pw + "@" + echoHost + "/hook?token=" + tok, Headers: auth, MaxAttempts: 2, RetryInitial: 10 * time.Millisecond},
		{Name: "echo-user", URL: "http://" + user + "@" + echoHost + "/hook?token=" + tok, MaxAttempts: 2, RetryInitial: 10 * time.Millisecond},
		{Name: "down", URL: "http://bot:" + pw + "@127.0.0.1:1/hook?token=" + tok, Headers: auth, MaxAttempts: 2, RetryInitial: 10 * time.Millisecond},
	}
	var logs testenv.Logs
	r, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Registerer: prometheus.NewRegistry(), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(); deleteGroups(t, k, cfg.DispatcherGroupID) })
	prod := client(t, k)
	now := time.Now().UnixNano()
	for _, w := range cfg.Webhooks {
		ev := &wirepb.RemediationEvent{EventId: "evt-secret-" + w.Name + "-" + suffix(), Rule: "r", State: wirepb.EventState_FIRING,
			Severity: wirepb.Severity_WARNING, Site: "par", Device: "d", Interface: "Ethernet1", Kpi: "interface.loss_ratio",
			TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: w.Name}
		produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	}
	dls := readAll(t, k, k.Topics.DeadLetter, 30*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= len(cfg.Webhooks) })
	if len(dls) != len(cfg.Webhooks) {
		t.Fatalf("%d dead letters, want %d (stats %+v)", len(dls), len(cfg.Webhooks), r.Stats())
	}
	secrets := []string{pw, user, tok, hdr}
	for _, rec := range dls {
		var dl wirepb.DeadLetter
		if err := wire.DecodeDeadLetter(rec.Value, &dl); err != nil {
			t.Fatal(err)
		}
		t.Logf("dead letter reason: %s", dl.Reason)
		noSecret(t, "a dead letter's reason", dl.Reason, secrets...)
		if !strings.Contains(dl.Reason, "token=xxxxx") && !strings.Contains(dl.Reason, "HTTP 404") {
			t.Errorf("reason %q names neither the masked URL nor the status", dl.Reason)
		}
	}
	recs := readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool {
		return countState(transitions(t, rs), wirepb.EventState_FAILED) >= len(cfg.Webhooks)
	})
	for _, ev := range transitions(t, recs) {
		noSecret(t, "a transition's message", ev.Message, secrets...)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	noSecret(t, "the logs", out, secrets...)
	if !strings.Contains(out, "token=xxxxx") {
		t.Errorf("the logs do not show the failed deliveries' masked URL:\n%s", out)
	}
}
