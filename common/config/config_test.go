package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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

// numbers is a section with integers of every width, for the range checks.
type numbers struct {
	Partitions int32         `yaml:"partitions"`
	Small      int8          `yaml:"small"`
	Count      uint16        `yaml:"count"`
	Big        int64         `yaml:"big"`
	Ratio      float32       `yaml:"ratio"`
	Wait       time.Duration `yaml:"wait"`
	Limits     []struct {
		Max int `yaml:"max"`
	} `yaml:"limits"`
	Per map[string]uint32 `yaml:"per"`
}

type numbersRoot struct {
	Kafka numbers `yaml:"kafka"`
}

// TestEnvIntegersInRange: an environment integer that does not fit its
// key's type is an error naming the key and the variable (4294967297 for
// an int32 was stored as 1).
func TestEnvIntegersInRange(t *testing.T) {
	for env, want := range map[string]string{
		"TELEMETRY_KAFKA_PARTITIONS=4294967297":   "kafka.partitions (from TELEMETRY_KAFKA_PARTITIONS): out of range (int32)",
		"TELEMETRY_KAFKA_PARTITIONS=-2147483649":  "kafka.partitions (from TELEMETRY_KAFKA_PARTITIONS): out of range (int32)",
		"TELEMETRY_KAFKA_SMALL=128":               "kafka.small (from TELEMETRY_KAFKA_SMALL): out of range (int8)",
		"TELEMETRY_KAFKA_COUNT=65536":             "kafka.count (from TELEMETRY_KAFKA_COUNT): out of range (uint16)",
		"TELEMETRY_KAFKA_COUNT=-1":                "kafka.count (from TELEMETRY_KAFKA_COUNT): not a non-negative integer",
		"TELEMETRY_KAFKA_BIG=9223372036854775808": "kafka.big (from TELEMETRY_KAFKA_BIG): out of range (int64)",
		"TELEMETRY_KAFKA_PARTITIONS=1.5":          "kafka.partitions (from TELEMETRY_KAFKA_PARTITIONS): not an integer",
		"TELEMETRY_KAFKA_COUNT=2.0":               "kafka.count (from TELEMETRY_KAFKA_COUNT): not a non-negative integer",
		"TELEMETRY_KAFKA_RATIO=1e39":              "kafka.ratio (from TELEMETRY_KAFKA_RATIO)",
	} {
		t.Run(env, func(t *testing.T) {
			var c numbersRoot
			err := Load("", &c, []string{env})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q (loaded %+v)", err, want, c.Kafka)
			}
		})
	}
	var c numbersRoot
	if err := Load("", &c, []string{"TELEMETRY_KAFKA_PARTITIONS=2147483647", "TELEMETRY_KAFKA_SMALL=-128",
		"TELEMETRY_KAFKA_COUNT=65535", "TELEMETRY_KAFKA_BIG=-9223372036854775808"}); err != nil {
		t.Fatal(err)
	}
	if k := c.Kafka; k.Partitions != 2147483647 || k.Small != -128 || k.Count != 65535 || k.Big != -9223372036854775808 {
		t.Fatalf("limits not stored: %+v", k)
	}
}

// TestFileNumbersMatchTheirKeys: a fraction or an exponent for an integer
// key is an error naming the key (YAML's 1.5 was cut to 1), and so is an
// integer out of its key's range; in lists and maps too.
func TestFileNumbersMatchTheirKeys(t *testing.T) {
	for body, want := range map[string]string{
		"kafka:\n  partitions: 1.5\n":                   "line 2: kafka.partitions: not an integer: 1.5",
		"kafka:\n  partitions: 1e3\n":                   "line 2: kafka.partitions: not an integer: 1e3",
		"kafka:\n  partitions: -.inf\n":                 "line 2: kafka.partitions: not an integer: -.inf",
		"kafka:\n  count: .nan\n":                       "line 2: kafka.count: not an integer: .nan",
		"kafka:\n  partitions: 4294967297\n":            "line 2: kafka.partitions: out of range (int32): 4294967297",
		"kafka:\n  small: 0x80\n":                       "line 2: kafka.small: out of range (int8): 0x80",
		"kafka:\n  count: -1\n":                         "line 2: kafka.count: must not be negative: -1",
		"kafka:\n  limits:\n  - max: 2\n  - max: 2.5\n": "line 4: kafka.limits[1].max: not an integer: 2.5",
		"kafka:\n  per:\n    a: 1\n    b: 1.25\n":       "line 4: kafka.per.b: not an integer: 1.25",
		"x: &x 1.5\nkafka:\n  partitions: *x\n":         "line 1: kafka.partitions: not an integer: 1.5",
		"kafka:\n  partitions: 1.5\n  small: 3.5\n":     "kafka.partitions: not an integer: 1.5; line 3: kafka.small: not an integer: 3.5",
	} {
		t.Run(body, func(t *testing.T) {
			var c numbersRoot
			err := Load(write(t, body), &c, nil)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q (loaded %+v)", err, want, c.Kafka)
			}
		})
	}
	// What is an integer stays accepted, in every YAML notation.
	var c numbersRoot
	body := "kafka:\n  partitions: 2_147_483_647\n  small: -0x80\n  count: 0o17\n  big: -9223372036854775808\n" +
		"  ratio: 0.5\n  wait: 1.5s\n  limits:\n  - max: 7\n  per:\n    a: 4294967295\n"
	if err := Load(write(t, body), &c, nil); err != nil {
		t.Fatal(err)
	}
	if k := c.Kafka; k.Partitions != 2147483647 || k.Small != -128 || k.Count != 15 || k.Big != -9223372036854775808 ||
		k.Ratio != 0.5 || k.Wait != 1500*time.Millisecond || k.Limits[0].Max != 7 || k.Per["a"] != 4294967295 {
		t.Fatalf("loaded %+v", k)
	}
}

