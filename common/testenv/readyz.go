package testenv

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Readyz GETs base's /readyz (a component's HTTP endpoint, common/daemon):
// its status code and body.
func Readyz(t testing.TB, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WaitReadyz polls base's /readyz until it answers code, for at most
// within, and returns the body of that answer.
func WaitReadyz(t testing.TB, base string, code int, within time.Duration, what string) string {
	t.Helper()
	var body string
	Eventually(t, within, what, func() bool {
		var c int
		c, body = Readyz(t, base)
		return c == code
	})
	return body
}
