package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceN writes n records to topic with acks=all and fails on any error.
func produceN(t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

func countAll(t *testing.T, c *Cluster, topic string, want int) map[string]int {
	t.Helper()
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	total := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for total < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", total, want)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; total++ })
	}
	return seen
}

// TestSingleKillRestart: one node, killed and restarted with its data.
func TestSingleKillRestart(t *testing.T) {
	c := Start(t, Options{})
	topic := "kafkatest-single"
	c.CreateTopic(topic, 2)
	cl := c.Client()
	produceN(t, cl, topic, 0, 50)
	c.Kill(0)
	if c.Running(0) {
		t.Fatal("running after Kill")
	}
	c.Restart(0)
	produceN(t, cl, topic, 50, 50)
	seen := countAll(t, c, topic, 100)
	for i := 0; i < 100; i++ {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("record %d seen %d times", i, seen[fmt.Sprint(i)])
		}
	}
	c.Stop()
}

// TestThreeNodes: RF 3, min ISR 2; acks=all writes go on with one node
// killed, and it rejoins the ISR after Restart.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 3-node cluster is also exercised by ./faults")
	}
	c := Start(t, Options{Brokers: 3})
	topic := "kafkatest-three"
	c.CreateTopic(topic, 3)
	cl := c.Client()
	produceN(t, cl, topic, 0, 30)
	c.Kill(1)
	produceN(t, cl, topic, 30, 30)
	c.Restart(1)
	c.WaitInSync(60*time.Second, topic)
	seen := countAll(t, c, topic, 60)
	if len(seen) != 60 {
		t.Fatalf("%d distinct records, want 60", len(seen))
	}
}
