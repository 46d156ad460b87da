package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestHelpListsEverySubcommand(t *testing.T) {
	out, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"simulate", "collect", "process", "remediate", "sink", "migrate", "dashboards", "report", "demo", "version"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("--help does not list %q:\n%s", sub, out)
		}
	}
}

func TestEverySubcommandHasHelpAndConfigFlag(t *testing.T) {
	for _, sub := range []string{"simulate", "collect", "process", "remediate", "sink", "migrate", "dashboards", "report", "demo"} {
		out, err := run(t, sub, "--help")
		if err != nil {
			t.Fatalf("%s --help: %v", sub, err)
		}
		if !strings.Contains(out, "--config") {
			t.Errorf("%s --help does not mention --config", sub)
		}
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ file, env, want string }{
		"unknown section key": {"kafka:\n  brokerz: [x]\n", "", "brokerz"},
		"invalid value":       {"kafka:\n  brokers: [nohostport]\n", "", "kafka.brokers"},
		"bad env":             {"", "TELEMETRY_HTTP_LOG_LEVEL=loud", "http.log-level"},
		"env out of range":    {"", "TELEMETRY_KAFKA_PARTITIONS=4294967297", "kafka.partitions (from TELEMETRY_KAFKA_PARTITIONS): out of range"},
		"fraction in file":    {"collect:\n  buffer:\n    max-records: 1.5\n", "", "collect.buffer.max-records: not an integer: 1.5"},
		"fraction in env":     {"", "TELEMETRY_COLLECT_BUFFER_MAX_RECORDS=1.5", "collect.buffer.max-records (from TELEMETRY_COLLECT_BUFFER_MAX_RECORDS)"},
		"second document":     {"kafka:\n  brokers: [a:1]\n---\nkafka:\n  brokers: [b:1]\n", "", "line 3: a second YAML document"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := []string{"config", "check"}
			if tc.file != "" {
				p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
				if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", p)
			}
			if tc.env != "" {
				k, v, _ := strings.Cut(tc.env, "=")
				t.Setenv(k, v)
			}
			_, err := run(t, args...)
			if err == nil {
				t.Fatal("bad configuration accepted")
			}
			if msg := firstLine(err.Error()); !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not name %q", msg, tc.want)
			}
		})
	}
}

// TestMisspeltEnvWarned: a TELEMETRY_ variable that is no setting is
// logged once at start, with the nearest key; the test kit's are not.
func TestMisspeltEnvWarned(t *testing.T) {
	t.Setenv("TELEMETRY_KAFKA_BROKER", "127.0.0.1:9092")
	t.Setenv("TELEMETRY_TEST_SOMETHING", "1")
	out, err := run(t, "config", "check")
	if err != nil {
		t.Fatal(err)
	}
	const want = "TELEMETRY_KAFKA_BROKER is not a setting; did you mean TELEMETRY_KAFKA_BROKERS?"
	if strings.Count(out, want) != 1 || strings.Contains(out, "TELEMETRY_TEST_SOMETHING") {
		t.Fatalf("want one warning %q, and none about the test kit's variables:\n%s", want, out)
	}
}

func TestConfigKeysListsEnvNames(t *testing.T) {
	out, err := run(t, "config", "keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TELEMETRY_KAFKA_BROKERS", "TELEMETRY_CLICKHOUSE_ADDRESSES", "TELEMETRY_PROCESS_WINDOW"} {
		if !strings.Contains(out, want) {
			t.Errorf("config keys lacks %s", want)
		}
	}
}

// TestComposeConfigIsValid loads the docker-compose configuration with its
// container paths mapped back into the repository.
func TestComposeConfigIsValid(t *testing.T) {
	t.Setenv("TELEMETRY_REMEDIATE_RULES_FILE", "../../deploy/remediation/rules.example.yaml")
	t.Setenv("TELEMETRY_SIMULATE_SCENARIO", "../../deploy/scenarios/demo.yaml")
	t.Setenv("TELEMETRY_COLLECT_TARGETS_FILE", "../../deploy/compose/targets.yaml")
	if out, err := run(t, "config", "check", "--config", "../../deploy/compose/telemetry.yaml"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
