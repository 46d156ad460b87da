package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Timings shared by the tests: fast enough that a few seconds hold many
// samples and windows, slow enough for a 2-core machine running JVMs.
const (
	counterInterval = 200 * time.Millisecond
	probeInterval   = time.Second
	kpiWindow       = time.Second
)

// kafkaConfig is a kafka section with unique topic names for this test.
func kafkaConfig(brokers []string, test string, rf int16) *kafka.Configuration {
	kc := kafka.DefaultConfiguration()
	kc.Brokers = brokers
	kc.ClientID = "faults-" + test
	kc.Partitions = 4
	kc.ReplicationFactor = rf
	kc.DialTimeout = 3 * time.Second
	p := fmt.Sprintf("faults-%s-%d-%06x", test, time.Now().Unix(), rand.Uint32()&0xffffff)
	kc.Topics = kafka.Topics{
		Samples:      p + ".samples",
		KPIs:         p + ".kpis",
		Remediations: p + ".remediations",
		DeadLetter:   p + ".deadletter",
	}
	return &kc
}

// ensureTopics creates the pipeline's topics (and extra ones) and, when
// deleteAfter is set (shared broker), deletes them on cleanup.
func ensureTopics(t *testing.T, kc *kafka.Configuration, deleteAfter bool, extra ...string) {
	t.Helper()
	cl := newClient(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kc.EnsureTopics(ctx, cl); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	adm := kadm.NewClient(cl)
	if len(extra) > 0 {
		if _, err := adm.CreateTopics(ctx, kc.Partitions, kc.ReplicationFactor, nil, extra...); err != nil {
			t.Fatalf("create topics %v: %v", extra, err)
		}
	}
	if !deleteAfter {
		return
	}
	all := append(kc.Topics.All(), extra...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, all...)
	})
}

func newClient(t *testing.T, kc *kafka.Configuration, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// collectorConfig collects every target of the fabric with fast timings.
func collectorConfig(instance string, f *simulator.Fabric) collector.Configuration {
	cfg := collector.DefaultConfiguration()
	cfg.Instance = instance
	cfg.Backoff = collector.Backoff{Min: 100 * time.Millisecond, Max: 500 * time.Millisecond, Factor: 2}
	cfg.InventoryInterval = 2 * time.Second
	cfg.DialTimeout = 2 * time.Second
	cfg.StallTimeout = 5 * time.Second
	cfg.FlushTimeout = 15 * time.Second
	for _, tg := range f.Targets() {
		cfg.Targets = append(cfg.Targets, collector.TargetConfig{Name: tg.Name, Address: f.Addr(), Site: tg.Site, Insecure: true})
	}
	for i := range cfg.Subscriptions {
		switch cfg.Subscriptions[i].Name {
		case "counters":
			cfg.Subscriptions[i].SampleInterval = counterInterval
		case "probes":
			cfg.Subscriptions[i].SampleInterval = probeInterval
		}
	}
	return cfg
}

func startCollector(t *testing.T, cfg collector.Configuration, kc *kafka.Configuration) *collector.Collector {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := collector.New(cfg, collector.Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

// processorConfig is a processor with 1 s windows and a max-gap longer than
// any test, so no window closes on processing time.
func processorConfig(group, instance string) kpi.Configuration {
	cfg := kpi.DefaultConfiguration()
	cfg.Window = kpiWindow
	cfg.AllowedLateness = 500 * time.Millisecond
	cfg.MaxGap = 5 * time.Minute
	cfg.GroupID = group
	cfg.Instance = instance
	cfg.CommitInterval = 200 * time.Millisecond
	return cfg
}

func startProcessor(t *testing.T, cfg kpi.Configuration, kc *kafka.Configuration) *kpi.Processor {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := kpi.New(cfg, kpi.Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// readTopic returns every record of topic up to its end offsets at the time
// of the call, partition by partition in offset order.
func readTopic(t *testing.T, kc *kafka.Configuration, topic string) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(newClient(t, kc))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A topic just created may not be in every broker's metadata yet: retry.
	var want map[int32]int64
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			want = map[int32]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Offset > 0 {
					want[o.Partition] = o.Offset
				}
			})
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("end offsets of %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(want) == 0 {
		return nil
	}
	parts := map[int32]kgo.Offset{}
	for p := range want {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, kc, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(200*time.Millisecond))
	var out []*kgo.Record
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: got up to %v of end offsets %v", topic, next, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= want[r.Partition] {
				return
			}
			out = append(out, r)
			next[r.Partition] = r.Offset + 1
		})
	}
	return out
}

