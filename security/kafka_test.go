package security

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
)

// startKfake starts an in-process Kafka broker on loopback with opts and
// returns its address.
func startKfake(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "secure")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// kafkaConfig is the kafka section pointing at brokers.
func kafkaConfig(brokers []string) kafka.Configuration {
	c := kafka.DefaultConfiguration()
	c.Brokers = brokers
	c.DialTimeout = 3 * time.Second
	return c
}

// roundTrip produces one record through cfg.Opts() and consumes it back.
func roundTrip(t *testing.T, cfg kafka.Configuration) error {
	t.Helper()
	return roundTripWithin(t, cfg, 10*time.Second)
}

// roundTripWithin is roundTrip bounded by limit (negative cases use a short one).
func roundTripWithin(t *testing.T, cfg kafka.Configuration, limit time.Duration) error {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	opts, err := cfg.Opts()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics("secure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequestRetries(1),
		kgo.RecordRetries(1),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	value := "sample " + t.Name()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte(value)}).FirstErr(); err != nil {
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			return fe.Err
		}
		var found bool
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == value })
		if found {
			return nil
		}
	}
}

// pingErr connects with cfg.Opts() and returns the first error (nil when
// the broker answers).
func pingErr(t *testing.T, cfg kafka.Configuration) error {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.RequestRetries(0))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestKafkaTLS(t *testing.T) {
	p := newPKI(t, "kafka")
	brokers := startKfake(t, kfake.TLS(p.serverTLS()))
	cfg := kafkaConfig(brokers)
	cfg.TLS.Enable = true
	cfg.TLS.CAFile = p.CAFile
	if err := roundTrip(t, cfg); err != nil {
		t.Fatalf("produce+consume over TLS with the right CA: %v", err)
	}

	t.Run("unknown CA", func(t *testing.T) {
		other := newPKI(t, "other")
		bad := cfg
		bad.TLS.CAFile = other.CAFile
		err := pingErr(t, bad)
		var ua x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &ua) && !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("want an unknown-authority error, got %v", err)
		}
		t.Logf("unknown CA: %v", err)
	})
	t.Run("plaintext client to TLS broker", func(t *testing.T) {
		plain := cfg
		plain.TLS = kafka.TLS{}
		if err := pingErr(t, plain); err == nil {
			t.Fatal("a plaintext client reached a TLS-only broker")
		}
	})
	t.Run("missing ca-file", func(t *testing.T) {
		bad := cfg
		bad.TLS.CAFile = p.CAFile + ".missing"
		if _, err := bad.Opts(); err == nil || !strings.Contains(err.Error(), "kafka tls ca-file") {
			t.Fatalf("want a kafka tls ca-file error, got %v", err)
		}
	})
}

func TestKafkaSCRAM(t *testing.T) {
	p := newPKI(t, "kafka")
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			password := randomSecret(t, "kafka-pw")
			brokers := startKfake(t, kfake.TLS(p.serverTLS()), kfake.EnableSASL(),
				kfake.Superuser(mech, "telemetry", password))
			cfg := kafkaConfig(brokers)
			cfg.TLS.Enable = true
			cfg.TLS.CAFile = p.CAFile
			cfg.SASL.Mechanism = mech
			cfg.SASL.Username = "telemetry"

			// password-file (trailing newline trimmed), the recommended way.
			cfg.SASL.PasswordFile = writeSecret(t, "kafka.pw", password)
			if err := roundTrip(t, cfg); err != nil {
				t.Fatalf("produce+consume with %s from password-file: %v", mech, err)
			}
			// inline password (e.g. from TELEMETRY_KAFKA_SASL_PASSWORD).
			inline := cfg
			inline.SASL.PasswordFile = ""
			inline.SASL.Password = password
			if err := roundTrip(t, inline); err != nil {
				t.Fatalf("produce+consume with %s inline password: %v", mech, err)
			}

			wrong := inline
			wrong.SASL.Password = password + "x"
			// A real broker answers SASL_AUTHENTICATION_FAILED; kfake
			// closes the connection on a bad SCRAM proof, which the
			// client reports as EOF. Either way nothing is produced.
			err := pingErr(t, wrong)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) && !errors.Is(err, io.EOF) {
				t.Fatalf("wrong password: want SASL_AUTHENTICATION_FAILED (or kfake's EOF), got %v", err)
			}
			if err := roundTripWithin(t, wrong, 2*time.Second); err == nil {
				t.Fatal("produced with a wrong password")
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the auth error contains the password: %v", err)
			}
			t.Logf("wrong password: %v", err)

			none := inline
			none.SASL = kafka.SASL{}
			if err := roundTripWithin(t, none, 2*time.Second); err == nil {
				t.Fatal("a client without SASL produced to a SASL broker")
			}
			other := inline
			if mech == "SCRAM-SHA-256" {
				other.SASL.Mechanism = "SCRAM-SHA-512"
			} else {
				other.SASL.Mechanism = "SCRAM-SHA-256"
			}
			if err := pingErr(t, other); err == nil {
				t.Fatalf("%s credentials accepted with %s", mech, other.SASL.Mechanism)
			}
		})
	}
	t.Run("missing password-file", func(t *testing.T) {
		cfg := kafkaConfig([]string{"127.0.0.1:1"})
		cfg.SASL = kafka.SASL{Mechanism: "SCRAM-SHA-256", Username: "u", PasswordFile: "/nonexistent/pw"}
		if _, err := cfg.Opts(); err == nil || !strings.Contains(err.Error(), "kafka sasl password-file") {
			t.Fatalf("want a kafka sasl password-file error, got %v", err)
		}
	})
}
