package kpi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
)

// TestStalledProcessorTurnsReadyRedAndShowsLag: a processor whose KPIs
// Kafka does not take (a retriable error, retried without end) waits and
// commits nothing; /readyz turns 503 within stall-after and a check
// interval, naming the partition, and the lag gauge shows the group's true
// lag (end minus committed, as the broker reports it), not the 0 of what
// was fetched. Once Kafka takes the KPIs the commits move and /readyz is
// 200 again. kfake.
func TestStalledProcessorTurnsReadyRedAndShowsLag(t *testing.T) {
	kc, c := kafkatest.Fake(t, 1)
	var refuse atomic.Bool
	refuse.Store(true)
	kafkatest.RefuseProduce(t, c, kc, kc.Topics.KPIs, &refuse, kerr.NotEnoughReplicas.Code)
	produceRounds(t, producer(t, kc), 3, 0, 45)

	cfg := DefaultConfiguration()
	cfg.Instance = "stall"
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.Window, cfg.AllowedLateness, cfg.StateHorizon = time.Second, 0, 500*time.Millisecond
	cfg.StallAfter = 2 * time.Second
	d := daemon.New(daemon.DefaultConfiguration(), nil)
	p, err := New(cfg, Dependencies{Registerer: d.Registry, Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	d.AddReadiness(Stage, p.Ready)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	start := time.Now()
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop() }()
	if code, body := testenv.Readyz(t, srv.URL); code != http.StatusOK {
		t.Fatalf("/readyz at start: %d %s", code, body)
	}

	var code int
	var body string
	testenv.Eventually(t, 15*time.Second, "/readyz 503 while the KPIs are refused", func() bool {
		code, body = testenv.Readyz(t, srv.URL)
		return code == http.StatusServiceUnavailable
	})
	// Red within stall-after, one check interval and the group join.
	if took := time.Since(start); took > cfg.StallAfter+5*time.Second {
		t.Errorf("/readyz red after %s, want within stall-after (%s) + 5s", took, cfg.StallAfter)
	}
	if !strings.Contains(body, "consumer group "+cfg.GroupID+" stalled: "+kc.Topics.Samples+"/0 (lag ") {
		t.Errorf("/readyz body %q does not name the stalled partition", body)
	}
	// The gauge is the brokers' answer at its last check: compare once a
	// check has seen the partition as it is now.
	var want int64
	testenv.Eventually(t, 10*time.Second, "consumer_lag_records at the group's true lag", func() bool {
		want = kafkatest.GroupLag(t, kc, cfg.GroupID, kc.Topics.Samples)
		return testenv.Series(t, d.Registry, "telemetry_processor_consumer_lag_records", "topic")[kc.Topics.Samples] == float64(want)
	})
	if want == 0 {
		t.Fatal("the group has no lag while stalled")
	}
	if v := testenv.Series(t, d.Registry, "telemetry_processor_consumer_stalled_partitions", "topic")[kc.Topics.Samples]; v != 1 {
		t.Errorf("consumer_stalled_partitions = %v, want 1", v)
	}
	if v := testenv.Series(t, d.Registry, "telemetry_processor_consumer_stalls_total", "topic")[kc.Topics.Samples]; v != 1 {
		t.Errorf("consumer_stalls_total = %v, want 1", v)
	}
	t.Logf("red after %s: %s (true lag %d)", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body), want)

	refuse.Store(false)
	testenv.Eventually(t, 15*time.Second, "/readyz 200 once the KPIs are taken", func() bool {
		code, body = testenv.Readyz(t, srv.URL)
		return code == http.StatusOK
	})
	if v := testenv.Series(t, d.Registry, "telemetry_processor_consumer_stalled_partitions", "topic")[kc.Topics.Samples]; v != 0 {
		t.Errorf("consumer_stalled_partitions = %v after recovery, want 0", v)
	}
	if got := kafkatest.GroupLag(t, kc, cfg.GroupID, kc.Topics.Samples); got >= want {
		t.Errorf("lag %d after recovery, want below %d", got, want)
	}
}

// TestRefusedDeadLetterIsLoggedAndSkipped: a dead letter Kafka refuses for
// good (MESSAGE_TOO_LARGE: the dead-letter topic takes 64-byte batches
// only) is logged with the source record's partition, offset, sizes and
// SHA-256 and counted (deadletters_lost_total); the processor stays ready
// and commits past the record instead of committing nothing more. kfake.
func TestRefusedDeadLetterIsLoggedAndSkipped(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	kafkatest.LimitTopic(t, kc, kc.Topics.DeadLetter, 64)
	cl := producer(t, kc)
	produceRounds(t, cl, 2, 0, 5)
	bad := []byte{0xff, 0xff, 0x01, 0x02}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("junk"), Value: bad,
		Headers: wire.Headers(wire.SchemaSample)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produceRounds(t, cl, 2, 5, 45)
	var logs testenv.Logs
	cfg := DefaultConfiguration()
	cfg.Instance = "lost"
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.CommitInterval = 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Registerer: reg, Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop() }()
	const badOffset = 2 * 5
	adm := kadm.NewClient(cl)
	var committed int64
	testenv.Eventually(t, 15*time.Second, "commits past the record whose dead letter was refused", func() bool {
		offs, err := adm.FetchOffsets(context.Background(), cfg.GroupID)
		if err != nil {
			return false
		}
		if o, ok := offs.Lookup(kc.Topics.Samples, 0); ok {
			committed = o.At
		}
		return committed > badOffset+2*20
	})
	if err := p.Ready(context.Background()); err != nil {
		t.Errorf("not ready after a lost dead letter: %v", err)
	}
	st := p.Stats()
	if st.DeadLettersLost != 1 || st.DeadLetters != 1 || st.ProduceErrors != 0 {
		t.Errorf("dead letters %d, lost %d, produce errors %d; want 1, 1, 0", st.DeadLetters, st.DeadLettersLost, st.ProduceErrors)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "dead letter refused by kafka") {
			lines = append(lines, l)
		}
	}
	sum := sha256.Sum256(bad)
	if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf(`"source_offset":%d`, badOffset)) ||
		!strings.Contains(lines[0], `"payload_size":4`) || !strings.Contains(lines[0], hex.EncodeToString(sum[:])) ||
		!strings.Contains(lines[0], "MESSAGE_TOO_LARGE") {
		t.Errorf("log of the lost dead letter %q", lines)
	}
}
