package chsink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// pipelineKPIs returns n pipeline KPIs of distinct windows from genStart.
func pipelineKPIs(n int) []*wirepb.KPI {
	out := make([]*wirepb.KPI, n)
	for i := range out {
		w := genStart.Add(time.Duration(i) * 10 * time.Second)
		out[i] = &wirepb.KPI{Version: 1, Id: fmt.Sprintf("pipeline/stall/%d", i), WindowStartUnixNano: w.UnixNano(),
			WindowEndUnixNano: w.Add(10 * time.Second).UnixNano(), Samples: 5,
			Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{Instance: "stall", DelayP50Ms: 5, DelayP99Ms: 50, DelayMaxMs: 80, Samples: 100}}}
	}
	return out
}

// TestStalledSinkTurnsReadyRedAndShowsLag: a sink whose ClickHouse refuses
// a batch (its table renamed away under it, the server answering pings)
// retries the batch and commits nothing; /readyz turns 503 within
// stall-after and a check interval, naming the group and the partition,
// and the lag gauge shows the group's true lag (end minus committed, as
// the broker reports it), not the 0 of what was fetched (issue 18). Once
// the table is back the batch is stored, the commits move and /readyz is
// 200 again. Real Kafka and ClickHouse.
func TestStalledSinkTurnsReadyRedAndShowsLag(t *testing.T) {
	cfg, conn := liveConfig(t)
	kc, prod := liveKafka(t)
	cfg.GroupID = "sinktest-" + randomSuffix()
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.MaxRetryBackoff = 200 * time.Millisecond
	cfg.StallAfter = 2 * time.Second
	d := daemon.New(daemon.DefaultConfiguration(), nil)
	s, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: d.Registry, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	d.AddReadiness(Stage, s.Ready)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	kpis := pipelineKPIs(40)
	produce(t, prod, kpiRecords(t, kc, kpis[:10]))
	testenv.Eventually(t, 30*time.Second, "the first KPIs stored and committed", func() bool {
		return s.Stats().Rows[schema.PipelineKPIs] >= 10 && committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.KPIs)
	})
	if code, body := testenv.Readyz(t, srv.URL); code != http.StatusOK {
		t.Fatalf("/readyz while storing: %d %s", code, body)
	}

	table := cfg.Database + "." + schema.PipelineKPIs
	if err := conn.Exec(ctx, "RENAME TABLE "+table+" TO "+table+"_away"); err != nil {
		t.Fatal(err)
	}
	renamed := true
	defer func() {
		if renamed {
			_ = conn.Exec(context.Background(), "RENAME TABLE "+table+"_away TO "+table)
		}
	}()
	start := time.Now()
	produce(t, prod, kpiRecords(t, kc, kpis[10:]))
	var code int
	var body string
	testenv.Eventually(t, 20*time.Second, "/readyz 503 while ClickHouse refuses the batch", func() bool {
		code, body = testenv.Readyz(t, srv.URL)
		return code == http.StatusServiceUnavailable
	})
	if took := time.Since(start); took > cfg.StallAfter+5*time.Second {
		t.Errorf("/readyz red %s after the refusals began, want within stall-after (%s) + 5s", took, cfg.StallAfter)
	}
	if !strings.Contains(body, "consumer group "+cfg.GroupID+" stalled: "+kc.Topics.KPIs+"/") ||
		!strings.Contains(body, "committed ") {
		t.Errorf("/readyz body %q does not name the stalled partition and its commit", body)
	}
	want := kafkatest.GroupLag(t, kc, cfg.GroupID, kc.Topics.KPIs)
	if want != 30 {
		t.Errorf("the group's true lag is %d, want the 30 refused KPIs", want)
	}
	if v := testenv.Series(t, d.Registry, "telemetry_sink_consumer_lag_records", "topic")[kc.Topics.KPIs]; v != float64(want) {
		t.Errorf("consumer_lag_records = %v, want the group's true lag %d", v, want)
	}
	if v := testenv.Series(t, d.Registry, "telemetry_sink_consumer_stalled_partitions", "topic")[kc.Topics.KPIs]; v != 1 {
		t.Errorf("consumer_stalled_partitions = %v, want 1", v)
	}
	if v := testenv.Series(t, d.Registry, "telemetry_sink_consumer_stalls_total", "topic")[kc.Topics.KPIs]; v != 1 {
		t.Errorf("consumer_stalls_total = %v, want 1", v)
	}
	t.Logf("red after %s: %s (true lag %d, %d insert errors)", time.Since(start).Round(time.Millisecond),
		strings.TrimSpace(body), want, s.Stats().InsertErrors)

	if err := conn.Exec(ctx, "RENAME TABLE "+table+"_away TO "+table); err != nil {
		t.Fatal(err)
	}
	renamed = false
	testenv.Eventually(t, 20*time.Second, "/readyz 200 once the table is back", func() bool {
		code, body = testenv.Readyz(t, srv.URL)
		return code == http.StatusOK
	})
	testenv.Eventually(t, 20*time.Second, "every KPI committed", func() bool {
		return committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.KPIs)
	})
	if n := count(t, conn, "SELECT count() FROM "+table+" FINAL"); n != uint64(len(kpis)) {
		t.Errorf("%d pipeline KPIs stored, want %d", n, len(kpis))
	}
}

// TestRefusedDeadLetterIsLoggedAndSkippedLive: a dead letter Kafka refuses
// for good (MESSAGE_TOO_LARGE: the dead-letter topic takes 64-byte batches
// only) is logged with the source record's partition, offset, sizes and
// SHA-256, counted (deadletters_lost_total) and skipped: the batch is
// stored and committed, the sink stays ready, instead of retrying the
// batch without end. Real Kafka and ClickHouse.
func TestRefusedDeadLetterIsLoggedAndSkippedLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	kc, prod := liveKafka(t)
	cfg.GroupID = "sinktest-" + randomSuffix()
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.MaxRetryBackoff = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kafkatest.LimitTopic(t, kc, kc.Topics.DeadLetter, 64)
	var logs testenv.Logs
	s, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	bad := []byte{0xff, 0xff, 0x01, 0x02}
	recs := kpiRecords(t, kc, pipelineKPIs(20))
	junk := record(t, kc.Topics.KPIs, wire.SchemaKPI, []byte("/"), genPipelineKPI())
	junk.Value = bad
	produce(t, prod, append([]*kgo.Record{junk}, recs...))
	testenv.Eventually(t, 30*time.Second, "every record committed past the one whose dead letter was refused", func() bool {
		return committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.KPIs)
	})
	st := s.Stats()
	if st.DeadLetters != 1 || st.DeadLettersLost != 1 {
		t.Errorf("dead letters %d, lost %d; want 1 and 1", st.DeadLetters, st.DeadLettersLost)
	}
	if n := count(t, conn, "SELECT count() FROM "+cfg.Database+"."+schema.PipelineKPIs+" FINAL"); n != 20 {
		t.Errorf("%d pipeline KPIs stored, want 20", n)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("not ready: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "dead letter refused by kafka") {
			lines = append(lines, l)
		}
	}
	sum := sha256.Sum256(bad)
	if len(lines) != 1 || !strings.Contains(lines[0], `"source_offset":0`) || !strings.Contains(lines[0], `"payload_size":4`) ||
		!strings.Contains(lines[0], hex.EncodeToString(sum[:])) || !strings.Contains(lines[0], "MESSAGE_TOO_LARGE") {
		t.Errorf("log of the lost dead letter %q", lines)
	}
}
