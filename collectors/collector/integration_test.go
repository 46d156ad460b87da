package collector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// realKafka creates a unique samples topic on the real broker, deleted on cleanup.
func realKafka(t *testing.T) *kafka.Configuration {
	t.Helper()
	brokers := testenv.Kafka(t)
	kc := kafka.DefaultConfiguration()
	kc.Brokers = brokers
	kc.Topics.Samples = fmt.Sprintf("telemetry-test-collector-%d-%08x", time.Now().Unix(), rand.Uint32())
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, kc.Topics.Samples); err != nil {
		cl.Close()
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, kc.Topics.Samples)
		cl.Close()
	})
	return &kc
}

func writeTargets(t *testing.T, path string, members []string, targets []TargetConfig) {
	t.Helper()
	var b strings.Builder
	if members != nil {
		b.WriteString("members: [" + strings.Join(members, ", ") + "]\n")
	}
	b.WriteString("targets:\n")
	for _, tg := range targets {
		fmt.Fprintf(&b, "  - name: %s\n    address: %s\n", tg.Name, tg.Address)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func stateOf(c *Collector, name string) string {
	for _, ts := range c.Targets() {
		if ts.Name == name {
			return ts.State
		}
	}
	return ""
}

// TestIntegrationSimulatorRealKafka: simulator → collector → real Apache
// Kafka. Every target and interface arrives; a target taken down and back
// goes down then up and resumes; a target removed from the watched file
// stops producing.
func TestIntegrationSimulatorRealKafka(t *testing.T) {
	kc := realKafka(t)
	sim := simtest.Start(t, 2, 2, 3)
	got := consume(t, kc)
	file := filepath.Join(t.TempDir(), "targets.yaml")
	all := simTargets(sim)
	writeTargets(t, file, nil, all)
	cfg := testConfig("it1")
	cfg.TargetsFile = file
	cfg.Backoff = Backoff{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond, Factor: 2}
	c := startCollector(t, cfg, kc)

	testenv.Eventually(t, 30*time.Second, "samples for every target and interface", func() bool {
		ifs, _, _ := coverage(got.snapshot())
		for _, tg := range sim.Targets() {
			for _, i := range tg.Interfaces {
				if ifs[tg.Name+"/"+i] == 0 {
					return false
				}
			}
		}
		return true
	})

	victim := all[0].Name
	if err := sim.SetTargetDown(victim, true); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, victim+" down", func() bool {
		s := stateOf(c, victim)
		return s == StateDown || s == StateConnecting
	})
	testenv.Eventually(t, 15*time.Second, victim+" DEVICE_DOWN in Kafka", func() bool {
		_, _, st := coverage(got.snapshot())
		for _, s := range st[victim] {
			if s == wirepb.DeviceState_DEVICE_DOWN {
				return true
			}
		}
		return false
	})
	if err := sim.SetTargetDown(victim, false); err != nil {
		t.Fatal(err)
	}
	back := time.Now().UnixNano()
	testenv.Eventually(t, 15*time.Second, victim+" up again with fresh samples", func() bool {
		if stateOf(c, victim) != StateUp {
			return false
		}
		for _, s := range got.snapshot() {
			if s.Device == victim && s.GetInterface() != nil && s.ReceiveTimeUnixNano > back {
				return true
			}
		}
		return false
	})
	_, _, st := coverage(got.snapshot())
	seq := st[victim]
	if len(seq) < 4 || seq[len(seq)-1] != wirepb.DeviceState_DEVICE_UP {
		t.Errorf("%s inventory states %v, want ... down ... up", victim, seq)
	}
	for _, ts := range c.Targets() {
		if ts.Name == victim && ts.Errors["unavailable"] == 0 {
			t.Errorf("%s errors %v, want unavailable counted", victim, ts.Errors)
		}
	}

	// Remove the victim from the watched file.
	writeTargets(t, file, nil, all[1:])
	testenv.Eventually(t, 10*time.Second, victim+" removed", func() bool { return stateOf(c, victim) == "" })
	removed := time.Now().UnixNano()
	// Time passing is the scenario: the removed target has 1.5 s (15
	// sample intervals) to show it still produces.
	time.Sleep(1500 * time.Millisecond)
	others := 0
	for _, s := range got.snapshot() {
		if s.ReceiveTimeUnixNano <= removed || s.GetInterface() == nil {
			continue
		}
		if s.Device == victim {
			t.Fatalf("sample from removed target %s after removal: %v", victim, s)
		}
		others++
	}
	if others == 0 {
		t.Error("the remaining targets stopped too")
	}
	if got.bad != 0 {
		t.Errorf("%d bad records", got.bad)
	}
}

// TestRebalanceOnMembership: two instances share the targets by HRW; when
// one leaves the member list (file reload), the other takes its targets.
func TestRebalanceOnMembership(t *testing.T) {
	sim := simtest.Start(t, 4, 2, 1)
	kc, _ := kafkatest.Fake(t, 4)
	file := filepath.Join(t.TempDir(), "targets.yaml")
	all := simTargets(sim)
	writeTargets(t, file, []string{"a", "b"}, all)
	mk := func(name string) *Collector {
		cfg := testConfig(name)
		cfg.TargetsFile = file
		return startCollector(t, cfg, kc)
	}
	a, b := mk("a"), mk("b")
	names := func(c *Collector) map[string]bool {
		out := map[string]bool{}
		for _, ts := range c.Targets() {
			out[ts.Name] = true
		}
		return out
	}
	na, nb := names(a), names(b)
	if len(na)+len(nb) != len(all) || len(na) == 0 || len(nb) == 0 {
		t.Fatalf("split %v / %v of %d", na, nb, len(all))
	}
	for n := range na {
		if nb[n] || Owner([]string{"a", "b"}, n) != "a" {
			t.Fatalf("%s misassigned", n)
		}
	}
	testenv.Eventually(t, 10*time.Second, "all up", func() bool { return a.Stats().TargetsUp+b.Stats().TargetsUp == len(all) })
	writeTargets(t, file, []string{"a"}, all)
	testenv.Eventually(t, 10*time.Second, "a takes everything", func() bool {
		return a.Stats().TargetsUp == len(all) && len(b.Targets()) == 0
	})
	// Programmatic membership too.
	a.SetMembers([]string{"a", "z"})
	if got := len(a.Targets()); got == 0 || got == len(all) {
		t.Errorf("after SetMembers a has %d of %d", got, len(all))
	}
}
