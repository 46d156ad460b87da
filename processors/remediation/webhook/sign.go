// Package webhook delivers remediation events over HTTP: CloudEvents 1.0
// JSON (structured mode) bodies, signed per the Standard Webhooks
// specification, with timeouts, retries with jittered exponential backoff,
// Retry-After, and a per-endpoint concurrency limit. It also has Receiver, a
// local endpoint that verifies signatures and records deliveries (for the
// demo and tests).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a Standard Webhooks secret: "whsec_" + base64(key).
const SecretPrefix = "whsec_"

// ParseSecret decodes a "whsec_<base64>" secret into the HMAC key. A secret
// without the prefix is taken as base64 too.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, SecretPrefix)
	if s == "" {
		return nil, errors.New("empty webhook secret")
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("webhook secret is not whsec_<base64>: %w", err)
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("webhook secret too short: %d bytes, want at least 16", len(k))
	}
	return k, nil
}

// Sign returns the webhook-signature value for one attempt:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SetHeaders sets the three Standard Webhooks headers on h for body.
func SetHeaders(h http.Header, key []byte, id string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(key, id, ts, body))
}

// Errors Verify returns.
var (
	ErrNoSignature  = errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	ErrBadTimestamp = errors.New("webhook-timestamp outside tolerance")
	ErrBadSignature = errors.New("no matching v1 signature")
)

// Verify checks the Standard Webhooks headers of a request against key:
// the timestamp within tolerance of now, and one of the space-separated
// signatures a matching "v1,<base64>".
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsS, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsS == "" || sigs == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(tsS, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBadTimestamp, tsS)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s off", ErrBadTimestamp, d)
	}
	want := Sign(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// GenerateSecret returns a new random secret: "whsec_" + base64 of 32
// random bytes.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}
