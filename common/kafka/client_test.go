package kafka

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNewClientCreatesTopics: the client of a component comes with the
// pipeline's topics.
func TestNewClientCreatesTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfiguration()
	cfg.Brokers = c.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := cfg.NewClient(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range cfg.Topics.All() {
		if !td.Has(topic) {
			t.Errorf("topic %s not created", topic)
		}
	}
}

// TestNewClientWithoutBroker: no broker is not fatal (franz-go clients
// reconnect), and is said once; a start-up that ended is.
func TestNewClientWithoutBroker(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Brokers = []string{"127.0.0.1:1"}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := cfg.NewClient(ctx, log, kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if !strings.Contains(buf.String(), "could not ensure the kafka topics exist") {
		t.Fatalf("not said: %s", buf.String())
	}
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if cl, err := cfg.NewClient(done, log); err == nil {
		cl.Close()
		t.Fatal("no error from an ended start-up")
	}
}

func TestLogFetchErrors(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	fetches := kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{
		{Partition: 0, Err: context.Canceled},
		{Partition: 1, Err: context.DeadlineExceeded},
		{Partition: 2, Err: kgo.ErrClientClosed},
		{Partition: 3, Err: kerr.UnknownTopicOrPartition},
	}}}}}
	if n := LogFetchErrors(log, fetches); n != 1 || !strings.Contains(buf.String(), "partition=3") {
		t.Fatalf("logged %d: %s", n, buf.String())
	}
	if !Closed(context.Background(), kgo.Fetches{{Topics: []kgo.FetchTopic{{Partitions: []kgo.FetchPartition{{Err: kgo.ErrClientClosed}}}}}}) {
		t.Fatal("a closed client's poll does not end the loop")
	}
}
