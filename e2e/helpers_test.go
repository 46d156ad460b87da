package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// testConfig returns a pipeline configuration with its own topics,
// consumer groups and ClickHouse database (dropped when the test ends).
func testConfig(t testing.TB, chAddr, name string) pipeline.Config {
	t.Helper()
	suffix := fmt.Sprintf("%x", rand.Uint64())
	cfg := pipeline.DefaultConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	tag := "." + name + "." + suffix
	cfg.Kafka.Topics.Samples += tag
	cfg.Kafka.Topics.KPIs += tag
	cfg.Kafka.Topics.Remediations += tag
	cfg.Kafka.Topics.DeadLetter += tag
	cfg.Kafka.Partitions = 2
	cfg.Process.GroupID += "-" + name + "-" + suffix
	cfg.Remediate.GroupID += "-" + name + "-" + suffix
	cfg.Remediate.DispatcherGroupID += "-" + name + "-" + suffix
	cfg.ClickHouse.GroupID += "-" + name + "-" + suffix
	cfg.ClickHouse.Database = "telemetry_" + name + "_" + suffix
	cfg.ClickHouse.FlushInterval = 500 * time.Millisecond
	cfg.ClickHouse.RawSamples = true
	cfg.Collect.Instance = "e2e"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := cfg.ClickHouse
		c.Addresses = []string{chAddr}
		c.Database = "default"
		if conn, err := chsink.Open(ctx, c); err == nil {
			_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database)
			conn.Close()
		}
	})
	return cfg
}

// sampleSubscription is one STREAM subscription in SAMPLE mode for both the
// interface counters and the probe results: every notification of it is
// one interface or one probe test at one device timestamp, so it lands as
// exactly one row of interface_counters or probe_results, and each target
// has a single Subscribe stream (see docs/e2e.md for why that matters to
// the drain).
func sampleSubscription(interval time.Duration) []collector.Subscription {
	return []collector.Subscription{{
		Name: "samples",
		Paths: []string{
			"/interfaces/interface/state/counters",
			"/probes/probe/tests/test/results/state",
		},
		Mode: "stream", StreamMode: "sample", SampleInterval: interval, Encoding: "proto",
	}}
}

// logBuffer is a concurrency-safe log sink printed when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// series is one Prometheus sample: name, labels, value.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads http://addr/metrics and parses the text exposition format
// (enough of it for counters and gauges: name{labels} value).
func scrape(ctx context.Context, addr string) ([]series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	var out []series
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSeries(line)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSeries(line string) (series, error) {
	s := series{labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
		s.name = line[:i]
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return s, fmt.Errorf("metrics: bad line %q", line)
		}
		for _, kv := range splitLabels(line[i+1 : j]) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return s, fmt.Errorf("metrics: bad label %q in %q", kv, line)
			}
			uq, err := strconv.Unquote(v)
			if err != nil {
				return s, fmt.Errorf("metrics: bad label value %q in %q", v, line)
			}
			s.labels[k] = uq
		}
		rest = strings.TrimSpace(line[j+1:])
	} else {
		name, r, _ := strings.Cut(line, " ")
		s.name, rest = name, r
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("metrics: no value in %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("metrics: bad value in %q: %w", line, err)
	}
	s.value = v
	return s, nil
}

// splitLabels splits `a="x",b="y,z"` on the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQ, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// sumBy sums the series named name, keyed by the value of label (series
// at zero left out).
func sumBy(ss []series, name, label string) map[string]uint64 {
	out := map[string]uint64{}
	for _, s := range ss {
		if s.name == name && s.value != 0 {
			out[s.labels[label]] += uint64(s.value)
		}
	}
	return out
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// openCH connects to the run's ClickHouse server.
func openCH(ctx context.Context, cfg pipeline.Config, addr string) (driver.Conn, error) {
	c := cfg.ClickHouse
	c.Addresses = []string{addr}
	return chsink.Open(ctx, c)
}

// countBy runs a query returning (key String, n UInt64) rows.
func countBy(ctx context.Context, conn driver.Conn, q string) (map[string]uint64, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var k string
		var n uint64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
		out[k] = n
	}
	return out, rows.Err()
}
