package remediation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// noRulesVersions are what a rules file looks like while an editor or a
// configuration tool rewrites it (truncated, then written), or when it is
// emptied by mistake: each must be refused, never read as "no rules".
var noRulesVersions = map[string]string{
	"truncated":     "",
	"whitespace":    " \n\t\n   \n",
	"comments only": "# rules for the fabric\n# (being rewritten)\n",
	"null rules":    "rules:\n",
	"document only": "---\n",
}

// A running remediator (real Kafka) whose rules file is truncated, blank,
// comments only or has a null rules list refuses each version — counted
// as a reload error, logged with the reason — and keeps evaluating the
// rules in force: a breaching KPI still fires. A file that says "rules: []"
// is accepted and applied: the next breach fires nothing.
func TestRulesFileEmptiedKeepsTheRulesInForce(t *testing.T) {
	k := realKafka(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - {name: loss, kpi: link.loss_ratio, threshold: {op: '>', value: 0.01}}\n")
	cfg := DefaultConfiguration()
	cfg.RulesFile = file
	cfg.ReloadInterval = 20 * time.Millisecond
	cfg.Dispatcher = false
	cfg.Warmup = 0
	cfg.GroupID = "test-remediate-" + suffix()
	var logs testenv.Logs
	r, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Registerer: prometheus.NewRegistry(), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(); deleteGroups(t, k, cfg.GroupID) })

	errs := uint64(0)
	for name, content := range noRulesVersions {
		write(content)
		errs++
		testenv.Eventually(t, 5*time.Second, name+" refused", func() bool { return r.Stats().ReloadErrs == errs })
		if st := r.Stats(); st.Rules != 1 || st.Reloads != 0 || len(r.rules.Load().rules) != 1 {
			t.Fatalf("%s: the rules in force changed: %+v", name, st)
		}
	}
	if out := logs.String(); strings.Count(out, "no rules list") < len(noRulesVersions) || !strings.Contains(out, `rules: []`) {
		t.Errorf("the refusals are not logged with their reason:\n%s", out)
	}

	// The rule in force still fires.
	prod := client(t, k)
	t0 := testenv.Now().Add(-time.Minute).Truncate(10 * time.Second)
	breach := func(src, dst string) {
		kp := linkKPI(t0, t0.Add(10*time.Second), src, dst, 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	breach("par", "lon")
	firing := func() []*wirepb.RemediationEvent {
		recs := readAll(t, k, k.Topics.Remediations, 200*time.Millisecond, func([]*kgo.Record) bool { return false })
		var out []*wirepb.RemediationEvent
		for _, ev := range transitions(t, recs) {
			if ev.State == wirepb.EventState_FIRING {
				out = append(out, ev)
			}
		}
		return out
	}
	testenv.Eventually(t, 15*time.Second, "the rule in force fires", func() bool { return len(firing()) == 1 })

	// An explicit empty list is a choice: applied.
	write("# no remediation for now\nrules: []\n")
	testenv.Eventually(t, 5*time.Second, "rules: [] applied", func() bool { st := r.Stats(); return st.Reloads == 1 && st.Rules == 0 })
	breach("fra", "lon")
	testenv.Eventually(t, 15*time.Second, "the second breach evaluated", func() bool { return r.Stats().KPIs >= 2 })
	if evs := firing(); len(evs) != 1 || evs[0].Site != "par" {
		t.Errorf("firing transitions %v, want only the one before rules: []", evs)
	}
}

// At start-up a rules file without a rules list is a one-line error naming
// the file; "rules: []" starts with no rules.
func TestRulesFileEmptyAtStartUp(t *testing.T) {
	dir := t.TempDir()
	for name, content := range noRulesVersions {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfiguration()
		cfg.RulesFile = file
		_, err := New(cfg, Dependencies{Kafka: &kafka.Configuration{}})
		if err == nil || !strings.Contains(err.Error(), "rules-file "+file+": no rules list") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line error naming the file", name, err)
		}
	}
	file := filepath.Join(dir, "none.yaml")
	if err := os.WriteFile(file, []byte("rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.RulesFile = file
	r, err := New(cfg, Dependencies{Kafka: &kafka.Configuration{}})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Stats().Rules; n != 0 {
		t.Errorf("rules: [] loaded %d rules", n)
	}
}
