package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// noTargetsVersions are what a targets file looks like while an editor or
// a configuration tool rewrites it (truncated, then written), or when it
// is emptied by mistake: each must be refused, never read as "no targets".
var noTargetsVersions = []struct{ name, content string }{
	{"truncated", ""},
	{"whitespace", " \n\t\n   \n"},
	{"comments only", "# fabric targets\n# (being rewritten)\n"},
	{"null targets", "targets:\n"},
	{"members only", "members: [c1]\n"},
	{"document only", "---\n"},
}

// writeFile writes content to path in place (truncate, then write), as
// an editor or a configuration tool does.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A running collector (simulator as the gNMI server, real Kafka) whose
// targets file is truncated, blank, comments only, without a targets list
// or rewritten in place over and over refuses each empty version —
// counted as a reload error, logged with the reason — and keeps every
// session and its samples flowing. A file that says "targets: []" is
// accepted and stops every target.
func TestTargetsFileEmptiedKeepsTheTargets(t *testing.T) {
	kc := realKafka(t)
	sim := simtest.Start(t, 2, 1, 1)
	got := consume(t, kc)
	file := filepath.Join(t.TempDir(), "targets.yaml")
	all := simTargets(sim)
	writeTargets(t, file, nil, all)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("c1")
	cfg.TargetsFile = file
	reg := prometheus.NewRegistry()
	var logs testenv.Logs
	c, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	reloads := func() map[string]float64 {
		return testenv.Series(t, reg, "telemetry_collector_targets_file_reloads_total", "result")
	}
	testenv.Eventually(t, 15*time.Second, "every target up", func() bool { return c.Stats().TargetsUp == len(all) })

	// An editor's save, over and over: truncate then write the same
	// content. Never a target stopped.
	stopped := false
	for range 20 {
		writeFile(t, file, "")
		writeFile(t, file, string(good))
		time.Sleep(10 * time.Millisecond)
		stopped = stopped || c.Stats().TargetsAssigned != len(all)
	}
	if stopped {
		t.Error("a rewrite in place stopped targets")
	}

	errs := reloads()[reloadError]
	for _, v := range noTargetsVersions {
		writeFile(t, file, v.content)
		errs++
		testenv.Eventually(t, 5*time.Second, v.name+" refused", func() bool { return reloads()[reloadError] == errs })
		if st := c.Stats(); st.TargetsAssigned != len(all) {
			t.Fatalf("%s: %d targets assigned, want %d", v.name, st.TargetsAssigned, len(all))
		}
	}
	if out := logs.String(); strings.Count(out, "no targets list") < len(noTargetsVersions) || !strings.Contains(out, `targets: []`) {
		t.Errorf("the refusals are not logged with their reason:\n%s", out)
	}
	if n := reloads()[reloadOK]; n != 0 {
		t.Errorf("%v reloads counted ok, want 0", n)
	}
	// Every target still sends.
	after := time.Now().UnixNano()
	testenv.Eventually(t, 10*time.Second, "fresh samples from every target", func() bool {
		fresh := map[string]bool{}
		for _, s := range got.snapshot() {
			if s.ReceiveTimeUnixNano > after && s.GetInterface() != nil {
				fresh[s.Device] = true
			}
		}
		return len(fresh) == len(all)
	})

	// An explicit empty list is a choice: applied.
	writeFile(t, file, "# nothing to collect for now\ntargets: []\n")
	testenv.Eventually(t, 10*time.Second, "targets: [] applied", func() bool {
		return reloads()[reloadOK] == 1 && c.Stats().TargetsAssigned == 0
	})
}

// At start-up a targets file without a targets list is a one-line error
// naming the file; "targets: []" starts with no targets.
func TestTargetsFileEmptyAtStartUp(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	dir := t.TempDir()
	for _, v := range noTargetsVersions {
		file := filepath.Join(dir, strings.ReplaceAll(v.name, " ", "-")+".yaml")
		writeFile(t, file, v.content)
		cfg := testConfig("c1")
		cfg.TargetsFile = file
		c, err := New(cfg, Dependencies{Kafka: kc})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), file+": no targets list") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line error naming the file", v.name, err)
		}
		_ = c.Stop()
	}
	file := filepath.Join(dir, "none.yaml")
	writeFile(t, file, "targets: []\n")
	cfg := testConfig("c1")
	cfg.TargetsFile = file
	c := startCollector(t, cfg, kc)
	if n := c.Stats().TargetsAssigned; n != 0 {
		t.Errorf("targets: [] started %d targets", n)
	}
}
