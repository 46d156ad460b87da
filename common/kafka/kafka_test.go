package kafka

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWithLoggerReportsConnectFailure: a client using TLS towards a
// plaintext broker fails to connect; WithLogger reports it at WARN.
// (SASL_AUTHENTICATION_FAILED from a real broker is reported at ERROR:
// security.TestRealKafkaSASLSSL.)
func TestWithLoggerReportsConnectFailure(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfiguration()
	cfg.Brokers = c.ListenAddrs()
	cfg.TLS.Enable = true
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl, err := kgo.NewClient(append(opts, WithLogger(log), kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err == nil {
		t.Fatal("TLS ping of a plaintext broker succeeded")
	}
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "client=kafka") {
		t.Fatalf("want a WARN from the kafka client, got:\n%s", out)
	}
	if strings.Contains(out, "level=DEBUG") || strings.Contains(out, "level=INFO") {
		t.Fatalf("WithLogger logs below WARN:\n%s", out)
	}
}

func TestLoggerLevels(t *testing.T) {
	var buf strings.Builder
	l := Logger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), kgo.LogLevelDebug)
	if l.Level() != kgo.LogLevelDebug {
		t.Fatalf("Level() = %v", l.Level())
	}
	for lvl, want := range map[kgo.LogLevel]string{kgo.LogLevelError: "ERROR", kgo.LogLevelWarn: "WARN",
		kgo.LogLevelInfo: "INFO", kgo.LogLevelDebug: "DEBUG"} {
		buf.Reset()
		l.Log(lvl, "m", "broker", 1)
		if !strings.Contains(buf.String(), "level="+want) || !strings.Contains(buf.String(), "broker=1") {
			t.Errorf("level %v logged %q, want level=%s", lvl, buf.String(), want)
		}
	}
}