// samplesOf decodes sample records; a record without the schema header, with
// a wrong key or that does not decode fails the test.
func samplesOf(t *testing.T, recs []*kgo.Record) []*wirepb.Sample {
	t.Helper()
	out := make([]*wirepb.Sample, 0, len(recs))
	for _, r := range recs {
		s := &wirepb.Sample{}
		if err := wire.DecodeSample(r.Value, s); err != nil {
			t.Fatalf("%s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != wire.SchemaHeader || string(r.Headers[0].Value) != wire.SchemaSample {
			t.Fatalf("%s[%d]@%d: headers %v", r.Topic, r.Partition, r.Offset, r.Headers)
		}
		if string(r.Key) != string(wire.SampleKey(nil, s)) {
			t.Fatalf("%s[%d]@%d: key %q, want %q", r.Topic, r.Partition, r.Offset, r.Key, wire.SampleKey(nil, s))
		}
		out = append(out, s)
	}
	return out
}

func kpisOf(t *testing.T, recs []*kgo.Record) []*wirepb.KPI {
	t.Helper()
	out := make([]*wirepb.KPI, 0, len(recs))
	for _, r := range recs {
		k := &wirepb.KPI{}
		if err := wire.DecodeKPI(r.Value, k); err != nil {
			t.Fatalf("%s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, k)
	}
	return out
}

// seqAccount is what the samples topic holds of one collector instance's
// records: every record carries a per-(instance, device) sequence number
// taken before the record is handed to the producer (a dropped record
// leaves a hole), so the topic alone tells what is missing and what is
// duplicated.
type seqAccount struct {
	Records    int               // records read
	Duplicates int               // records whose (collector, device, seq) was already read
	Holes      int               // sequence numbers missing below each device's highest
	MaxSeq     map[string]uint64 // device → highest seq read
	Missing    map[string][]uint64
	// SameTime counts interface samples with the same (device, interface,
	// device time, body) as an earlier one: a duplicate independent of seq.
	SameTime int
}

// accountSeqs checks the samples for which keep returns true.
func accountSeqs(samples []*wirepb.Sample, keep func(*wirepb.Sample) bool) seqAccount {
	a := seqAccount{MaxSeq: map[string]uint64{}, Missing: map[string][]uint64{}}
	seen := map[string]map[uint64]bool{}
	sameTime := map[string]bool{}
	for _, s := range samples {
		if keep != nil && !keep(s) {
			continue
		}
		a.Records++
		dev := s.Collector + "/" + s.Device
		if seen[dev] == nil {
			seen[dev] = map[uint64]bool{}
		}
		if seen[dev][s.Seq] {
			a.Duplicates++
		}
		seen[dev][s.Seq] = true
		a.MaxSeq[dev] = max(a.MaxSeq[dev], s.Seq)
		if ifc := s.GetInterface(); ifc != nil {
			k := fmt.Sprintf("%s/%s/%s@%d|%d|%d|%d", s.Collector, s.Device, ifc.Interface, s.DeviceTimeUnixNano,
				len(ifc.Counters), ifc.OperStatus, ifc.SpeedBps)
			if sameTime[k] {
				a.SameTime++
			}
			sameTime[k] = true
		}
	}
	for dev, max := range a.MaxSeq {
		for q := uint64(1); q <= max; q++ {
			if !seen[dev][q] {
				a.Holes++
				a.Missing[dev] = append(a.Missing[dev], q)
			}
		}
	}
	return a
}

// windowGaps checks, per interface, that the interface KPIs (de-duplicated
// by id) cover consecutive windows from the first to the last one; it
// returns the missing windows as "device/interface@start" and the number of
// distinct windows.
func windowGaps(kpis []*wirepb.KPI, window time.Duration) (missing []string, windows int, perIface map[string][]int64) {
	perIface = map[string][]int64{}
	seen := map[string]bool{}
	for _, k := range kpis {
		ifc := k.GetInterface()
		if ifc == nil || seen[k.Id] {
			continue
		}
		seen[k.Id] = true
		key := k.Device + "/" + ifc.Interface
		perIface[key] = append(perIface[key], k.WindowStartUnixNano)
	}
	for key, starts := range perIface {
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		windows += len(starts)
		for i := 1; i < len(starts); i++ {
			for w := starts[i-1] + int64(window); w < starts[i]; w += int64(window) {
				missing = append(missing, fmt.Sprintf("%s@%s", key, time.Unix(0, w).UTC().Format("15:04:05.000")))
			}
		}
	}
	sort.Strings(missing)
	return missing, windows, perIface
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// ---------------------------------------------------------------- subprocesses

// TestMain: a long suite (real clusters and processes), skipped under
// -short; it removes the telemetry binary the subprocess tests built.
func TestMain(m *testing.M) { testenv.Main(m, true) }

// deleteGroupsAfter deletes consumer groups from the (shared) broker on cleanup.
func deleteGroupsAfter(t *testing.T, kc *kafka.Configuration, groups ...string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, kc))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteGroups(ctx, groups...)
	})
}

