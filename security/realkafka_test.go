package security

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// startSASLSSLKafka starts a private single-node Apache Kafka (KRaft) from
// the jars in TELEMETRY_TEST_KAFKA_LIBS whose only client listener is
// SASL_SSL on 127.0.0.1, with p's certificate (PEM key store) and SCRAM
// users created at format time. It returns the listener address.
func startSASLSSLKafka(t *testing.T, p pki, users map[string]string) string {
	t.Helper()
	libs := testenv.KafkaLibs(t)
	dir := t.TempDir()
	port, iport, cport := freeAddr(t), freeAddr(t), freeAddr(t)
	// Kafka's PEM key store wants the key and the chain in one file.
	key, err := os.ReadFile(p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := os.ReadFile(p.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	keystore := filepath.Join(dir, "keystore.pem")
	if err := os.WriteFile(keystore, append(key, chain...), 0o600); err != nil {
		t.Fatal(err)
	}
	props := strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + cport,
		"listeners=SASL_SSL://" + port + ",INTERNAL://" + iport + ",CONTROLLER://" + cport,
		"advertised.listeners=SASL_SSL://" + port + ",INTERNAL://" + iport,
		"listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"controller.listener.names=CONTROLLER",
		"sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + keystore,
		"log.dirs=" + filepath.Join(dir, "data"),
		"num.partitions=1",
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
		"auto.create.topics.enable=true",
	}, "\n") + "\n"
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	jvm := []string{"-Xms32m", "-Xmx320m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
		"-Djava.awt.headless=true", "-cp", filepath.Join(libs, "*")}
	format := append(append([]string{}, jvm...), "kafka.tools.StorageTool", "format",
		"-t", "c2VjdXJpdHktdGVzdC0xMg", "-c", propsFile, "--ignore-formatted")
	for user, pw := range users {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			format = append(format, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, user, pw))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "java", format...).CombinedOutput(); err != nil {
		t.Fatalf("format kafka storage: %v\n%s", err, tail(string(out), 2000))
	}
	out := &testenv.Logs{}
	cmd := exec.Command("java", append(append([]string{}, jvm...), "kafka.Kafka", propsFile)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kafka output (tail):\n%s", tail(out.String(), 3000))
		}
	})
	return port
}

// TestRealKafkaSASLSSL runs common/kafka's TLS and SCRAM options against a
// real Apache Kafka 4.1 broker whose only client listener is SASL_SSL:
// produce+consume with SCRAM-SHA-256 and SCRAM-SHA-512 (password from a
// file), and a wrong password answered by SASL_AUTHENTICATION_FAILED,
// which kafka.WithLogger reports at ERROR without the password.
func TestRealKafkaSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM")
	}
	p := newPKI(t, "realkafka")
	password := randomSecret(t, "kafka-pw")
	addr := startSASLSSLKafka(t, p, map[string]string{"telemetry": password})

	cfg := kafkaConfig([]string{addr})
	cfg.TLS.Enable, cfg.TLS.CAFile = true, p.CAFile
	cfg.SASL = kafka.SASL{Mechanism: "SCRAM-SHA-512", Username: "telemetry", PasswordFile: writeSecret(t, "kafka.pw", password)}

	// Wait for the broker (a JVM: a few seconds).
	start := time.Now()
	for {
		err := pingErr(t, cfg)
		if err == nil {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("kafka never answered on %s: %v", addr, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("SASL_SSL broker ready after %s", time.Since(start).Round(100*time.Millisecond))
	createTopic(t, cfg, "secure")

	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
		c := cfg
		c.SASL.Mechanism = mech
		if err := roundTrip(t, c); err != nil {
			t.Fatalf("produce+consume over SASL_SSL with %s: %v", mech, err)
		}
	}

	wrong := cfg
	wrong.SASL.PasswordFile, wrong.SASL.Password = "", password+"x"
	opts, err := wrong.Opts()
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Logs
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl, err := kgo.NewClient(append(opts, kafka.WithLogger(log), kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = cl.Ping(ctx)
	cancel()
	cl.Close()
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: want SASL_AUTHENTICATION_FAILED, got %v", err)
	}
	t.Logf("wrong password: %v", err)
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "SASL_AUTHENTICATION_FAILED") {
		t.Errorf("kafka.WithLogger did not report the authentication failure at ERROR:\n%s", logs.String())
	}
	assertNoSecrets(t, "kafka client log", logs.String()+err.Error(), []string{password, password + "x"})

	// A client with the right CA but no SASL cannot use the listener.
	none := cfg
	none.SASL = kafka.SASL{}
	if err := roundTripWithin(t, none, 3*time.Second); err == nil {
		t.Error("produced over SASL_SSL without credentials")
	}
	// TLS with an unknown CA fails the handshake.
	badCA := cfg
	badCA.TLS.CAFile = newPKI(t, "other").CAFile
	if err := pingErr(t, badCA); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("unknown CA: want a certificate error, got %v", err)
	}
}

// createTopic creates topic (one partition) through cfg's options.
func createTopic(t *testing.T, cfg kafka.Configuration, topic string) {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}
