package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// configFile writes a telemetry configuration file with the given sections
// (plus http: no listener, JSON logs) and returns its path.
func configFile(t *testing.T, name string, kc *kafka.Configuration, sections map[string]any) string {
	t.Helper()
	all := map[string]any{
		"http":  map[string]string{"listen": "", "log-format": "json", "log-level": "info"},
		"kafka": kc,
	}
	for k, v := range sections {
		all[k] = v
	}
	b, err := yaml.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, string(b))
}

// interfaceAndLink returns the interface and link KPIs by id (pipeline KPIs
// describe the processor instance, not the network) and how many copies of
// each id were read.
func interfaceAndLink(kpis []*wirepb.KPI) (map[string]*wirepb.KPI, map[string]int) {
	byID, copies := map[string]*wirepb.KPI{}, map[string]int{}
	for _, k := range kpis {
		if k.GetInterface() == nil && k.GetLink() == nil {
			continue
		}
		copies[k.Id]++
		if _, ok := byID[k.Id]; !ok {
			byID[k.Id] = k
		}
	}
	return byID, copies
}

// TestProcessorKilled: a `telemetry process` subprocess is killed with
// SIGKILL mid-stream (no Stop: nothing flushed, nothing committed past what
// was acknowledged) and restarted: a new process with the same
// kafka.instance-id (static group membership) in the same consumer group.
// A reference processor in the test reads the same samples, uninterrupted,
// into its own KPI topic. After de-duplication by KPI id, the crashed
// pipeline produced exactly the reference's interface and link KPIs — same
// ids, same values — and every interface has contiguous windows. The
// restart gets the partitions back at once, with the default 45 s session
// timeout (TestProcessorKilledAfterStateHorizonHeartbeat covers the other
// case: another member takes over once the session timeout expires).
func TestProcessorKilled(t *testing.T) {
	processorCrash(t, "proc-kill", crashOptions{static: true})
}

// TestDefaultStateHeartbeatBelowHorizon: a successor processor learns the
// port speed and oper status of a series only if the device re-sends them
// before its predecessor's commits pass the last sample that carried them
// (process.state-horizon). The collector's default on_change subscriptions
// therefore carry a heartbeat shorter than the default horizon; the crash
// test below proves that such a heartbeat is enough (scaled down: 1 s
// heartbeat, 3 s horizon). Without a heartbeat, the successor's KPIs lose
// utilization, speed and status (docs/faults.md).
func TestDefaultStateHeartbeatBelowHorizon(t *testing.T) {
	horizon := kpi.DefaultConfiguration().StateHorizon
	for _, s := range collector.DefaultSubscriptions() {
		if s.StreamMode != "on_change" {
			continue
		}
		if s.HeartbeatInterval <= 0 || s.HeartbeatInterval >= horizon {
			t.Errorf("default subscription %q: heartbeat %s, want > 0 and < process.state-horizon %s", s.Name, s.HeartbeatInterval, horizon)
		}
	}
}

// TestProcessorKilledAfterStateHorizonHeartbeat: as above, with a 1 s
// heartbeat on the state and speed subscriptions: the device re-sends the
// values, the successor has them, and the KPIs equal the reference's.
func TestProcessorKilledAfterStateHorizonHeartbeat(t *testing.T) {
	processorCrash(t, "proc-kill-heartbeat", crashOptions{stateHorizon: 3 * time.Second, heartbeat: time.Second, pastState: true})
}

// TestProcessorFrozen: a `telemetry process` subprocess is frozen with
// SIGSTOP for longer than its session timeout (6 s) and its max-gap (4 s),
// another member takes over, then the frozen one continues (SIGCONT): it
// wakes with open windows of partitions it no longer owns and a clock 10 s
// ahead of its last samples. After de-duplication by KPI id, the pipeline
// produced exactly the reference's KPIs, and every copy of an id, whoever
// sent it, is the same KPI: no partial window emitted by the woken member.
func TestProcessorFrozen(t *testing.T) {
	processorCrash(t, "proc-freeze", crashOptions{freeze: 10 * time.Second, maxGap: 4 * time.Second})
}

