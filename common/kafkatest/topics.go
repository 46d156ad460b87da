package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
)

// OwnTopics creates kc's pipeline topics on a shared broker through cl,
// and deletes them and closes cl when the test ends, so tests sharing the
// broker do not see each other's records.
func OwnTopics(tb testing.TB, kc *kafka.Configuration, cl *kgo.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := kc.EnsureTopics(ctx, cl); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, kc.Topics.All()...)
		cl.Close()
	})
}
