package webhook

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A header that cannot be sent (CR/LF in its value: net/http refuses it
// before anything reaches the wire) is a permanent failure: one attempt,
// no retry, and the error names the header, not its value.
func TestHeaderWithCRLFIsPermanent(t *testing.T) {
	var n atomic.Int32
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	for _, v := range []string{"Bearer tok\r\nX-Injected: 1", "tok\nen", "a\x00b", "a\x7fb"} {
		cl := NewClient(Endpoint{Name: "t", URL: url, Headers: map[string]string{"Authorization": v},
			MaxAttempts: 4, RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond})
		res := cl.Deliver(context.Background(), message(t, testEvent("e")))
		if res.Delivered || !res.Permanent || res.Attempts != 1 {
			t.Errorf("header %q: result %+v, want one permanent failure", v, res)
		}
		if res.Err == nil || !strings.Contains(res.Err.Error(), "Authorization") || strings.Contains(res.Err.Error(), "tok") {
			t.Errorf("header %q: error %v, want the header named and its value hidden", v, res.Err)
		}
	}
	// An event id with CR/LF (it goes into webhook-id and Idempotency-Key).
	cl := NewClient(Endpoint{Name: "t", URL: url, MaxAttempts: 4, RetryInitial: time.Millisecond})
	if res := cl.Deliver(context.Background(), Message{ID: "e\r\n1", Body: []byte("{}")}); !res.Permanent || res.Attempts != 1 {
		t.Errorf("id with CR/LF: result %+v, want one permanent failure", res)
	}
	if n.Load() != 0 {
		t.Errorf("%d requests reached the server", n.Load())
	}
	for _, c := range []struct{ name, value string }{{"X-Ok", "Bearer a.b-c_d"}, {"X-Tab", "a\tb"}} {
		if err := ValidateHeader(c.name, c.value); err != nil {
			t.Errorf("ValidateHeader(%q, %q): %v", c.name, c.value, err)
		}
	}
	for _, c := range []struct{ name, value string }{{"", "v"}, {"X Bad", "v"}, {"X:Bad", "v"}, {"X-Ok", "a\rb"}} {
		if err := ValidateHeader(c.name, c.value); err == nil {
			t.Errorf("ValidateHeader(%q, %q) accepted", c.name, c.value)
		}
	}
}

// An invalid URL is a permanent failure too, and its error hides the
// URL's secrets.
func TestInvalidURLIsPermanent(t *testing.T) {
	cl := NewClient(Endpoint{Name: "t", URL: "http://u:pw-s3cr3t@127.0.0.1:1/x\x7f?token=t0k-s3cr3t", MaxAttempts: 4, RetryInitial: time.Millisecond})
	res := cl.Deliver(context.Background(), message(t, testEvent("e")))
	if !res.Permanent || res.Attempts != 1 {
		t.Errorf("result %+v, want one permanent failure", res)
	}
	for _, s := range []string{"pw-s3cr3t", "t0k-s3cr3t"} {
		if res.Err != nil && strings.Contains(res.Err.Error(), s) {
			t.Errorf("error shows %q: %v", s, res.Err)
		}
	}
}

// Errors hide the URL's query values and user information and the header
// values: in net/http's own errors (which show the query; they hide only
// a password), and when the server echoes them in its response body.
func TestErrorsHideEndpointSecrets(t *testing.T) {
	const tok, pw, user, hdr = "q-t0k3n-s3cr3t", "u-p4ss-s3cr3t", "ghp_us3r_t0k3n", "h-b34r3r-s3cr3t"
	echo := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		http.Error(w, "no such hook: "+r.URL.String()+" user "+u+" "+p+" auth "+r.Header.Get("Authorization"), http.StatusNotFound)
	}))
	host := strings.TrimPrefix(strings.TrimSuffix(echo, "/hook"), "http://")
	for _, ep := range []Endpoint{
		{Name: "echo", URL: "http://bot:" + pw + "@" + host + "/hook?token=" + tok, Headers: map[string]string{"Authorization": "Bearer " + hdr}},
		{Name: "echo-user", URL: "http://" + user + "@" + host + "/hook?token=" + tok},
		{Name: "down", URL: "http://bot:" + pw + "@127.0.0.1:1/hook?token=" + tok, Headers: map[string]string{"Authorization": "Bearer " + hdr}},
		{Name: "down-user", URL: "http://" + user + "@127.0.0.1:1/hook?token=" + tok},
	} {
		ep.MaxAttempts, ep.RetryInitial, ep.Timeout = 2, time.Millisecond, 2*time.Second
		var attempts []error
		cl := NewClient(ep)
		cl.OnAttempt = func(a Attempt) { attempts = append(attempts, a.Err) }
		res := cl.Deliver(context.Background(), message(t, testEvent("e")))
		if res.Delivered || res.Err == nil {
			t.Fatalf("%s: %+v, want a failure", ep.Name, res)
		}
		for _, err := range append(attempts, res.Err) {
			for _, s := range []string{tok, pw, user, hdr} {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("%s: error shows %q: %v", ep.Name, s, err)
				}
			}
		}
		if !strings.Contains(res.Err.Error(), "token=xxxxx") {
			t.Errorf("%s: error %v, want the query shown masked", ep.Name, res.Err)
		}
		t.Logf("%s: %v", ep.Name, res.Err)
	}
}
