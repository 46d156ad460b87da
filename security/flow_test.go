package security

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/kpi"
)

// TestSecureFlowInProcess wires the components through their public APIs
// with every hop secured: simulator (gNMI over mTLS + username/password)
// → collector (CA, client certificate, password-file) → Kafka (kfake,
// TLS + SCRAM-SHA-256, password-file) → KPI processor. KPIs come out, and
// the components' debug logs hold no secret.
func TestSecureFlowInProcess(t *testing.T) {
	gnmiPKI, kafkaPKI := newPKI(t, "gnmi"), newPKI(t, "kafka")
	gnmiPW, kafkaPW := randomSecret(t, "gnmi-pw"), randomSecret(t, "kafka-pw")
	var logs testenv.Logs
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	scfg := simulator.DefaultConfiguration()
	scfg.Listen = "127.0.0.1:0"
	scfg.Sites, scfg.SwitchesPerSite, scfg.InterfacesPerSwitch = 1, 2, 2
	scfg.TLS = simulator.TLSConfiguration{CertFile: gnmiPKI.CertFile, KeyFile: gnmiPKI.KeyFile, ClientCAFile: gnmiPKI.CAFile}
	scfg.Username, scfg.Password = "gnmi", gnmiPW
	sim, err := simulator.New(scfg, simulator.Dependencies{Logger: log.With("c", "simulator"), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop() })

	brokers := startKfake(t, kfake.TLS(kafkaPKI.serverTLS()), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "telemetry", kafkaPW),
		kfake.SeedTopics(2, kafka.TopicSamples, kafka.TopicKPIs, kafka.TopicRemediations, kafka.TopicDeadLetter))
	kc := kafkaConfig(brokers)
	kc.TLS = kafka.TLS{Enable: true, CAFile: kafkaPKI.CAFile}
	kc.SASL = kafka.SASL{Mechanism: "SCRAM-SHA-256", Username: "telemetry", PasswordFile: writeSecret(t, "kafka.pw", kafkaPW)}
	if err := kc.Validate(); err != nil {
		t.Fatal(err)
	}

	ccfg := collector.DefaultConfiguration()
	ccfg.Instance = "sec"
	ccfg.DialTimeout = 3 * time.Second
	for _, tg := range sim.Targets() {
		ccfg.Targets = append(ccfg.Targets, collector.TargetConfig{Name: tg.Name, Address: sim.Addr(), Site: tg.Site,
			Username: "gnmi", PasswordFile: writeSecret(t, "gnmi.pw", gnmiPW),
			TLS: collector.TargetTLS{CAFile: gnmiPKI.CAFile, CertFile: gnmiPKI.ClientCertFile, KeyFile: gnmiPKI.ClientKeyFile}})
	}
	if err := ccfg.Validate(); err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(ccfg, collector.Dependencies{Logger: log.With("c", "collector"), Registerer: prometheus.NewRegistry(), Kafka: &kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = col.Stop() })

	pcfg := kpi.DefaultConfiguration()
	pcfg.Window, pcfg.AllowedLateness, pcfg.GroupID, pcfg.Instance = time.Second, 500*time.Millisecond, "sec-flow", "sec"
	if err := pcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	proc, err := kpi.New(pcfg, kpi.Dependencies{Logger: log.With("c", "kpi"), Registerer: prometheus.NewRegistry(), Kafka: &kc,
		KafkaOpts: []kgo.Opt{kafka.WithLogger(log.With("c", "kpi-kafka")), kgo.FetchMaxWait(200 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && proc.Stats().KPIsOut == 0 {
		time.Sleep(200 * time.Millisecond)
	}
	cst, pst := col.Stats(), proc.Stats()
	t.Logf("collector produced %d, processor read %d samples and wrote %d KPIs", cst.Produced, pst.SamplesIn, pst.KPIsOut)
	if cst.Produced == 0 || pst.KPIsOut == 0 {
		t.Fatalf("secure flow: collector produced %d, processor wrote %d KPIs; want both > 0\n%s",
			cst.Produced, pst.KPIsOut, tail(logs.String(), 3000))
	}
	_ = proc.Stop()
	_ = col.Stop()
	_ = sim.Stop()
	assertNoSecrets(t, "component logs", logs.String(), []string{gnmiPW, kafkaPW})
}
