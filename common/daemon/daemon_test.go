package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestEndpoints(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	d := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	ready := errors.New("warming up")
	d.AddReadiness("kafka", func(context.Context) error { return ready })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + d.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "kafka: warming up") {
		t.Fatalf("readyz %d %q", code, body)
	}
	ready = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz after ready %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics %d", code)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfiguration()
	c.LogLevel = "loud"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "log-level") {
		t.Fatalf("got %v", err)
	}
}

func TestDefaultListenIsLoopback(t *testing.T) {
	if l := DefaultConfiguration().Listen; !IsLoopback(l) {
		t.Fatalf("default listen %q is not loopback", l)
	}
	for addr, want := range map[string]bool{"127.0.0.1:9464": true, "[::1]:9464": true, "localhost:1": true,
		"127.0.0.2:1": true, ":9464": false, "0.0.0.0:9464": false, "[::]:9464": false, "10.0.0.1:9464": false,
		"example.com:9464": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestStartOnLoopbackDoesNotWarn: the warning for a non-loopback listen
// is not exercised here, as tests bind loopback only (IsLoopback is).
func TestStartOnLoopbackDoesNotWarn(t *testing.T) {
	for listen, warn := range map[string]bool{"127.0.0.1:0": false} {
		var buf strings.Builder
		cfg := DefaultConfiguration()
		cfg.Listen = listen
		d := New(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		_ = d.Stop()
		if got := strings.Contains(buf.String(), "level=WARN"); got != warn {
			t.Errorf("listen %s: warned=%v, want %v:\n%s", listen, got, warn, buf.String())
		}
	}
}
