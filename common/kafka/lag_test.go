package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
)

// TestLagIsEndMinusCommittedAndStallsTurnReadyRed: the lag is the log end
// offset minus the group's committed offset (the log start offset while
// nothing is committed), whatever was fetched; a lagging partition whose
// commit does not move for stall-after is stalled (named by Stalled,
// counted, in the gauge), and is not once its commit moves or it catches
// up. kfake.
func TestLagIsEndMinusCommittedAndStallsTurnReadyRed(t *testing.T) {
	const topic = "lagtest"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 150; i++ {
		p := int32(0)
		if i >= 100 {
			p = 1
		}
		cl.Produce(ctx, &kgo.Record{Partition: p, Value: []byte("x")}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	commit := func(p int32, at int64) {
		t.Helper()
		var o kadm.Offsets
		o.AddOffset(topic, p, at, -1)
		if err := adm.CommitAllOffsets(ctx, "g", o); err != nil {
			t.Fatal(err)
		}
	}
	commit(0, 10)

	reg := prometheus.NewRegistry()
	r := component.NewReporter("test", nil, reg)
	lag := NewLag(r, 300*time.Millisecond, topic)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	g := lag.Group("g")
	g.Assigned(map[string][]int32{topic: {0, 1}})
	gauge := func(v *prometheus.GaugeVec) float64 { return testutil.ToFloat64(v.WithLabelValues(topic)) }
	check := func() {
		t.Helper()
		if err := g.Check(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}

	check()
	if v := gauge(lag.lag); v != 90+50 {
		t.Fatalf("lag = %v, want 140 (100-10 on partition 0, 50 uncommitted on partition 1)", v)
	}
	if err := lag.Stalled(); err != nil {
		t.Fatalf("stalled right after the assignment: %v", err)
	}
	time.Sleep(350 * time.Millisecond)
	check()
	err = lag.Stalled()
	if err == nil {
		t.Fatal("not stalled after stall-after without a commit")
	}
	for _, want := range []string{"consumer group g stalled", topic + "/0 (lag 90, committed 10", topic + "/1 (lag 50, nothing committed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Stalled() = %q, want it to say %q", err, want)
		}
	}
	if v := gauge(lag.stalled); v != 2 {
		t.Errorf("stalled partitions = %v, want 2", v)
	}
	if v := testutil.ToFloat64(lag.stalls.WithLabelValues(topic)); v != 2 {
		t.Errorf("stalls_total = %v, want 2", v)
	}

	commit(0, 100) // caught up
	commit(1, 25)  // moved, still lagging
	check()
	if err := lag.Stalled(); err != nil {
		t.Errorf("still stalled after the commits moved: %v", err)
	}
	if v := gauge(lag.lag); v != 25 {
		t.Errorf("lag = %v, want 25", v)
	}
	if v := gauge(lag.stalled); v != 0 {
		t.Errorf("stalled partitions = %v, want 0", v)
	}
	// Partition 0, caught up, never stalls while nothing arrives.
	time.Sleep(350 * time.Millisecond)
	check()
	if err := lag.Stalled(); err == nil || strings.Contains(err.Error(), topic+"/0") || !strings.Contains(err.Error(), topic+"/1") {
		t.Errorf("Stalled() = %v, want partition 1 only", err)
	}
	g.Forget(map[string][]int32{topic: {0, 1}})
	if v := gauge(lag.lag); v != 0 {
		t.Errorf("lag after the partitions were revoked = %v, want 0", v)
	}
	if err := lag.Stalled(); err != nil {
		t.Errorf("stalled after the partitions were revoked: %v", err)
	}
	if v := testutil.ToFloat64(lag.stalls.WithLabelValues(topic)); v != 3 {
		t.Errorf("stalls_total = %v, want 3", v)
	}
}