// process is a `telemetry` subprocess whose stderr (the JSON log) goes to a file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProcess runs the telemetry binary with args; it is killed on cleanup.
func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	bin := testenv.Binary(t)
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (no signal handler, no flush, no commit) and waits.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s had already exited (%v):\n%s", p.name, p.err, p.tail(30))
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// signal sends sig (SIGSTOP, SIGCONT) to a running process.
func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s had already exited (%v):\n%s", p.name, p.err, p.tail(30))
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v: %v", p.name, sig, err)
	}
}

// terminate sends SIGTERM (the clean Stop path) and waits up to timeout.
func (p *process) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s had already exited (%v):\n%s", p.name, p.err, p.tail(30))
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v:\n%s", p.name, p.err, p.tail(30))
		}
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not stop within %s after SIGTERM:\n%s", p.name, timeout, p.tail(30))
	}
}

// tail returns the last lines of the process log.
func (p *process) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// countLog counts the lines of the process log (JSON) whose message is one
// of msgs, by the value of their field key ("msg", "cause", ...).
func (p *process) countLog(key string, msgs ...string) map[string]int {
	out := map[string]int{}
	b, _ := os.ReadFile(p.log)
	for _, line := range strings.Split(string(b), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if m, _ := l["msg"].(string); slices.Contains(msgs, m) {
			out[fmt.Sprint(l[key])]++
		}
	}
	return out
}

// writeFile writes a file in the test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// kafkaYAML is the kafka section of a telemetry configuration file.
func kafkaYAML(kc *kafka.Configuration) string {
	return fmt.Sprintf(`kafka:
  brokers: [%s]
  client-id: %s
  partitions: %d
  replication-factor: %d
  topics:
    samples: %s
    kpis: %s
    remediations: %s
    deadletter: %s
`, strings.Join(kc.Brokers, ", "), kc.ClientID, kc.Partitions, kc.ReplicationFactor,
		kc.Topics.Samples, kc.Topics.KPIs, kc.Topics.Remediations, kc.Topics.DeadLetter)
}

// freeAddr returns a free loopback host:port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
