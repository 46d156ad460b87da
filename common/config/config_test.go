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

func TestKeysRedactsSecrets(t *testing.T) {
	type hook struct {
		Name       string            `yaml:"name"`
		URL        string            `yaml:"url"`
		Secret     string            `yaml:"secret"`
		SecretFile string            `yaml:"secret-file"`
		Headers    map[string]string `yaml:"headers"`
	}
	type sasl struct {
		Username     string `yaml:"username"`
		Password     string `yaml:"password"`
		PasswordFile string `yaml:"password-file"`
	}
	type sec struct {
		SASL     sasl              `yaml:"sasl"`
		Token    string            `yaml:"token"`
		Empty    string            `yaml:"password"`
		Hooks    []hook            `yaml:"webhooks"`
		Ptr      *sasl             `yaml:"ptr"`
		Settings map[string]string `yaml:"settings"`
	}
	type cfgRoot struct {
		S sec `yaml:"s"`
	}
	c := cfgRoot{S: sec{
		SASL:  sasl{Username: "alice", Password: "pw-1", PasswordFile: "/run/secrets/pw"},
		Token: "tok-2",
		Hooks: []hook{{Name: "argo", URL: "https://bot:urlpw-8@argocd.example/api", Secret: "whsec_sec3", SecretFile: "/run/whsec",
			Headers: map[string]string{"Authorization": "Bearer tok-4", "X-Api-Key": "key-5", "X-Request-Source": "telemetry"}}},
		Ptr:      &sasl{Password: "pw-6"},
		Settings: map[string]string{"session-token": "tok-7", "region": "eu"},
	}}
	keys := Keys(&c)
	got := map[string]string{}
	var all strings.Builder
	for _, k := range keys {
		got[k[0]] = k[2]
		all.WriteString(k[0] + "=" + k[2] + "\n")
	}
	for _, secret := range []string{"pw-1", "tok-2", "whsec_sec3", "tok-4", "key-5", "pw-6", "tok-7", "urlpw-8"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("Keys shows secret %q:\n%s", secret, all.String())
		}
	}
	for k, want := range map[string]string{"s.sasl.password": Redacted, "s.sasl.username": "alice",
		"s.sasl.password-file": "/run/secrets/pw", "s.token": Redacted, "s.password": ""} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, shown := range []string{"argo", "/run/whsec", "telemetry", "eu", "https://bot:xxxxx@argocd.example/api"} {
		if !strings.Contains(all.String(), shown) {
			t.Errorf("Keys hides non-secret %q:\n%s", shown, all.String())
		}
	}
	// Nothing is modified in place.
	if c.S.SASL.Password != "pw-1" || c.S.Hooks[0].Secret != "whsec_sec3" ||
		c.S.Hooks[0].Headers["Authorization"] != "Bearer tok-4" || c.S.Ptr.Password != "pw-6" {
		t.Fatalf("Keys modified the configuration: %+v", c)
	}
}

func TestIsSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "kafka.sasl.password": true, "smtp-password": true, "secret": true,
		"token": true, "Authorization": true, "X-Api-Key": true, "X_AUTH_TOKEN": true,
		"password-file": false, "secret-env": false, "token-file": false, "key-file": false,
		"username": false, "tokens-per-second": false, "max-updates-per-second": false, "keys": false,
	} {
		if got := IsSecret(name); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", name, got, want)
		}
	}
}
