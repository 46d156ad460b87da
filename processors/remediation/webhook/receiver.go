package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Delivery is one accepted (signature-verified) delivery at a Receiver.
type Delivery struct {
	// WebhookID is the webhook-id header (event id + "." + state).
	WebhookID string
	// EventID, State, Type, Rule and Tenant from the CloudEvents body
	// (empty for a non-CloudEvents body; Tenant empty in a single-tenant
	// installation).
	EventID, State, Type, Rule, Tenant string
	// WindowEnd is data.window_end: the close of the KPI window behind it.
	WindowEnd  time.Time
	ReceivedAt time.Time
	// Latency from WindowEnd to receipt (0 when WindowEnd is unknown).
	Latency time.Duration
	Body    []byte
}

// ReceiverCounts are a Receiver's totals.
type ReceiverCounts struct {
	// Requests received, Accepted (first delivery of a webhook-id),
	// Duplicates (a webhook-id seen before: acknowledged, not recorded
	// again), Rejected (bad signature, timestamp or body).
	Requests, Accepted, Duplicates, Rejected int
}

// Receiver is a local webhook endpoint for the demo and tests: it verifies
// Standard Webhooks signatures, de-duplicates on webhook-id, and records
// each delivery with its latency from the event's window_end.
type Receiver struct {
	key    []byte
	keyErr error
	log    *slog.Logger
	// Tolerance on webhook-timestamp (default 5 minutes).
	Tolerance time.Duration

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	addr    string
	done    chan struct{}
	list    []Delivery
	seen    map[string]int // webhook-id → deliveries received
	counts  ReceiverCounts
	waiters []chan struct{}
}

// NewReceiver returns a receiver verifying with secret ("whsec_<base64>").
// An invalid secret makes Start fail.
func NewReceiver(secret string, logger *slog.Logger) *Receiver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k, err := ParseSecret(secret)
	return &Receiver{key: k, keyErr: err, log: logger, Tolerance: 5 * time.Minute, seen: map[string]int{}}
}

// Start listens on 127.0.0.1:0 (a free port; see URL).
func (r *Receiver) Start() error { return r.Listen("127.0.0.1:0") }

// Listen serves on addr. After Stop, Listen may be called again (e.g. on the
// same address, to simulate an endpoint that comes back); recorded
// deliveries are kept.
func (r *Receiver) Listen(addr string) error {
	if r.keyErr != nil {
		return fmt.Errorf("receiver: %w", r.keyErr)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return errors.New("receiver: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("webhook receiver stopped", "err", err)
		}
	}(r.srv, r.done)
	return nil
}

// Addr is the host:port the receiver listens (or last listened) on.
func (r *Receiver) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// URL is the receiver's URL.
func (r *Receiver) URL() string { return "http://" + r.Addr() + "/webhook" }

// Stop closes the listener and every connection at once (an endpoint that
// goes away); it keeps the recorded deliveries.
func (r *Receiver) Stop() error {
	r.mu.Lock()
	srv, done := r.srv, r.done
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	<-done
	return err
}

// ServeHTTP verifies and records one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	r.mu.Lock()
	r.counts.Requests++
	r.mu.Unlock()
	if err == nil && req.Method != http.MethodPost {
		err = fmt.Errorf("method %s", req.Method)
	}
	if err == nil {
		err = Verify(r.key, req.Header, body, now, r.Tolerance)
	}
	if err != nil {
		r.mu.Lock()
		r.counts.Rejected++
		r.mu.Unlock()
		r.log.Warn("webhook rejected", "err", err, "remote", req.RemoteAddr)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	d := Delivery{WebhookID: req.Header.Get(HeaderID), ReceivedAt: now, Body: body}
	var ce CloudEvent
	if json.Unmarshal(body, &ce) == nil && ce.SpecVersion != "" {
		d.EventID, d.State, d.Type, d.Rule, d.Tenant = ce.Data.EventID, ce.Data.State, ce.Type, ce.Data.Rule, ce.Data.Tenant
		if !ce.Data.WindowEnd.IsZero() {
			d.WindowEnd = ce.Data.WindowEnd
			d.Latency = now.Sub(ce.Data.WindowEnd)
		}
	}
	r.mu.Lock()
	r.seen[d.WebhookID]++
	if r.seen[d.WebhookID] > 1 {
		r.counts.Duplicates++
	} else {
		r.counts.Accepted++
		r.list = append(r.list, d)
		for _, c := range r.waiters {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Deliveries returns the accepted deliveries, in arrival order (one per
// webhook-id).
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// Received returns how many requests carried webhookID (1 for a delivery
// that was acknowledged the first time; more when the sender retried after
// a lost response).
func (r *Receiver) Received(webhookID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[webhookID]
}

// PerEvent returns, per event id, how many distinct deliveries (states)
// were accepted.
func (r *Receiver) PerEvent() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, d := range r.list {
		out[d.EventID]++
	}
	return out
}

// Counts returns the totals.
func (r *Receiver) Counts() ReceiverCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts
}

// Latencies returns the window_end → receipt latencies of accepted
// deliveries in state (all states when empty).
func (r *Receiver) Latencies(state string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, d := range r.list {
		if (state == "" || d.State == state) && !d.WindowEnd.IsZero() {
			out = append(out, d.Latency)
		}
	}
	return out
}

// WaitFor blocks until at least n deliveries are accepted or ctx ends.
func (r *Receiver) WaitFor(ctx context.Context, n int) error {
	c := make(chan struct{}, 1)
	r.mu.Lock()
	r.waiters = append(r.waiters, c)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.waiters = slices.DeleteFunc(r.waiters, func(x chan struct{}) bool { return x == c })
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		got := len(r.list)
		r.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("receiver: %d of %d deliveries: %w", got, n, ctx.Err())
		case <-c:
		}
	}
}
