package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type section struct {
	Brokers []string      `yaml:"brokers"`
	Timeout time.Duration `yaml:"timeout"`
	Nested  struct {
		MaxRows int `yaml:"max-rows"`
	} `yaml:"nested"`
}

func (s *section) Validate() error {
	if len(s.Brokers) == 0 {
		return errors.New("brokers: must not be empty")
	}
	return nil
}

type root struct {
	Kafka section `yaml:"kafka"`
}

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileThenEnv(t *testing.T) {
	c := root{Kafka: section{Brokers: []string{"default:9092"}, Timeout: time.Second}}
	p := write(t, "kafka:\n  brokers: [a:1]\n  nested:\n    max-rows: 5\n")
	err := Load(p, &c, []string{"TELEMETRY_KAFKA_TIMEOUT=3s", "TELEMETRY_KAFKA_NESTED_MAX_ROWS=9", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Brokers[0] != "a:1" || c.Kafka.Timeout != 3*time.Second || c.Kafka.Nested.MaxRows != 9 {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	cases := map[string]struct {
		file, env, want string
	}{
		"unknown key":   {"kafka:\n  brokerz: [x]\n", "", "brokerz"},
		"bad env value": {"", "TELEMETRY_KAFKA_TIMEOUT=soon", "kafka.timeout"},
		"validation":    {"kafka:\n  brokers: []\n", "", "kafka.brokers"},
		"wrong type":    {"kafka:\n  timeout: [1]\n", "", "line 2"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := root{Kafka: section{Brokers: []string{"x"}}}
			p := ""
			if tc.file != "" {
				p = write(t, tc.file)
			}
			err := Load(p, &c, []string{tc.env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not name %q", err, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	var c root
	if err := Load(filepath.Join(t.TempDir(), "nope.yaml"), &c, nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("kafka:\n  brokers: [a]\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var c root
		_ = Load(p, &c, nil)
	})
}
