package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// independentVerify is written from the Standard Webhooks specification
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
// not from Sign/Verify: the key is the base64 part of the secret after
// "whsec_"; the signed content is "<webhook-id>.<webhook-timestamp>.<body>";
// webhook-signature is a space-delimited list of "<version>,<base64 sig>"
// and a valid request has at least one v1 signature equal to the
// base64 HMAC-SHA256; the timestamp must be recent.
func independentVerify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil {
		return err
	}
	id, ts, sigHeader := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if id == "" || ts == "" || sigHeader == "" {
		return errors.New("missing headers")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Unix() - secs; d > 300 || d < -300 {
		return errors.New("timestamp too old or too new")
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+"."+string(body))
	expected := mac.Sum(nil)
	for _, part := range strings.Split(sigHeader, " ") {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(raw, expected) {
			return nil
		}
	}
	return errors.New("no valid v1 signature")
}

// The test vector published with the Standard Webhooks reference libraries.
func TestSignStandardWebhooksVector(t *testing.T) {
	key, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(HeaderTimestamp, "1614265330")
	h.Set(HeaderSignature, "v1,bm9wZQ== "+want)
	if err := independentVerify(testSecret, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0)); err != nil {
		t.Fatalf("independent verifier rejects the vector: %v", err)
	}
	if err := Verify(key, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0), time.Minute); err != nil {
		t.Fatalf("Verify rejects the vector: %v", err)
	}
	if err := Verify(key, h, []byte(`{"test": 2432232315}`), time.Unix(1614265330, 0), time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify accepts a tampered body: %v", err)
	}
	if err := Verify(key, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330+600, 0), time.Minute); !errors.Is(err, ErrBadTimestamp) {
		t.Fatalf("Verify accepts an old timestamp: %v", err)
	}
}

func testEvent(id string) *wirepb.RemediationEvent {
	now := time.Now().UnixNano()
	return &wirepb.RemediationEvent{Version: 1, EventId: id, Rule: "link-loss", State: wirepb.EventState_FIRING,
		Severity: wirepb.Severity_CRITICAL, Site: "par", Device: "par-leaf1", DstSite: "lon", DstDevice: "lon-leaf1",
		Kpi: "link.loss_ratio", Value: 0.05, Threshold: 0.01, TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now}
}

func message(t *testing.T, ev *wirepb.RemediationEvent) Message {
	b, err := json.Marshal(NewCloudEvent(ev, "/test", []byte(`{"app":"x"}`)))
	if err != nil {
		t.Fatal(err)
	}
	return Message{ID: DeliveryID(ev), Body: b, ContentType: ContentTypeCloudEvents}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}

