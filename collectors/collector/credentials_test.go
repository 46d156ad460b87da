package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// credTarget is one target line of a targets file, with credentials.
func credTarget(name, addr, cred string) string {
	return fmt.Sprintf("  - {name: %s, address: %q, username: gnmi, cleartext-credentials: true, %s}\n", name, addr, cred)
}

// The rule for credentials named by a targets file, on a running collector
// against a simulator that requires a username and password: password-env
// must name a GNMI_* variable and password-file must lie in the
// credentials directory (the targets file's own by default; relative
// paths from it; symbolic links resolved when read). A file pointing at
// the process's own secrets (TELEMETRY_CLICKHOUSE_PASSWORD), at a file
// elsewhere or escaping through ".." is refused and the targets in force
// stay; a link leading outside is refused when read. No secret is logged.
func TestTargetsFileCredentialRule(t *testing.T) {
	const gnmiPW, chPW, outsidePW = "gnmi-s3cr3t-pw", "ch-s3cr3t-of-the-pipeline", "outside-s3cr3t-file"
	scfg := simulator.DefaultConfiguration()
	scfg.Listen = "127.0.0.1:0"
	scfg.Sites, scfg.SwitchesPerSite, scfg.InterfacesPerSwitch = 4, 1, 1
	scfg.Username, scfg.Password = "gnmi", gnmiPW
	sim, err := simulator.New(scfg, simulator.Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop() })
	names := []string{}
	for _, tg := range sim.Targets() {
		names = append(names, tg.Name)
	}
	addr := sim.Addr()

	t.Setenv("GNMI_TEST_COLLECTOR_PW", gnmiPW)
	t.Setenv("TELEMETRY_CLICKHOUSE_PASSWORD", chPW)
	dir, outside := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "gnmi.pw"), gnmiPW+"\n")
	writeFile(t, filepath.Join(outside, "other.pw"), outsidePW+"\n")
	if err := os.Symlink(filepath.Join(outside, "other.pw"), filepath.Join(dir, "link.pw")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "targets.yaml")
	base := "targets:\n" + credTarget(names[0], addr, "password-env: GNMI_TEST_COLLECTOR_PW") +
		credTarget(names[1], addr, "password-file: gnmi.pw") // relative to the targets file
	writeFile(t, file, base)

	kc, _ := kafkatest.Fake(t, 1)
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
	testenv.Eventually(t, 15*time.Second, "both targets up with their credentials", func() bool {
		return stateOf(c, names[0]) == StateUp && stateOf(c, names[1]) == StateUp
	})
	reloads := func() map[string]float64 {
		return testenv.Series(t, reg, "telemetry_collector_targets_file_reloads_total", "result")
	}

	errs := reloads()[reloadError]
	for _, bad := range []struct{ cred, want string }{
		{"password-env: TELEMETRY_CLICKHOUSE_PASSWORD", `TELEMETRY_CLICKHOUSE_PASSWORD\": a targets file may only name variables starting with GNMI_`},
		{"password-env: HOME", "may only name variables starting with GNMI_"},
		{"password-file: " + filepath.Join(outside, "other.pw"), "is outside " + dir},
		{"password-file: ../" + filepath.Base(outside) + "/other.pw", "is outside " + dir},
		{"password-file: /etc/passwd", "is outside " + dir},
	} {
		writeFile(t, file, base+credTarget(names[2], addr, bad.cred))
		errs++
		testenv.Eventually(t, 5*time.Second, bad.cred+" refused", func() bool { return reloads()[reloadError] == errs })
		if !strings.Contains(logs.String(), bad.want) {
			t.Errorf("%s: the log does not give the reason %q", bad.cred, bad.want)
		}
		if stateOf(c, names[2]) != "" || stateOf(c, names[0]) != StateUp || stateOf(c, names[1]) != StateUp {
			t.Fatalf("%s: the targets in force changed: %+v", bad.cred, c.Targets())
		}
	}

	// A symbolic link inside the directory that leads outside: accepted
	// by its name, refused when read (cause config); nothing sent.
	writeFile(t, file, base+credTarget(names[2], addr, "password-file: link.pw"))
	testenv.Eventually(t, 10*time.Second, "the link refused when read", func() bool {
		for _, ts := range c.Targets() {
			if ts.Name == names[2] {
				return ts.Errors["config"] > 0 && strings.Contains(ts.LastError, "leads outside")
			}
		}
		return false
	})
	if s := stateOf(c, names[2]); s == StateUp {
		t.Errorf("%s up with a password read through a link leading outside", names[2])
	}

	// credentials-dir elsewhere: a password-file there is accepted.
	credDir := t.TempDir()
	writeFile(t, filepath.Join(credDir, "gnmi.pw"), gnmiPW+"\n")
	cfg2 := testConfig("c2")
	cfg2.TargetsFile = filepath.Join(dir, "targets2.yaml")
	cfg2.CredentialsDir = credDir
	writeFile(t, cfg2.TargetsFile, "targets:\n"+credTarget(names[3], addr, "password-file: "+filepath.Join(credDir, "gnmi.pw")))
	c2 := startCollector(t, cfg2, kc)
	testenv.Eventually(t, 15*time.Second, "a password-file in credentials-dir", func() bool { return stateOf(c2, names[3]) == StateUp })

	for _, s := range []string{gnmiPW, chPW, outsidePW} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log shows a secret (%.6s…)", s)
		}
	}
}

// Credentials over an insecure target are refused unless
// cleartext-credentials says so: in the configuration, in target-defaults
// and in the targets file.
func TestCleartextCredentialsRefused(t *testing.T) {
	cfg := testConfig("c1") // target-defaults: insecure
	cfg.Targets = []TargetConfig{{Name: "s1-a", Address: "127.0.0.1:1", Username: "gnmi", Password: "x"}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "targets[0].insecure: the username and password would travel in clear text") {
		t.Errorf("Validate: %v, want targets[0].insecure refused", err)
	}
	cfg.Targets[0].CleartextCredentials = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("with cleartext-credentials: %v", err)
	}
	cfg.Targets[0].CleartextCredentials = false
	cfg.TargetDefaults.CleartextCredentials = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("with target-defaults.cleartext-credentials: %v", err)
	}
	cfg.TargetDefaults.CleartextCredentials = false
	cfg.Targets[0].TLS.CAFile = "ca.pem" // TLS: the defaults' insecure does not apply
	if err := cfg.Validate(); err != nil {
		t.Errorf("over TLS: %v", err)
	}
	_, err := parseTargetsFile([]byte("targets:\n  - {name: s1-a, address: '127.0.0.1:1', insecure: true, username: gnmi, password-env: GNMI_X}\n"), TargetConfig{})
	if err == nil || !strings.Contains(err.Error(), "targets[0].insecure:") {
		t.Errorf("targets file: %v, want targets[0].insecure refused", err)
	}
}
