package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

func TestValidateInstanceID(t *testing.T) {
	for id, ok := range map[string]bool{
		"": true, "process-0": true, "telemetry.process_1": true, strings.Repeat("a", 249): true,
		strings.Repeat("a", 250): false, "a b": false, "p/0": false, "é": false, ".": false, "..": false,
	} {
		c := DefaultConfiguration()
		c.InstanceID = id
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("instance-id %q: Validate() = %v, want ok=%v", id, err, ok)
		}
	}
	c := DefaultConfiguration()
	opts, err := c.Opts()
	if err != nil {
		t.Fatal(err)
	}
	c.InstanceID = "p0"
	withID, err := c.Opts()
	if err != nil {
		t.Fatal(err)
	}
	if len(withID) != len(opts)+1 {
		t.Errorf("instance-id adds %d options, want 1 (kgo.InstanceID)", len(withID)-len(opts))
	}
	// A client without a consumer group (a producer) accepts the option.
	cl, err := kgo.NewClient(withID...)
	if err != nil {
		t.Fatalf("producer client with instance-id: %v", err)
	}
	cl.Close()
}

// A static member (instance-id) is killed — its client closed without
// leaving the group, as franz-go does for a static member, so the group
// still counts it, exactly as after a SIGKILL — and a new client with the
// same instance-id gets every partition back at once, resuming from the
// committed offsets, far below the session timeout (45 s) its predecessor
// would otherwise hold them for. Then the trade-off: once that member is
// gone for good (closed, no restart), a dynamic member joining the group
// waits for its session timeout (here 6 s, the broker's minimum) before it
// gets the partitions. Real Kafka.
func TestStaticMemberTakesOverAtOnce(t *testing.T) {
	brokers := testenv.Kafka(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sfx := hex.EncodeToString(b)
	topic, group := "test.static."+sfx, "test-static-"+sfx
	const parts = 4

	kc := DefaultConfiguration()
	kc.Brokers = brokers
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteGroups(c, group)
		_, _ = adm.DeleteTopics(c, topic)
	})
	produce := func(n int, from int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(fmt.Sprint(i))})
		}
		cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	type member struct {
		cl       *kgo.Client
		assigned chan time.Time
	}
	join := func(instance string, session time.Duration) *member {
		t.Helper()
		c := kc
		c.InstanceID = instance
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		o, err := c.Opts()
		if err != nil {
			t.Fatal(err)
		}
		m := &member{assigned: make(chan time.Time, 8)}
		m.cl, err = kgo.NewClient(append(o,
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.SessionTimeout(session),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				if len(a[topic]) > 0 {
					m.assigned <- time.Now()
				}
			}))...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// consume reads exactly n records (and fails on more), then commits.
	consume := func(m *member, n int, what string) []string {
		t.Helper()
		var got []string
		for len(got) < n {
			f := m.cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: read %d of %d records", what, len(got), n)
			}
			f.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if len(got) != n {
			t.Fatalf("%s: read %d records, want %d", what, len(got), n)
		}
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		return got
	}
	members := func() []kadm.DescribedGroupMember {
		t.Helper()
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		return dg[group].Members
	}

	produce(40, 0)
	a := join("static-a", 45*time.Second) // the Kafka default session timeout
	consume(a, 40, "first member")
	if ms := members(); len(ms) != 1 || ms[0].InstanceID == nil || *ms[0].InstanceID != "static-a" {
		t.Fatalf("group members %+v, want the static member static-a", ms)
	}
	produce(20, 40)
	a.cl.Close() // "killed": a static member does not leave
	if ms := members(); len(ms) != 1 {
		t.Fatalf("after the first member's client closed, the group has %d members, want 1 (a static member does not leave)", len(ms))
	}

	killed := time.Now()
	bm := join("static-a", 6*time.Second)
	got := consume(bm, 20, "restarted member")
	took := time.Since(killed)
	var at time.Time
	select {
	case at = <-bm.assigned:
	default:
		t.Fatal("restarted member: no assignment")
	}
	seen := map[string]bool{}
	for _, v := range got {
		seen[v] = true
	}
	for i := 40; i < 60; i++ {
		if !seen[fmt.Sprint(i)] {
			t.Errorf("restarted member read %v, want records 40..59 (resumed from the commits)", got)
			break
		}
	}
	t.Logf("same instance-id: partitions assigned %s and the 20 new records read %s after the kill (session timeout 45 s)",
		at.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the restarted static member took %s to resume, want a few seconds at most (session timeout 45 s)", took)
	}

	// Trade-off: the static member is gone for good; a dynamic member (no
	// instance-id) waits for its session timeout (6 s, set on its rejoin).
	bm.cl.Close()
	gone := time.Now()
	c := join("", 45*time.Second)
	defer c.cl.Close()
	go func() { _ = c.cl.PollFetches(ctx) }() // polling drives the join
	select {
	case at = <-c.assigned:
	case <-ctx.Done():
		t.Fatal("dynamic member: no assignment")
	}
	wait := at.Sub(gone)
	t.Logf("static member closed without restart: a dynamic member got the partitions %s later (its session timeout 6 s)", wait.Round(time.Millisecond))
	if wait < 4*time.Second {
		t.Errorf("the dynamic member got the partitions %s after the static member stopped, want about its 6 s session timeout", wait)
	}
}
