// Package kafka turns the kafka configuration section into franz-go client
// options and creates the pipeline's topics.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/meshtelemetry/telemetry/common/tlsfiles"
)

// Default topic names (the kafka section's topics override them).
const (
	TopicSamples      = "telemetry.samples"
	TopicKPIs         = "telemetry.kpis"
	TopicRemediations = "telemetry.remediations"
	TopicDeadLetter   = "telemetry.deadletter"
)

// Topics names the pipeline's topics.
type Topics struct {
	Samples      string `yaml:"samples"`
	KPIs         string `yaml:"kpis"`
	Remediations string `yaml:"remediations"`
	DeadLetter   string `yaml:"deadletter"`
}

// All lists the pipeline's topics.
func (t Topics) All() []string { return []string{t.Samples, t.KPIs, t.Remediations, t.DeadLetter} }

// TLS configures TLS to the brokers.
type TLS struct {
	Enable     bool   `yaml:"enable"`
	CAFile     string `yaml:"ca-file"`
	CertFile   string `yaml:"cert-file"`
	KeyFile    string `yaml:"key-file"`
	SkipVerify bool   `yaml:"skip-verify"`
}

// SASL configures SASL/SCRAM authentication.
type SASL struct {
	// Mechanism: "" (none), "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password, or PasswordFile to read it from (preferred: keeps it out of the config).
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password-file"`
}

// Configuration is the kafka section.
type Configuration struct {
	// Brokers to bootstrap from. Default 127.0.0.1:9092.
	Brokers  []string `yaml:"brokers"`
	ClientID string   `yaml:"client-id"`
	Topics   Topics   `yaml:"topics"`
	// Partitions and ReplicationFactor for topics the pipeline creates.
	Partitions        int32 `yaml:"partitions"`
	ReplicationFactor int16 `yaml:"replication-factor"`
	TLS               TLS   `yaml:"tls"`
	SASL              SASL  `yaml:"sasl"`
	// DialTimeout bounds connecting to a broker.
	DialTimeout time.Duration `yaml:"dial-timeout"`
	// InstanceID, when set, makes this process a static member of its
	// consumer groups (Kafka group.instance.id, KIP-345): a restarted
	// process with the same id gets its partitions back at once, without
	// a rebalance and without waiting for the session timeout of its
	// crashed predecessor. It must be unique per process (e.g. the pod
	// name of a StatefulSet); every consumer group of the process uses it.
	// A static member does not leave its group when it stops: its
	// partitions wait for it (or for the session timeout) even after a
	// clean stop. "" (default): dynamic membership.
	InstanceID string `yaml:"instance-id"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		Brokers:  []string{"127.0.0.1:9092"},
		ClientID: "telemetry",
		Topics: Topics{
			Samples:      TopicSamples,
			KPIs:         TopicKPIs,
			Remediations: TopicRemediations,
			DeadLetter:   TopicDeadLetter,
		},
		Partitions:        8,
		ReplicationFactor: 1,
		DialTimeout:       10 * time.Second,
	}
}

// Validate checks the section.
func (c *Configuration) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("brokers: must list at least one host:port")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("brokers: %q is not host:port", b)
		}
	}
	for k, v := range map[string]string{"samples": c.Topics.Samples, "kpis": c.Topics.KPIs,
		"remediations": c.Topics.Remediations, "deadletter": c.Topics.DeadLetter} {
		if v == "" {
			return fmt.Errorf("topics.%s: must not be empty", k)
		}
	}
	if c.Partitions < 1 {
		return errors.New("partitions: must be at least 1")
	}
	if c.ReplicationFactor < 1 {
		return errors.New("replication-factor: must be at least 1")
	}
	switch c.SASL.Mechanism {
	case "", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("sasl.mechanism: %q is not SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism)
	}
	if c.SASL.Mechanism != "" && c.SASL.Username == "" {
		return errors.New("sasl.username: required with sasl.mechanism")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls.cert-file: cert-file and key-file go together")
	}
	if err := validInstanceID(c.InstanceID); err != nil {
		return fmt.Errorf("instance-id: %w", err)
	}
	return nil
}

// validInstanceID checks a group.instance.id the way Kafka checks it
// (249 characters at most of ASCII letters, digits, '.', '_' and '-'); ""
// is valid (no static membership).
func validInstanceID(id string) error {
	if len(id) > 249 {
		return fmt.Errorf("%d characters, at most 249", len(id))
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%q is not allowed", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: only ASCII letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

// Opts returns the franz-go options for connecting (seeds, TLS, SASL) and,
// with InstanceID set, static group membership (kgo.InstanceID; franz-go
// ignores it in clients without a consumer group). Callers add their
// producer or consumer options.
func (c *Configuration) Opts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.DialTimeout),
	}
	if c.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.InstanceID))
	}
	if c.TLS.Enable {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		pw := c.SASL.Password
		if c.SASL.PasswordFile != "" {
			b, err := os.ReadFile(c.SASL.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("kafka sasl password-file: %w", err)
			}
			pw = strings.TrimSpace(string(b))
		}
		auth := scram.Auth{User: c.SASL.Username, Pass: pw}
		if c.SASL.Mechanism == "SCRAM-SHA-512" {
			opts = append(opts, kgo.SASL(auth.AsSha512Mechanism()))
		} else {
			opts = append(opts, kgo.SASL(auth.AsSha256Mechanism()))
		}
	}
	return opts, nil
}

func (c *Configuration) tlsConfig() (*tls.Config, error) {
	tc, err := tlsfiles.Client{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, SkipVerify: c.TLS.SkipVerify}.Config()
	if err != nil {
		return nil, fmt.Errorf("kafka tls %w", err)
	}
	return tc, nil
}

// EnsureTopics creates the pipeline's topics when they do not exist yet.
func (c *Configuration) EnsureTopics(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, c.Partitions, c.ReplicationFactor, nil, c.Topics.All()...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// Logger adapts log to franz-go's kgo.Logger: the client's messages at
// level and above go to log with their key-values. franz-go reports
// connection, TLS and SASL failures at Warn and Error (e.g. "unable to
// initialize sasl"), which are otherwise only seen as a produce or fetch
// timing out. The client never logs the SASL password at any level (see
// security.TestRealKafkaSASLSSL).
func Logger(log *slog.Logger, level kgo.LogLevel) kgo.Logger {
	return &kgoLogger{log: log.With("client", "kafka"), level: level}
}

// WithLogger is kgo.WithLogger(Logger(log, kgo.LogLevelWarn)): append it to
// Opts() so that authentication and TLS failures reach the process log.
func WithLogger(log *slog.Logger) kgo.Opt {
	return kgo.WithLogger(Logger(log, kgo.LogLevelWarn))
}

type kgoLogger struct {
	log   *slog.Logger
	level kgo.LogLevel
}

func (l *kgoLogger) Level() kgo.LogLevel { return l.level }

func (l *kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	sl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	}
	l.log.Log(context.Background(), sl, msg, keyvals...)
}
