package collector

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// refusedAddress is a loopback address nothing listens on: a dial is
// refused at once.
func refusedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// perTarget sums, over the metrics with a target label, the series of
// each target label value, and reads target_state of OtherTargets.
func perTarget(t *testing.T, reg *prometheus.Registry) (series map[string]int, otherStates map[string]float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series, otherStates = map[string]int{}, map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			target, ok := labels["target"]
			if !ok {
				continue
			}
			series[target]++
			if mf.GetName() == "telemetry_collector_target_state" && target == OtherTargets {
				otherStates[labels["state"]] = gaugeOf(m)
			}
		}
	}
	return series, otherStates
}

func gaugeOf(m *dto.Metric) float64 { return m.GetGauge().GetValue() }

// TestPerTargetSeriesBounded: past metrics-max-targets, targets share the
// series of target="(other targets)" (10,000 unreachable targets made
// 350,000 series and a 28 MB /metrics): the number of series is bounded
// by the limit, not by the targets; the shared target_state counts the
// targets in each state; removed targets take their own series away and
// their counts out of the shared states.
func TestPerTargetSeriesBounded(t *testing.T) {
	kc := realKafka(t)
	addr := refusedAddress(t)
	cfg := testConfig("c1")
	cfg.MetricsMaxTargets = 10
	const n = 60
	for i := range n {
		cfg.Targets = append(cfg.Targets, TargetConfig{Name: fmt.Sprintf("site1-sw%02d", i), Address: addr})
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	one := 4 + int(numReasons) + len(causeNames) + len(stateNames) // series of one target label
	testenv.Eventually(t, 20*time.Second, "every target down, the shared states counting 50", func() bool {
		series, other := perTarget(t, reg)
		down := 0
		for _, ts := range c.Targets() {
			if ts.State == StateDown {
				down++
			}
		}
		return down == n && other[StateDown] == n-10 && other[StateConnecting]+other[StateUp] == 0 && len(series) == 11
	})
	series, _ := perTarget(t, reg)
	total := 0
	for target, k := range series {
		total += k
		if k != one {
			t.Errorf("target %q has %d series, want %d", target, k, one)
		}
	}
	if total > 11*one {
		t.Errorf("%d per-target series for %d targets, limit 10: want at most %d", total, n, 11*one)
	}
	// Reconnections and session failures of the others are counted together.
	if v := counterValue(c.m.targetErrors.WithLabelValues(OtherTargets, causeUnavailable)); v < n-10 {
		t.Errorf("shared target_errors_total{cause=unavailable} = %v, want at least %d", v, n-10)
	}

	// Every target moves to another member: the own series go, the shared
	// states count no target.
	c.SetMembers([]string{"c2"})
	c.SetMembers([]string{"c2"}) // idempotent
	testenv.Eventually(t, 10*time.Second, "no target left, no own series, shared states at 0", func() bool {
		series, other := perTarget(t, reg)
		return len(c.Targets()) == 0 && len(series) == 1 && series[OtherTargets] == one &&
			other[StateDown]+other[StateConnecting]+other[StateUp] == 0
	})
	// Back: the first ten to start have their own series again.
	c.SetMembers([]string{"c1"})
	testenv.Eventually(t, 20*time.Second, "the targets back, ten with series of their own", func() bool {
		series, other := perTarget(t, reg)
		return len(c.Targets()) == n && len(series) == 11 && other[StateDown]+other[StateConnecting] == n-10
	})
}

// TestPerTargetSeriesDefault: by default the first 1000 targets have
// series of their own; 0 gives none any; a negative limit is refused.
func TestPerTargetSeriesDefault(t *testing.T) {
	if got := DefaultConfiguration().MetricsMaxTargets; got != 1000 {
		t.Errorf("metrics-max-targets defaults to %d, want 1000", got)
	}
	cfg := testConfig("c1")
	cfg.MetricsMaxTargets = -1
	if err := cfg.Validate(); err == nil || err.Error() != "metrics-max-targets: must not be negative" {
		t.Errorf("negative limit: %v", err)
	}
	m := newMetrics(component.NewReporter(Stage, nil, prometheus.NewRegistry()), func() float64 { return 0 }, 0)
	if ts := m.target("site1-sw1"); !ts.shared {
		t.Error("limit 0: a target has series of its own")
	}
}
