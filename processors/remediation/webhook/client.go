package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Endpoint is one webhook target with its delivery policy.
type Endpoint struct {
	Name string
	URL  string
	// Key is the HMAC key (decoded secret); nil sends unsigned requests.
	Key []byte
	// Headers added to every request (e.g. Authorization).
	Headers map[string]string
	// Timeout of one attempt.
	Timeout time.Duration
	// MaxAttempts, first one included.
	MaxAttempts int
	// Concurrency bounds simultaneous requests to this endpoint.
	Concurrency int
	// RetryInitial and RetryMax bound the exponential backoff (before jitter).
	RetryInitial, RetryMax time.Duration
	// RetryAfterMax caps a server's Retry-After.
	RetryAfterMax time.Duration
}

// Message is one delivery: the same ID and body on every attempt.
type Message struct {
	ID          string
	Body        []byte
	ContentType string
}

// Result is the outcome of a delivery.
type Result struct {
	Delivered bool
	Attempts  int
	// Status of the last response (0 when there was none).
	Status int
	// Err is the last failure (nil when delivered).
	Err error
	// Permanent: the endpoint refused the message (4xx other than 408/429);
	// no retry was made.
	Permanent bool
}

// Attempt describes one try, for the OnAttempt hook.
type Attempt struct {
	N      int
	Status int
	Err    error
	// Wait before the next attempt (0 for the last one).
	Wait time.Duration
}

// Client delivers messages to one endpoint.
type Client struct {
	ep   Endpoint
	http *http.Client
	sem  chan struct{}
	// Now is the clock for webhook-timestamp (tests may replace it).
	Now func() time.Time
	// OnAttempt, if set, is called after every attempt.
	OnAttempt func(Attempt)
}

// NewClient returns a client for ep (defaults: timeout 5s, 6 attempts,
// concurrency 4, backoff 200ms..30s, Retry-After capped at 5m).
func NewClient(ep Endpoint) *Client {
	if ep.Timeout <= 0 {
		ep.Timeout = 5 * time.Second
	}
	if ep.MaxAttempts <= 0 {
		ep.MaxAttempts = 6
	}
	if ep.Concurrency <= 0 {
		ep.Concurrency = 4
	}
	if ep.RetryInitial <= 0 {
		ep.RetryInitial = 200 * time.Millisecond
	}
	if ep.RetryMax < ep.RetryInitial {
		ep.RetryMax = max(30*time.Second, ep.RetryInitial)
	}
	if ep.RetryAfterMax <= 0 {
		ep.RetryAfterMax = 5 * time.Minute
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = ep.Concurrency
	return &Client{
		ep: ep,
		http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		sem: make(chan struct{}, ep.Concurrency),
		Now: time.Now,
	}
}

// Endpoint returns the endpoint (with defaults).
func (c *Client) Endpoint() Endpoint { return c.ep }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Deliver sends m until a 2xx, a permanent refusal, the last attempt, or
// ctx ends (then Err is ctx's error and the caller must not consider the
// message handled).
func (c *Client) Deliver(ctx context.Context, m Message) Result {
	var res Result
	for n := 1; ; n++ {
		res.Attempts = n
		status, retryAfter, err := c.attempt(ctx, m)
		res.Status, res.Err = status, err
		if err == nil {
			res.Delivered = true
			if c.OnAttempt != nil {
				c.OnAttempt(Attempt{N: n, Status: status})
			}
			return res
		}
		if ctx.Err() != nil {
			res.Err = ctx.Err()
			return res
		}
		retryable := status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
		var wait time.Duration
		if retryable && n < c.ep.MaxAttempts {
			wait = c.backoff(n)
			if retryAfter > 0 {
				wait = min(retryAfter, c.ep.RetryAfterMax)
			}
		}
		if c.OnAttempt != nil {
			c.OnAttempt(Attempt{N: n, Status: status, Err: err, Wait: wait})
		}
		if !retryable {
			res.Permanent = true
			return res
		}
		if n >= c.ep.MaxAttempts {
			return res
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			res.Err = ctx.Err()
			return res
		case <-t.C:
		}
	}
}

// backoff is the wait after attempt n: exponential from RetryInitial,
// capped at RetryMax, with "equal jitter" (half fixed, half random).
func (c *Client) backoff(n int) time.Duration {
	d := c.ep.RetryInitial << min(n-1, 30)
	if d <= 0 || d > c.ep.RetryMax {
		d = c.ep.RetryMax
	}
	return d/2 + rand.N(d/2+1)
}

// attempt makes one request. It returns the status (0 without a response),
// the server's Retry-After, and an error unless the status is 2xx.
func (c *Client) attempt(ctx context.Context, m Message) (int, time.Duration, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	defer func() { <-c.sem }()
	ctx, cancel := context.WithTimeout(ctx, c.ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.URL, bytes.NewReader(m.Body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook %s: %w", c.ep.Name, err)
	}
	ct := m.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "meshtelemetry-remediation/1")
	for k, v := range c.ep.Headers {
		req.Header.Set(k, v)
	}
	if c.ep.Key != nil {
		SetHeaders(req.Header, c.ep.Key, m.ID, c.Now(), m.Body)
	} else {
		req.Header.Set(HeaderID, m.ID)
	}
	// Idempotency-Key (IETF draft) for receivers that know it.
	req.Header.Set("Idempotency-Key", m.ID)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook %s: %w", c.ep.Name, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	ra := parseRetryAfter(resp.Header.Get("Retry-After"), c.Now())
	return resp.StatusCode, ra, fmt.Errorf("webhook %s: HTTP %d: %s", c.ep.Name, resp.StatusCode, bytes.TrimSpace(snippet))
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		// Clamp before multiplying: a huge value must not overflow into a
		// negative wait (the caller caps it at RetryAfterMax anyway).
		return time.Duration(min(s, 1<<30)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