// crashOptions vary the processor crash test.
type crashOptions struct {
	// stateHorizon is process.state-horizon (0: the default).
	stateHorizon time.Duration
	// heartbeat is the heartbeat-interval of the collector's on_change
	// subscriptions (state, speed); 0: none (the default).
	heartbeat time.Duration
	// pastState: kill only once the first processor's commits have passed
	// the first samples carrying the port speed.
	pastState bool
	// static: both processes run with the same kafka.instance-id (the
	// successor is a restart of the killed static member) and the default
	// session timeout; otherwise a second member (dynamic membership, 6 s
	// session timeout) takes over.
	static bool
	// freeze: instead of SIGKILL, the first processor is stopped with
	// SIGSTOP for this long, then continued with SIGCONT and left running
	// beside its successor (a stalled VM, a long pause: a zombie member).
	freeze time.Duration
	// maxGap is process.max-gap (0: the tests' default).
	maxGap time.Duration
}

func processorCrash(t *testing.T, name string, o crashOptions) {
	began := time.Now()
	kc := kafkaConfig(testenv.Kafka(t), name, 1)
	rkc := *kc
	rkc.Topics.KPIs = kc.Topics.KPIs + "-ref"
	ensureTopics(t, kc, true, rkc.Topics.KPIs)
	testenv.Binary(t)

	deleteGroupsAfter(t, kc, "g-"+kc.Topics.Samples, "g-ref-"+kc.Topics.Samples)
	if o.static {
		// A static member does not leave on stop: remove it (runs after the
		// processes are gone, before the group is deleted).
		adm := kadm.NewClient(newClient(t, kc))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = adm.LeaveGroup(ctx, kadm.LeaveGroup("g-"+kc.Topics.Samples).InstanceIDs("process-a"))
		})
	}
	sim := simtest.Start(t, 2, 1, 2)
	ccfg := collectorConfig("c1", sim)
	for i := range ccfg.Subscriptions {
		if ccfg.Subscriptions[i].StreamMode == "on_change" {
			ccfg.Subscriptions[i].HeartbeatInterval = o.heartbeat
		}
	}
	col := startCollector(t, ccfg, kc)
	ref := startProcessor(t, processorConfig("g-ref-"+kc.Topics.Samples, "ref"), &rkc)

	// The session timeout bounds the takeover by another member: the group
	// coordinator gives a dead member's partitions away only when its
	// session expires (default 45 s; 6 s is the broker's minimum). A
	// restarted static member (same instance-id) does not wait for it.
	session := 6 * time.Second
	if o.static {
		session = kpi.DefaultConfiguration().SessionTimeout
	}
	procCfg := func(instance string) string {
		pc := processorConfig("g-"+kc.Topics.Samples, instance)
		pc.SessionTimeout = session
		if o.stateHorizon > 0 {
			pc.StateHorizon = o.stateHorizon
		}
		if o.maxGap > 0 {
			pc.MaxGap = o.maxGap
		}
		if o.freeze > 0 {
			// Small polls: the first one after SIGCONT holds the samples
			// of only some series, as under load.
			pc.MaxPollRecords = 4
		}
		pkc := *kc
		if o.static {
			pkc.InstanceID = "process-a"
		}
		return configFile(t, instance+".yaml", &pkc, map[string]any{"process": pc})
	}
	p1 := startProcess(t, "process-1", "process", "--config", procCfg("p1"))
	victimIfaceWindows := func() (int, int64) {
		n, latest := 0, int64(0)
		for _, k := range kpisOf(t, readTopic(t, kc, kc.Topics.KPIs)) {
			if k.GetInterface() != nil {
				n++
				latest = max(latest, k.WindowStartUnixNano)
			}
		}
		return n, latest
	}
	testenv.Eventually(t, 40*time.Second, "KPIs from the first processor", func() bool {
		if p1.exited() {
			t.Fatalf("process-1 exited: %v\n%s", p1.err, p1.tail(30))
		}
		n, _ := victimIfaceWindows()
		return n >= 4*5
	})
	before, _ := victimIfaceWindows()

	// Kill it once it has committed, so the successor resumes from commits,
	// not from the start. The processor keeps the latest sample carrying
	// each interface's port speed (on_change: sent once, at subscribe)
	// uncommitted for process.state-horizon; where the commits stand
	// relative to those samples is logged below.
	speedAt := func() map[int32]int64 {
		out := map[int32]int64{}
		for _, r := range readTopic(t, kc, kc.Topics.Samples) {
			if s := samplesOf(t, []*kgo.Record{r})[0]; s.GetInterface().GetSpeedBps() != 0 {
				if _, ok := out[r.Partition]; !ok {
					out[r.Partition] = r.Offset
				}
			}
		}
		return out
	}
	group := "g-" + kc.Topics.Samples
	speeds := speedAt()
	var committed map[int32]int64
	testenv.Eventually(t, 20*time.Second, "the first processor's commits", func() bool {
		committed = committedOffsets(t, kc, group, kc.Topics.Samples)
		for _, off := range committed {
			if off > 0 {
				return true
			}
		}
		return false
	})
	if o.pastState {
		testenv.Eventually(t, 30*time.Second, "the first processor's commits past the first port-speed samples", func() bool {
			committed = committedOffsets(t, kc, group, kc.Topics.Samples)
			for p, off := range speeds {
				if committed[p] <= off {
					return false
				}
			}
			return len(speeds) > 0
		})
	}
	time.Sleep(time.Second)
	var victimMember map[string]bool
	testenv.Eventually(t, 20*time.Second, "the first processor alone in a stable group", func() bool {
		victimMember = groupMembers(t, kc, group)
		return len(victimMember) == 1
	})
	if o.freeze > 0 {
		p1.signal(t, syscall.SIGSTOP)
	} else {
		p1.kill(t)
	}
	killedAt := time.Now()
	committed = committedOffsets(t, kc, group, kc.Topics.Samples) // final: p1 is dead or frozen
	p2 := startProcess(t, "process-2", "process", "--config", procCfg("p2"))

	// Handover: the group is stable again with the successor alone, and
	// the successor commits past the killed member's last commits.
	var handover, resumed time.Duration
	testenv.Eventually(t, 100*time.Second, "the successor owns the partitions", func() bool {
		ms := groupMembers(t, kc, group)
		for m := range ms {
			if victimMember[m] {
				return false
			}
		}
		if len(ms) == 1 {
			handover = time.Since(killedAt)
			return true
		}
		return false
	})
	testenv.Eventually(t, 30*time.Second, "the successor commits", func() bool {
		for p, off := range committedOffsets(t, kc, group, kc.Topics.Samples) {
			if off > committed[p] {
				resumed = time.Since(killedAt)
				return true
			}
		}
		return false
	})

	// The successor gets the partitions once the group coordinator gives up
	// on the killed member (its session timeout), then catches up.
	var takeover time.Duration
	testenv.Eventually(t, 100*time.Second, "KPIs from the second processor for windows after the kill", func() bool {
		if p2.exited() {
			t.Fatalf("process-2 exited: %v\n%s", p2.err, p2.tail(30))
		}
		_, latest := victimIfaceWindows()
		if latest > killedAt.UnixNano()+int64(2*time.Second) {
			takeover = time.Since(killedAt)
			return true
		}
		return false
	})
	if o.freeze > 0 {
		time.Sleep(time.Until(killedAt.Add(o.freeze)))
		p1.signal(t, syscall.SIGCONT)
		t.Logf("process-1 continued after %s frozen", time.Since(killedAt).Round(100*time.Millisecond))
		// It finds its partitions gone, rejoins, and shares them with its
		// successor; run on for several windows.
		time.Sleep(3 * time.Second)
		testenv.Eventually(t, 60*time.Second, "both processors in a stable group", func() bool {
			if p1.exited() {
				t.Fatalf("process-1 exited after SIGCONT: %v\n%s", p1.err, p1.tail(30))
			}
			return len(groupMembers(t, kc, group)) == 2
		})
		time.Sleep(3 * time.Second)
	}
	time.Sleep(2 * time.Second)
	// Run on until the reference has enough windows for a comparison of
	// substance (on a loaded machine the kill can come early).
	testenv.Eventually(t, 40*time.Second, "enough reference KPIs to compare", func() bool {
		w, _ := interfaceAndLink(kpisOf(t, readTopic(t, &rkc, rkc.Topics.KPIs)))
		return len(w) >= 4*20+8
	})

	if err := col.Stop(); err != nil {
		t.Errorf("collector stop: %v", err)
	}
	samples := readTopic(t, kc, kc.Topics.Samples)
	testenv.Eventually(t, 30*time.Second, "reference processor consumed every sample", func() bool {
		return ref.Stats().SamplesIn >= uint64(len(samples))
	})

	// Both have the same input: wait until the crashed pipeline has every
	// window the reference has.
	var want, got map[string]*wirepb.KPI
	var copies map[string]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		want, _ = interfaceAndLink(kpisOf(t, readTopic(t, &rkc, rkc.Topics.KPIs)))
		got, copies = interfaceAndLink(kpisOf(t, readTopic(t, kc, kc.Topics.KPIs)))
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	p2.terminate(t, 20*time.Second)
	if o.freeze > 0 {
		p1.terminate(t, 20*time.Second)
		t.Logf("process-1 log lines by message: %v", p1.countLog("msg", "partitions lost", "commit failed", "partitions assigned", "partitions revoked"))
	}

	var missing, extra []string
	var differ []kpiDiff
	for id, k := range want {
		g, ok := got[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case !proto.Equal(g, k):
			differ = append(differ, diffKPI(g, k))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	dup := 0
	for _, n := range copies {
		dup += n - 1
	}
	all := kpisOf(t, readTopic(t, kc, kc.Topics.KPIs))
	// Every copy of an id must be the same KPI (a replay, not a new value).
	var copiesDiffer []kpiDiff
	firstByID := map[string]*wirepb.KPI{}
	for _, k := range all {
		if k.GetInterface() == nil && k.GetLink() == nil {
			continue
		}
		if f, ok := firstByID[k.Id]; ok && !proto.Equal(f, k) {
			copiesDiffer = append(copiesDiffer, diffKPI(k, f))
		}
		firstByID[k.Id] = k
	}
	gaps, windows, per := windowGaps(all, kpiWindow)
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Slice(differ, func(i, j int) bool { return differ[i].start < differ[j].start })
	t.Logf("first processor: %d interface KPIs before SIGKILL or SIGSTOP; static membership %v, session timeout %s: the successor owned the partitions %s after the kill, committed %s after, produced windows after the kill %s after",
		before, o.static, session, handover.Round(100*time.Millisecond), resumed.Round(100*time.Millisecond), takeover.Round(100*time.Millisecond))
	t.Logf("reference: %d interface+link KPIs; crashed pipeline: %d distinct (%d duplicate copies re-sent after the takeover), %d missing, %d extra; %d interface windows over %d interfaces, %d gaps",
		len(want), len(got), dup, len(missing), len(extra), windows, len(per), len(gaps))
	if len(want) < 4*20 {
		t.Errorf("reference produced only %d KPIs", len(want))
	}
	if len(missing) > 0 || len(extra) > 0 || len(gaps) > 0 {
		t.Errorf("after the processor crash: KPI ids missing %v, extra %v, window gaps %v", missing, extra, gaps)
	}
	t.Logf("at the kill: committed offsets %v, first port-speed samples at %v", committed, speeds)
	if takeover > session+20*time.Second {
		t.Errorf("the successor took over %s after the kill, session timeout %s", takeover.Round(100*time.Millisecond), session)
	}
	if o.static && handover > 5*time.Second {
		t.Errorf("the restarted static member owned the partitions %s after the kill, want a few seconds (session timeout %s)", handover.Round(100*time.Millisecond), session)
	}
	if !o.static && handover < session/3 {
		t.Errorf("another member owned the partitions %s after the kill, before the session timeout %s", handover.Round(100*time.Millisecond), session)
	}
	if all := append(differ, copiesDiffer...); len(all) > 0 {
		t.Errorf("after the processor crash, %d of %d KPIs differ from the uninterrupted run, and %d re-sent copies differ from the first copy; fields that differ: %v; first: %s; last: %s",
			len(differ), len(want), len(copiesDiffer), diffFields(all), all[0], all[len(all)-1])
	}
	t.Logf("%s took %s", t.Name(), time.Since(began).Round(100*time.Millisecond))
}

// groupMembers returns the member ids of a stable group (none while it
// rebalances).
func groupMembers(t *testing.T, kc *kafka.Configuration, group string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dg, err := kadm.NewClient(newClient(t, kc)).DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	g := dg[group]
	if g.Err != nil || g.State != "Stable" {
		return nil
	}
	out := map[string]bool{}
	for _, m := range g.Members {
		out[m.MemberID] = true
	}
	return out
}

// committedOffsets returns a group's committed offsets on topic.
func committedOffsets(t *testing.T, kc *kafka.Configuration, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(newClient(t, kc)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// kpiDiff is one KPI that differs from the reference.
type kpiDiff struct {
	id     string
	start  int64
	fields []string // "util_in: 0 (want 0.31)"
}

func (d kpiDiff) String() string {
	return fmt.Sprintf("%s window %s: %s", d.id, time.Unix(0, d.start).UTC().Format("15:04:05"), strings.Join(d.fields, ", "))
}

// diffKPI lists the top-level and body fields of got that differ from want.
func diffKPI(got, want *wirepb.KPI) kpiDiff {
	d := kpiDiff{id: want.Id, start: want.WindowStartUnixNano}
	cmp := func(g, w proto.Message) {
		gr, wr := g.ProtoReflect(), w.ProtoReflect()
		fields := wr.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			if f.Message() != nil {
				continue
			}
			gv, wv := gr.Get(f), wr.Get(f)
			if !gv.Equal(wv) {
				d.fields = append(d.fields, fmt.Sprintf("%s: %v (want %v)", f.Name(), gv, wv))
			}
		}
	}
	cmp(got, want)
	switch {
	case got.GetInterface() != nil && want.GetInterface() != nil:
		cmp(got.GetInterface(), want.GetInterface())
	case got.GetLink() != nil && want.GetLink() != nil:
		cmp(got.GetLink(), want.GetLink())
	default:
		d.fields = append(d.fields, "body kind")
	}
	return d
}

// diffFields counts, over the diffs, how often each field differs.
func diffFields(ds []kpiDiff) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		for _, f := range d.fields {
			out[strings.SplitN(f, ":", 2)[0]]++
		}
	}
	return out
}

