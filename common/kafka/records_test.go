package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCommitSync(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "committest"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("committest"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := CommitSync(ctx, cl, map[string]map[int32]kgo.EpochOffset{"committest": {0: {Epoch: -1, Offset: 0}}}); err != nil {
		t.Fatalf("commit to a known partition: %v", err)
	}
	// A partition the topic does not have is refused in the response.
	err = CommitSync(ctx, cl, map[string]map[int32]kgo.EpochOffset{"committest": {7: {Epoch: -1, Offset: 1}}})
	var ke *kerr.Error
	if err == nil || !errors.As(err, &ke) {
		t.Fatalf("commit to a missing partition: %v, want a partition error", err)
	}
}
