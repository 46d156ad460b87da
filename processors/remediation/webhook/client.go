package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/common/redact"
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
	// Err is the last failure (nil when delivered). Its text never holds
	// the URL's user information or query values, nor a header value
	// (see Client.Deliver).
	Err error
	// Permanent: the endpoint refused the message (4xx other than 408/429),
	// or the request cannot be made at all (an invalid URL, a header value
	// with CR, LF or another control character); no retry was made.
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
	// secrets are what errors must not show, wherever they come from (the
	// URL's, the header values): see scrub.
	secrets []string
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
		sem:     make(chan struct{}, ep.Concurrency),
		Now:     time.Now,
		secrets: endpointSecrets(ep),
	}
}

// endpointSecrets are the strings of ep that no error may show: the URL's
// password (or user information), query values and fragment, and every
// header value with each of its words (the token of "Bearer <token>").
func endpointSecrets(ep Endpoint) []string {
	out := redact.URLSecrets(ep.URL)
	// net/http sends user information as Basic credentials.
	if u, err := url.Parse(ep.URL); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		out = append(out, base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)))
	}
	for _, v := range ep.Headers {
		out = append(out, v)
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// scrub returns err with the endpoint's secrets masked wherever they
// show: whatever a server echoed back in its response (an error page
// repeating the request URL or headers), a header value. The returned
// error still matches what err matched (errors.Is, errors.As).
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbed{msg: redact.Text(err.Error(), c.secrets), err: err}
}

// redactURLError masks the URL that net/url and net/http put in their
// errors (net/http hides a password, not the query; net/url hides
// nothing); call it before wrapping err, whose text is fixed then.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redact.URL(ue.URL)
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// permanentError is a request that cannot be made, however often it is
// tried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// ValidateHeader reports whether name and value can be sent as an HTTP
// header: the name an HTTP token, the value free of control characters
// (CR and LF would split the header; net/http refuses them on every
// attempt, so such a header is a configuration error, never a transient
// one).
func ValidateHeader(name, value string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("header name %q: character %q is not allowed", name, name[i])
		}
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return fmt.Errorf("header %s: value holds control character %q (CR, LF and the like are not allowed)", name, b)
		}
	}
	return nil
}

// isTokenChar: RFC 9110 tchar.
func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// Endpoint returns the endpoint (with defaults).
func (c *Client) Endpoint() Endpoint { return c.ep }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Deliver sends m until a 2xx, a permanent refusal, the last attempt, or
// ctx ends (then Err is ctx's error and the caller must not consider the
// message handled). Errors are scrubbed of the endpoint's secrets (its
// URL's user information and query values, its header values), also when
// the server echoes them in its response.
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
		var perm *permanentError
		retryable := (status == 0 && !errors.As(err, &perm)) || status == http.StatusRequestTimeout ||
			status == http.StatusTooManyRequests || status >= 500
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
// the server's Retry-After, and an error (scrubbed of the endpoint's
// secrets) unless the status is 2xx.
func (c *Client) attempt(ctx context.Context, m Message) (int, time.Duration, error) {
	status, ra, err := c.try(ctx, m)
	return status, ra, c.scrub(err)
}

func (c *Client) try(ctx context.Context, m Message) (int, time.Duration, error) {
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
		return 0, 0, &permanentError{fmt.Errorf("webhook %s: %w", c.ep.Name, redactURLError(err))}
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
	for k, vs := range req.Header {
		for _, v := range vs {
			if err := ValidateHeader(k, v); err != nil {
				return 0, 0, &permanentError{fmt.Errorf("webhook %s: %w", c.ep.Name, err)}
			}
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook %s: %w", c.ep.Name, redactURLError(err))
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
