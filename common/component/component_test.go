package component

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type probe struct {
	name     string
	log      *[]string
	startErr error
	stopErr  error
	ready    error
}

func (p *probe) Start(context.Context) error {
	*p.log = append(*p.log, "start "+p.name)
	return p.startErr
}

func (p *probe) Stop() error {
	*p.log = append(*p.log, "stop "+p.name)
	return p.stopErr
}

func (p *probe) Ready(context.Context) error { return p.ready }

func TestRunnerOrder(t *testing.T) {
	var log []string
	r := NewRunner(slog.New(slog.DiscardHandler))
	r.Add("a", &probe{name: "a", log: &log})
	r.Add("b", &probe{name: "b", log: &log, stopErr: errors.New("boom")})
	r.Add("c", &probe{name: "c", log: &log, ready: errors.New("not yet")})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "c: not yet") {
		t.Fatalf("ready: %v", err)
	}
	err := r.Stop()
	if err == nil || err.Error() != "b: boom" {
		t.Fatalf("stop: %v", err)
	}
	if err2 := r.Stop(); err2 != err {
		t.Fatalf("second stop: %v", err2)
	}
	want := "start a,start b,start c,stop c,stop b,stop a"
	if got := strings.Join(log, ","); got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
}

func TestRunnerStartFailureStopsStarted(t *testing.T) {
	var log []string
	r := NewRunner(slog.New(slog.DiscardHandler))
	r.Add("a", &probe{name: "a", log: &log})
	r.Add("b", &probe{name: "b", log: &log, startErr: errors.New("no broker")})
	r.Add("c", &probe{name: "c", log: &log})
	err := r.Start(context.Background())
	if err == nil || err.Error() != "b: no broker" {
		t.Fatalf("start: %v", err)
	}
	if got := strings.Join(log, ","); got != "start a,start b,stop a" {
		t.Fatalf("order %s", got)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("stop after a failed start: %v", err)
	}
}

func TestRunnerRunStopsOnContext(t *testing.T) {
	var log []string
	r := NewRunner(slog.New(slog.DiscardHandler))
	r.Add("a", &probe{name: "a", log: &log})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "start a,stop a" {
		t.Fatalf("order %s", got)
	}
}

func TestOnceConcurrent(t *testing.T) {
	var o Once
	var n int
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Do(func() error { n++; return errors.New("x") }); err == nil {
				t.Error("lost the first error")
			}
		}()
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("stop ran %d times", n)
	}
}

func TestReporter(t *testing.T) {
	reg := prometheus.NewRegistry()
	var buf bytes.Buffer
	r := NewReporter("sink", slog.New(slog.NewJSONHandler(&buf, nil)).With("cmd", "sink"), reg)
	c := r.CounterVec("insert_errors_total", "Failed inserts, per table.", []string{"table"}, Values("a", "b")...)
	r.Counter("commits_total", "Commits.")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "telemetry_sink_insert_errors_total"); n != 2 {
		t.Fatalf("%d series before any increment, want 2", n)
	}
	r.Counter("commits_total", "Again.")
	if r.Err() == nil {
		t.Fatal("a duplicate registration was not reported")
	}
	r.Log.Info("hello")
	if got := strings.Count(buf.String(), `"component"`); got != 1 {
		t.Fatalf("component key %d times in %s", got, buf.String())
	}
	if NewReporter("Bad-Name", nil, nil).Err() == nil {
		t.Fatal("bad stage name accepted")
	}
	if r.FullName("x_total") != "telemetry_sink_x_total" {
		t.Fatal(r.FullName("x_total"))
	}
}

func TestLabeledPassesReadiness(t *testing.T) {
	var log []string
	p := &probe{name: "a", log: &log, ready: errors.New("no")}
	c := Labeled("a", p)
	if r, ok := c.(Readier); !ok || r.Ready(context.Background()) == nil {
		t.Fatal("readiness lost")
	}
	if _, ok := Labeled("b", &Func{}).(Readier); ok {
		t.Fatal("readiness invented")
	}
	if err := c.Start(context.Background()); err != nil || c.Stop() != nil {
		t.Fatal("start/stop")
	}
}