// stoppedLine is the collector's last log line ("stopped", with its counters).
type stoppedLine struct {
	Msg      string            `json:"msg"`
	Updates  uint64            `json:"updates"`
	Samples  uint64            `json:"samples"`
	Produced uint64            `json:"produced"`
	Dropped  map[string]uint64 `json:"dropped"`
}

func stoppedOf(t *testing.T, p *process) (stoppedLine, bool) {
	t.Helper()
	f, err := os.Open(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out stoppedLine
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l stoppedLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "stopped" {
			out, found = l, true
		}
	}
	return out, found
}

// TestCollectorKilled: a `telemetry collect` subprocess is killed with
// SIGKILL mid-stream and a new one (same instance name) started. Samples
// resume; nothing is duplicated; and what is lost is exactly accounted:
// the records the killed process had read but Kafka had not acknowledged
// (holes in its sequence numbers, and the tail after its last delivered
// sample) — bounded by its producer buffer — plus what the fabric emitted
// while no collector ran (gNMI streams have no replay).
func TestCollectorKilled(t *testing.T) {
	began := time.Now()
	kc := kafkaConfig(testenv.Kafka(t), "collector-kill", 1)
	ensureTopics(t, kc, true)
	testenv.Binary(t)
	sim := simtest.Start(t, 2, 1, 2)

	const bound = 200
	ccfg := collectorConfig("c1", sim)
	ccfg.Buffer = collector.Buffer{MaxRecords: bound, MaxBytes: 1 << 20, MaxBlock: time.Second}
	// A 300 ms linger keeps a batch of records in flight at any moment, so
	// the kill always catches some (with the default 5 ms, usually none).
	ccfg.Linger = 300 * time.Millisecond
	if err := ccfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfgPath := configFile(t, "collect.yaml", kc, map[string]any{"collect": ccfg})

	c1 := startProcess(t, "collect-1", "collect", "--config", cfgPath)
	testenv.Eventually(t, 30*time.Second, "samples from the first collector", func() bool {
		if c1.exited() {
			t.Fatalf("collect-1 exited: %v\n%s", c1.err, c1.tail(30))
		}
		return len(readTopic(t, kc, kc.Topics.Samples)) >= 100
	})
	time.Sleep(time.Second)
	c1.kill(t)
	killedAt := time.Now()
	time.Sleep(time.Second)

	c2Start := time.Now()
	c2 := startProcess(t, "collect-2", "collect", "--config", cfgPath)
	var resumed time.Duration
	testenv.Eventually(t, 30*time.Second, "samples from the second collector", func() bool {
		if c2.exited() {
			t.Fatalf("collect-2 exited: %v\n%s", c2.err, c2.tail(30))
		}
		for _, s := range samplesOf(t, readTopic(t, kc, kc.Topics.Samples)) {
			if s.ReceiveTimeUnixNano >= c2Start.UnixNano() && s.GetInterface() != nil {
				resumed = time.Since(killedAt)
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second)
	c2.terminate(t, 20*time.Second) // clean stop: flushes

	samples := samplesOf(t, readTopic(t, kc, kc.Topics.Samples))
	first := func(s *wirepb.Sample) bool { return s.ReceiveTimeUnixNano < killedAt.UnixNano() }
	second := func(s *wirepb.Sample) bool { return s.ReceiveTimeUnixNano >= c2Start.UnixNano() }
	for _, s := range samples {
		if !first(s) && !second(s) {
			t.Errorf("sample received between the kill and the restart: %v", s)
		}
	}
	a1, a2 := accountSeqs(samples, first), accountSeqs(samples, second)

	// The tail: per interface, counter samples the fabric emitted between
	// the last one delivered by collect-1 and the kill (read, or about to
	// be read, by collect-1; never acknowledged), and the ones emitted while
	// no collector ran (kill → first sample of collect-2).
	last1, first2 := map[string]int64{}, map[string]int64{}
	for _, s := range samples {
		ifc := s.GetInterface()
		if ifc == nil || len(ifc.Counters) == 0 {
			continue
		}
		k := s.Device + "/" + ifc.Interface
		if first(s) {
			last1[k] = max(last1[k], s.DeviceTimeUnixNano)
		} else if v, ok := first2[k]; !ok || s.DeviceTimeUnixNano < v {
			first2[k] = s.DeviceTimeUnixNano
		}
	}
	tail, gap := 0, 0
	var names []string
	for k := range last1 {
		names = append(names, k)
	}
	sort.Strings(names)
	var perIface []string
	for _, k := range names {
		tk := int((killedAt.UnixNano() - last1[k]) / int64(counterInterval))
		gk := int((first2[k]-last1[k])/int64(counterInterval)) - 1
		tail += tk
		gap += gk
		perIface = append(perIface, fmt.Sprintf("%s: last delivered %s before the kill, %d samples missing up to collect-2's first",
			k, time.Duration(killedAt.UnixNano()-last1[k]).Round(time.Millisecond), gk))
	}
	st2, ok := stoppedOf(t, c2)
	if !ok {
		t.Fatalf("collect-2 logged no \"stopped\" line:\n%s", c2.tail(20))
	}
	t.Logf("collect-1: %d records delivered before SIGKILL, %d duplicates, %d holes (read, never acknowledged) %v",
		a1.Records, a1.Duplicates, a1.Holes, a1.Missing)
	t.Logf("counter samples lost at the kill (emitted after collect-1's last delivered one, before the kill): %d over %d interfaces; missing between the two collectors in all: %d; samples resumed %s after the kill",
		tail, len(names), gap, resumed.Round(100*time.Millisecond))
	t.Logf("per interface: %s", strings.Join(perIface, "; "))
	t.Logf("collect-2: %d records, %d duplicates, %d holes; its own count: %d samples, %d produced, dropped %v",
		a2.Records, a2.Duplicates, a2.Holes, st2.Samples, st2.Produced, st2.Dropped)

	if a1.Records == 0 || a2.Records == 0 {
		t.Fatalf("collect-1 delivered %d, collect-2 %d records", a1.Records, a2.Records)
	}
	if a1.Duplicates != 0 || a1.SameTime != 0 || a2.Duplicates != 0 || a2.SameTime != 0 {
		t.Errorf("duplicates: collect-1 %d/%d, collect-2 %d/%d", a1.Duplicates, a1.SameTime, a2.Duplicates, a2.SameTime)
	}
	if a1.Holes+tail > bound {
		t.Errorf("collect-1 lost %d records in flight + %d tail samples: more than its %d-record buffer", a1.Holes, tail, bound)
	}
	if a2.Holes != 0 || sum(st2.Dropped) != 0 || uint64(a2.Records) != st2.Produced {
		t.Errorf("collect-2 (clean stop): %d holes, dropped %v, topic %d records vs %d produced", a2.Holes, st2.Dropped, a2.Records, st2.Produced)
	}
	// What no collector could read: the kill-to-resubscribe time, in samples.
	if maxGap := len(names) * int((resumed+time.Second)/counterInterval); gap > maxGap {
		t.Errorf("%d counter samples missing between the collectors, more than %d (%d interfaces × (%s down + 1 s) / %s)",
			gap, maxGap, len(names), resumed.Round(100*time.Millisecond), counterInterval)
	}
	t.Logf("TestCollectorKilled took %s", time.Since(began).Round(100*time.Millisecond))
}

// TestCollectorFrozen: a `telemetry collect` subprocess is frozen with
// SIGSTOP for 8 s, four times its stall-timeout (2 s), then continued. The
// targets did not stall, the collector did: it must not tear its sessions
// down as stalled when it wakes, which would discard the notifications
// waiting in its connections. Asserted: no session ended "stalled"; once
// the fabric stops (it delivers what it queued), the collector received
// exactly the updates the fabric sent; the topic holds every sample it
// produced, without hole or duplicate, and it dropped nothing.
func TestCollectorFrozen(t *testing.T) {
	began := time.Now()
	kc := kafkaConfig(testenv.Kafka(t), "collector-freeze", 1)
	ensureTopics(t, kc, true)
	testenv.Binary(t)
	sim := simtest.Start(t, 2, 1, 2)

	ccfg := collectorConfig("c1", sim)
	ccfg.StallTimeout = 2 * time.Second
	if err := ccfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c1 := startProcess(t, "collect-1", "collect", "--config", configFile(t, "collect.yaml", kc, map[string]any{"collect": ccfg}))
	testenv.Eventually(t, 30*time.Second, "samples from the collector", func() bool {
		if c1.exited() {
			t.Fatalf("collect-1 exited: %v\n%s", c1.err, c1.tail(30))
		}
		return len(readTopic(t, kc, kc.Topics.Samples)) >= 100
	})
	c1.signal(t, syscall.SIGSTOP)
	time.Sleep(8 * time.Second)
	woke := time.Now()
	c1.signal(t, syscall.SIGCONT)
	time.Sleep(3 * time.Second)
	stalled := c1.countLog("cause", "target session failed")
	if err := sim.Stop(); err != nil {
		t.Fatal(err)
	}
	sent := sim.Emitted()
	time.Sleep(time.Second)
	c1.terminate(t, 20*time.Second)

	st, ok := stoppedOf(t, c1)
	if !ok {
		t.Fatalf("collect-1 logged no \"stopped\" line:\n%s", c1.tail(20))
	}
	all := samplesOf(t, readTopic(t, kc, kc.Topics.Samples))
	a := accountSeqs(all, nil)
	// What the fabric sent during the freeze, read at the wake.
	backlog := 0
	for _, s := range all {
		if s.ReceiveTimeUnixNano >= woke.UnixNano() && s.DeviceTimeUnixNano < woke.UnixNano()-int64(time.Second) {
			backlog++
		}
	}
	t.Logf("sessions ended while the fabric ran, by cause: %v; fabric sent %d updates in %d notifications; collector received %d updates, %d samples (%d sent during the freeze, read at the wake), produced %d, dropped %v; topic: %d records, %d holes, %d duplicates",
		stalled, sent.Updates, sent.Notifications, st.Updates, st.Samples, backlog, st.Produced, st.Dropped, a.Records, a.Holes, a.Duplicates)
	if backlog == 0 {
		t.Errorf("no sample sent during the freeze was read at the wake: the freeze did not hold the collector")
	}
	if stalled["stalled"] > 0 {
		t.Errorf("the collector woke and tore down %d sessions as stalled: the targets never stalled, it did", stalled["stalled"])
	}
	if st.Updates != sent.Updates {
		t.Errorf("the fabric sent %d updates, the collector received %d: %d lost in its connections", sent.Updates, st.Updates, int64(sent.Updates)-int64(st.Updates))
	}
	if a.Holes != 0 || a.Duplicates != 0 || sum(st.Dropped) != 0 || uint64(a.Records) != st.Produced {
		t.Errorf("topic: %d holes, %d duplicates, %d records vs %d produced; dropped %v", a.Holes, a.Duplicates, a.Records, st.Produced, st.Dropped)
	}
	t.Logf("TestCollectorFrozen took %s", time.Since(began).Round(100*time.Millisecond))
}