// TestSecondDocumentRefused: what a second YAML document says would be
// ignored, so a file with two is refused; empty documents (a "---" alone)
// are not documents of settings.
func TestSecondDocumentRefused(t *testing.T) {
	for _, body := range []string{
		"kafka:\n  brokers: [a:1]\n---\nkafka:\n  brokers: [b:1]\n",
		"---\nkafka:\n  brokers: [a:1]\n---\nkafka:\n  timeout: 1s\n",
		"kafka:\n  brokers: [a:1]\n---\n",
	} {
		var c root
		err := Load(write(t, body), &c, nil)
		if strings.Count(body, "kafka") == 1 {
			if err != nil || c.Kafka.Brokers[0] != "a:1" {
				t.Errorf("%q: %v, %+v", body, err, c)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "a second YAML document") {
			t.Errorf("%q: error %v, want a second document refused", body, err)
		}
	}
	// An empty first document is skipped: the settings in the next are read.
	var c root
	if err := Load(write(t, "---\n# nothing yet\n---\nkafka:\n  brokers: [z:1]\n"), &c, nil); err != nil || c.Kafka.Brokers[0] != "z:1" {
		t.Fatalf("%v, %+v", err, c)
	}
}

// TestUnknownEnvNamesTheNearestKey: a TELEMETRY_ variable that is no key
// is warned about, with the nearest key when one is close; the test kit's
// and the long suites' variables, those a -env key names and secrets with
// no key close to them are not.
func TestUnknownEnvNamesTheNearestKey(t *testing.T) {
	type hook struct {
		SecretEnv string `yaml:"secret-env"`
	}
	type sec struct {
		Brokers     []string `yaml:"brokers"`
		Timeout     string   `yaml:"timeout"`
		PasswordEnv string   `yaml:"password-env"`
		Password    string   `yaml:"password"`
		Hooks       []hook   `yaml:"webhooks"`
	}
	type cfgRoot struct {
		Kafka sec `yaml:"kafka"`
	}
	c := cfgRoot{Kafka: sec{PasswordEnv: "TELEMETRY_SASL_SECRET_X", Hooks: []hook{{SecretEnv: "TELEMETRY_HOOK_KEY"}}}}
	got := UnknownEnv(&c, []string{
		"TELEMETRY_KAFKA_BROKER=a:1",     // misspelt
		"TELEMETRY_KAFKA_TIMEOUTS=1s",    // misspelt
		"TELEMETRY_KAFKA_BROKERS=a:1",    // a key
		"TELEMETRY_NOTHING_LIKE_IT=1",    // far from every key
		"TELEMETRY_TEST_KAFKA=127.0.0.1", // test kit
		"TELEMETRY_SOAK=10m", "TELEMETRY_SOAK_SITES=2", "TELEMETRY_BENCH=1", "TELEMETRY_SERVICES_DIR=/x",
		"TELEMETRY_SASL_SECRET_X=s", "TELEMETRY_HOOK_KEY=k", // named by -env keys
		"TELEMETRY_GNMI_PASSWORD=pw", // a secret a targets file may name
		"TELEMETRY_KAFKA_BROKER=again", "OTHER_KAFKA_BROKER=1", "TELEMETRY_=1",
	})
	want := []string{
		"TELEMETRY_ is not a setting (telemetry config keys lists them); ignored",
		"TELEMETRY_KAFKA_BROKER is not a setting; did you mean TELEMETRY_KAFKA_BROKERS?",
		"TELEMETRY_KAFKA_TIMEOUTS is not a setting; did you mean TELEMETRY_KAFKA_TIMEOUT?",
		"TELEMETRY_NOTHING_LIKE_IT is not a setting (telemetry config keys lists them); ignored",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("warnings\n%q\nwant\n%q", got, want)
	}
	// A secret-looking variable close to a key is a misspelling: warned.
	got = UnknownEnv(&c, []string{"TELEMETRY_KAFKA_PASSWD=x"})
	if len(got) != 1 || !strings.Contains(got[0], "did you mean TELEMETRY_KAFKA_PASSWORD?") {
		t.Fatalf("got %q", got)
	}
}
