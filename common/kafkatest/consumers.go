package kafkatest

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshtelemetry/telemetry/common/kafka"
)

// admin is an admin client of kc's brokers, closed when the test ends.
func admin(t testing.TB, kc *kafka.Configuration) *kadm.Client {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// GroupLag is the true lag of group on topic as the brokers report it: log
// end offsets minus the committed offsets (log start while nothing is),
// summed over the partitions. What a consumer's lag gauge must show.
func GroupLag(t testing.TB, kc *kafka.Configuration, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := admin(t, kc).Lag(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	lags.Each(func(l kadm.DescribedGroupLag) {
		for _, p := range l.Lag[topic] {
			n += p.Lag
		}
	})
	return n
}

// LimitTopic sets topic's max.message.bytes, so that the brokers refuse
// for good (MESSAGE_TOO_LARGE) a batch over bytes.
func LimitTopic(t testing.TB, kc *kafka.Configuration, topic string, bytes int) {
	t.Helper()
	v := strconv.Itoa(bytes)
	rs, err := admin(t, kc).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = rs.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// RefuseProduce makes the fake cluster c answer every produce to topic
// with the error of code while refuse holds: for a retriable one
// (NOT_ENOUGH_REPLICAS, as from a broker that lost its replicas) the
// client retries without end, for another the producer fails.
func RefuseProduce(t testing.TB, c *kfake.Cluster, kc *kafka.Configuration, topic string, refuse *atomic.Bool, code int16) {
	t.Helper()
	// Produce requests name topics by name or, from v13, by id.
	td, err := admin(t, kc).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	id := td[topic].ID
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if !refuse.Load() || len(pr.Topics) == 0 || (pr.Topics[0].Topic != topic && pr.Topics[0].TopicID != id) {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}