// What the client sends verifies with the independent verifier, and is a
// structured-mode CloudEvent.
func TestClientSignsAndSendsCloudEvents(t *testing.T) {
	key, _ := ParseSecret(testSecret)
	var mu sync.Mutex
	var got []error
	var ce map[string]any
	var ct string
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, independentVerify(testSecret, r.Header, b, time.Now()))
		ct = r.Header.Get("Content-Type")
		_ = json.Unmarshal(b, &ce)
		w.WriteHeader(http.StatusAccepted)
	}))
	c := NewClient(Endpoint{Name: "t", URL: url, Key: key})
	ev := testEvent("e1")
	res := c.Deliver(context.Background(), message(t, ev))
	if !res.Delivered || res.Attempts != 1 || res.Status != 202 {
		t.Fatalf("result %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("independent verification: %v", got)
	}
	if ct != ContentTypeCloudEvents {
		t.Errorf("content-type %q", ct)
	}
	for k, want := range map[string]string{"specversion": "1.0", "id": "e1.firing", "type": "io.meshtelemetry.remediation.firing",
		"source": "/test", "subject": "par/par-leaf1>lon/lon-leaf1"} {
		if ce[k] != want {
			t.Errorf("%s = %v, want %s", k, ce[k], want)
		}
	}
	data, _ := ce["data"].(map[string]any)
	if data["event_id"] != "e1" || data["state"] != "firing" || data["payload"].(map[string]any)["app"] != "x" {
		t.Errorf("data = %v", data)
	}
	if _, err := time.Parse(time.RFC3339Nano, ce["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
}

// A 429 with Retry-After: 1 makes the next attempt wait about a second
// (not the 10 ms backoff).
func TestRetryAfterHonoured(t *testing.T) {
	key, _ := ParseSecret(testSecret)
	var mu sync.Mutex
	var at []time.Time
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	c := NewClient(Endpoint{Name: "t", URL: url, Key: key, RetryInitial: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	res := c.Deliver(context.Background(), message(t, testEvent("e2")))
	if !res.Delivered || res.Attempts != 3 {
		t.Fatalf("result %+v", res)
	}
	gap1, gap2 := at[1].Sub(at[0]), at[2].Sub(at[1])
	t.Logf("Retry-After: 1 → gap %v; Retry-After: <date +2s> → gap %v", gap1, gap2)
	if gap1 < time.Second || gap1 > 1500*time.Millisecond {
		t.Errorf("gap after Retry-After: 1 = %v, want ≈1s", gap1)
	}
	// HTTP dates have one-second resolution: the gap is 1..2 s.
	if gap2 < time.Second || gap2 > 2500*time.Millisecond {
		t.Errorf("gap after Retry-After date = %v, want 1..2.5s", gap2)
	}
}

// 4xx other than 408/429 is not retried; 408 and 5xx are, up to MaxAttempts.
func TestRetryPolicy(t *testing.T) {
	for _, c := range []struct {
		status, attempts int
		permanent        bool
	}{{400, 1, true}, {401, 1, true}, {404, 1, true}, {408, 3, false}, {500, 3, false}, {503, 3, false}} {
		var n atomic.Int32
		url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(c.status)
		}))
		cl := NewClient(Endpoint{Name: "t", URL: url, MaxAttempts: 3, RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond})
		res := cl.Deliver(context.Background(), message(t, testEvent("e")))
		if res.Delivered || res.Attempts != c.attempts || int(n.Load()) != c.attempts || res.Permanent != c.permanent || res.Status != c.status {
			t.Errorf("HTTP %d: result %+v after %d requests", c.status, res, n.Load())
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	c := NewClient(Endpoint{URL: "http://127.0.0.1:1", RetryInitial: 100 * time.Millisecond, RetryMax: time.Second})
	for n, lim := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		for range 50 {
			if d := c.backoff(n); d < lim/2 || d > lim {
				t.Fatalf("backoff(%d) = %v, want %v..%v", n, d, lim/2, lim)
			}
		}
	}
}

// The receiver goes away (listener and connections closed) and comes back
// on the same port: the delivery retries until it lands, exactly once.
func TestReceiverDownThenBack(t *testing.T) {
	key, _ := ParseSecret(testSecret)
	r := NewReceiver(testSecret, nil)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	addr, url := r.Addr(), r.URL()
	c := NewClient(Endpoint{Name: "t", URL: url, Key: key, MaxAttempts: 100, RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Timeout: time.Second})
	if res := c.Deliver(context.Background(), message(t, testEvent("before"))); !res.Delivered {
		t.Fatalf("first delivery: %+v", res)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	c.OnAttempt = func(Attempt) { attempts.Add(1) }
	done := make(chan Result, 1)
	go func() { done <- c.Deliver(context.Background(), message(t, testEvent("during"))) }()
	time.Sleep(500 * time.Millisecond) // the scenario: a 500 ms outage (the latency asserted below)
	if err := r.Listen(addr); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	res := <-done
	if !res.Delivered || res.Attempts < 2 {
		t.Fatalf("delivery across the outage: %+v", res)
	}
	if r.Received("during.firing") != 1 || r.Received("before.firing") != 1 {
		t.Fatalf("received during=%d before=%d", r.Received("during.firing"), r.Received("before.firing"))
	}
	ds := r.Deliveries()
	if len(ds) != 2 || ds[1].EventID != "during" || ds[1].State != "firing" || ds[1].Latency < 500*time.Millisecond {
		t.Fatalf("deliveries %+v", ds)
	}
	t.Logf("delivered after %d attempts across a 500 ms outage; latency %v", res.Attempts, ds[1].Latency)
	// A bad signature is refused.
	c2 := NewClient(Endpoint{Name: "t", URL: url, Key: []byte("another key of 16+ bytes"), MaxAttempts: 1})
	if res := c2.Deliver(context.Background(), message(t, testEvent("forged"))); res.Delivered || res.Status != 401 {
		t.Fatalf("forged delivery: %+v", res)
	}
	if got := r.Counts(); got.Accepted != 2 || got.Rejected != 1 {
		t.Fatalf("counts %+v", got)
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		}
	}
}

// TestSubject: the CloudEvents subject is the entity, the KPI's key.
func TestSubject(t *testing.T) {
	for _, c := range []struct {
		ev   *wirepb.RemediationEvent
		want string
	}{
		{&wirepb.RemediationEvent{Site: "s", Device: "d", Interface: "e1", Kpi: "interface.util_out"}, "s/d/e1"},
		{&wirepb.RemediationEvent{Site: "s", Device: "d", DstSite: "t", DstDevice: "u", Kpi: "link.rtt_ms"}, "s/d>t/u"},
		{&wirepb.RemediationEvent{Site: "pipeline", Device: "proc-1", Kpi: "pipeline.delay_p99_ms"}, "pipeline/proc-1"},
		{&wirepb.RemediationEvent{Site: "s", Device: "d", Kpi: "device.reachable"}, "s/d"},
	} {
		if got := Subject(c.ev); got != c.want {
			t.Errorf("Subject(%v) = %q, want %q", c.ev, got, c.want)
		}
	}
}
