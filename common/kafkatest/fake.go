package kafkatest

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
)

var fakeSeq atomic.Uint64

// Fake starts an in-process broker (franz-go's kfake) with the pipeline's
// topics, partitions each, under names unique to the test, and closes it
// when the test ends. Unit tests use it; integration and fault tests use
// a real Apache Kafka (testenv.Kafka, Start).
func Fake(t testing.TB, partitions int32) (*kafka.Configuration, *kfake.Cluster) {
	t.Helper()
	kc := kafka.DefaultConfiguration()
	suffix := strconv.FormatUint(fakeSeq.Add(1), 36) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	kc.Topics = kafka.Topics{Samples: "samples-" + suffix, KPIs: "kpis-" + suffix,
		Remediations: "remediations-" + suffix, DeadLetter: "deadletter-" + suffix}
	kc.Partitions = partitions
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, kc.Topics.All()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc.Brokers = c.ListenAddrs()
	return &kc, c
}

// FastGroup is the consumer-group timing of tests: a member or a
// coordinator that is gone is noticed within seconds, and a poll returns
// within 100 ms.
func FastGroup() []kgo.Opt {
	return []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(5 * time.Second), kgo.FetchMaxWait(100 * time.Millisecond)}
}
