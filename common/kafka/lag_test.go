package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLagFromFetches(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "lagtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("lagtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 100; i++ {
		prod.Produce(ctx, &kgo.Record{Value: []byte("x")}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("lagtest"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	reg := prometheus.NewRegistry()
	lag := NewLag(reg, "test")
	var got int
	for got < 10 {
		f := cons.PollRecords(ctx, 10-got)
		if ctx.Err() != nil {
			t.Fatal("no records")
		}
		got += f.NumRecords()
		lag.Observe(f)
	}
	if v := testutil.ToFloat64(lag.gauge.WithLabelValues("lagtest")); v != 90 {
		t.Fatalf("lag after consuming 10 of 100 = %v, want 90", v)
	}
	lag.Forget(map[string][]int32{"lagtest": {0}})
	if v := testutil.ToFloat64(lag.gauge.WithLabelValues("lagtest")); v != 0 {
		t.Fatalf("lag after the partition was revoked = %v, want 0", v)
	}
}
