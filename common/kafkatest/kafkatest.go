// Package kafkatest starts private, real Apache Kafka clusters for fault
// tests: JVMs run from the jars in TELEMETRY_TEST_KAFKA_LIBS (the directory
// scripts/services.sh fills and prints), in KRaft mode, on free loopback
// ports, with their data in the test's temporary directory. A test can kill
// a node with SIGKILL (as kill -9 would), restart it on the same ports with
// the same data, and stop the cluster; everything left running is killed on
// t.Cleanup.
//
// One node is a combined broker+controller. Three nodes are three combined
// broker+controller nodes forming a 3-voter quorum, with replication factor 3
// and min.insync.replicas 2 as the defaults (including the internal
// topics), so the cluster keeps accepting acks=all writes with one node down.
//
// Without TELEMETRY_TEST_KAFKA_LIBS, Start skips the test (fails when CI is
// set), as common/testenv does.
//
// Each JVM is kept small (serial GC, C1 only, a small heap) because tests run
// on small machines; a node starts in a few seconds.
package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// Options configures a cluster. The zero value is a single node.
type Options struct {
	// Brokers is the number of nodes: 1 (default) or 3.
	Brokers int
	// Partitions is num.partitions, for topics created without a count
	// (default 4).
	Partitions int
	// HeapMB is each JVM's maximum heap in MiB (default 384).
	HeapMB int
	// StartTimeout bounds starting or restarting one node until it serves
	// metadata (default 90s).
	StartTimeout time.Duration
	// Props are extra server.properties lines; they win over the defaults.
	Props map[string]string
	// Java is the java binary (default "java" on PATH).
	Java string
}

// Cluster is a running private Kafka cluster.
type Cluster struct {
	t         testing.TB
	opts      Options
	dir       string
	classpath string
	clusterID string
	nodes     []*node
}

type node struct {
	id          int // node.id, index+1
	dir         string
	port, cport int
	props       string
	log4j       string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the running process has exited
	err  error         // its exit status
}

// Start formats and starts a cluster and returns once every node serves
// metadata listing all the brokers. It skips the test when the Kafka jars
// are not configured (fails when CI is set).
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	libs := testenv.KafkaLibs(t)
	if o.Brokers == 0 {
		o.Brokers = 1
	}
	if o.Brokers != 1 && o.Brokers != 3 {
		t.Fatalf("kafkatest: Brokers must be 1 or 3, not %d", o.Brokers)
	}
	if o.Partitions == 0 {
		o.Partitions = 4
	}
	if o.HeapMB == 0 {
		o.HeapMB = 384
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	if o.Java == "" {
		o.Java = "java"
	}
	if _, err := exec.LookPath(o.Java); err != nil {
		t.Fatalf("kafkatest: %s not found (Java 17+ is needed to run Kafka): %v", o.Java, err)
	}
	cp, note, err := classpath(libs)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	if note != "" {
		t.Log("kafkatest: " + note)
	}
	c := &Cluster{t: t, opts: o, dir: t.TempDir(), classpath: cp, clusterID: newUUID()}
	t.Cleanup(c.kill)

	ports, err := freePorts(2 * o.Brokers)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	var voters []string
	for i := 0; i < o.Brokers; i++ {
		n := &node{id: i + 1, dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i+1)), port: ports[2*i], cport: ports[2*i+1]}
		c.nodes = append(c.nodes, n)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", n.id, n.cport))
	}
	for _, n := range c.nodes {
		if err := c.writeConfig(n, strings.Join(voters, ",")); err != nil {
			t.Fatalf("kafkatest: %v", err)
		}
	}

	// Format every node's storage (in parallel: each is a JVM start).
	began := time.Now()
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.format(n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}

	for _, n := range c.nodes {
		if err := c.launch(n); err != nil {
			t.Fatalf("kafkatest: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.StartTimeout)
	defer cancel()
	for i := range c.nodes {
		if err := c.waitReady(ctx, i, len(c.nodes)); err != nil {
			t.Fatalf("kafkatest: start: %v", err)
		}
	}
	t.Logf("kafkatest: %d-node Kafka cluster up in %s: %s (data in %s)",
		len(c.nodes), time.Since(began).Round(100*time.Millisecond), strings.Join(c.Addrs(), ","), c.dir)
	return c
}

// Addrs returns every node's broker address (host:port), running or not,
// in node order.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr()
	}
	return out
}

// Addr returns node i's broker address.
func (c *Cluster) Addr(i int) string { return c.node(i).addr() }

// NodeID returns node i's Kafka node.id (i+1).
func (c *Cluster) NodeID(i int) int32 { return int32(c.node(i).id) }

// Index returns the node index of a Kafka node.id, or -1.
func (c *Cluster) Index(nodeID int32) int {
	for i, n := range c.nodes {
		if int32(n.id) == nodeID {
			return i
		}
	}
	return -1
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

// Running reports whether node i's process is running.
func (c *Cluster) Running(i int) bool {
	n := c.node(i)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to node i (no shutdown hook, no flush: kill -9) and
// waits for the process to be gone.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	n := c.node(i)
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		c.t.Fatalf("kafkatest: Kill(%d): node not running", i)
	}
	select {
	case <-done:
		c.t.Fatalf("kafkatest: Kill(%d): node had already exited (%v)\n%s", i, n.exitErr(), n.tail(40))
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kafkatest: Kill(%d): %v", i, err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		c.t.Fatalf("kafkatest: Kill(%d): process %d still there 15s after SIGKILL", i, cmd.Process.Pid)
	}
	c.t.Logf("kafkatest: node %d (%s) killed with SIGKILL", n.id, n.addr())
}

// Pause freezes node i with SIGSTOP: its connections stay open and the
// kernel still takes what clients send, but nothing is read, written or
// answered until Resume (a hung broker, not a dead one). The cleanup
// resumes a node left paused, so it can be killed.
func (c *Cluster) Pause(i int) {
	c.t.Helper()
	c.signal(i, "Pause", syscall.SIGSTOP)
	c.t.Cleanup(func() { c.signal(i, "Resume", syscall.SIGCONT) })
	c.t.Logf("kafkatest: node %d (%s) paused (SIGSTOP)", c.node(i).id, c.node(i).addr())
}

// Resume lets a paused node i run again (SIGCONT).
func (c *Cluster) Resume(i int) {
	c.t.Helper()
	c.signal(i, "Resume", syscall.SIGCONT)
	c.t.Logf("kafkatest: node %d (%s) resumed (SIGCONT)", c.node(i).id, c.node(i).addr())
}

func (c *Cluster) signal(i int, what string, sig syscall.Signal) {
	c.t.Helper()
	n := c.node(i)
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || !c.Running(i) {
		if sig == syscall.SIGCONT {
			return // nothing to resume
		}
		c.t.Fatalf("kafkatest: %s(%d): node not running", what, i)
	}
	if err := cmd.Process.Signal(sig); err != nil && sig != syscall.SIGCONT {
		c.t.Fatalf("kafkatest: %s(%d): %v", what, i, err)
	}
}

// Restart starts node i again (same ports, same data) after Kill or Stop,
// and returns once it serves metadata listing itself (registered and
// unfenced).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	n := c.node(i)
	if c.Running(i) {
		c.t.Fatalf("kafkatest: Restart(%d): node still running", i)
	}
	began := time.Now()
	if err := c.launch(n); err != nil {
		c.t.Fatalf("kafkatest: Restart(%d): %v", i, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	if err := c.waitReady(ctx, i, 0); err != nil {
		c.t.Fatalf("kafkatest: Restart(%d): %v", i, err)
	}
	c.t.Logf("kafkatest: node %d (%s) restarted in %s", n.id, n.addr(), time.Since(began).Round(100*time.Millisecond))
}

// Stop shuts every running node down (SIGTERM, then SIGKILL after 15s) and
// waits for the processes. The data stays until the test ends; nodes can be
// started again one by one with Restart.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop(syscall.SIGTERM, 15*time.Second)
		}()
	}
	wg.Wait()
}

// kill is the cleanup: SIGKILL whatever is still running.
func (c *Cluster) kill() {
	for _, n := range c.nodes {
		n.stop(syscall.SIGKILL, 10*time.Second)
	}
}

// LogTail returns the last lines of node i's broker log and JVM output.
func (c *Cluster) LogTail(i, lines int) string { return c.node(i).tail(lines) }

// Client returns a franz-go client seeded with every node, closed on cleanup.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
	if err != nil {
		c.t.Fatalf("kafkatest: client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with the cluster's default replication
// factor (1 or 3) and waits until every partition has a leader.
func (c *Cluster) CreateTopic(topic string, partitions int32) {
	c.t.Helper()
	cl := c.Client()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err != nil {
		c.t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		c.t.Fatalf("kafkatest: create topic %s: %v", topic, resp.Err)
	}
	if err := c.waitTopics(ctx, adm, false, topic); err != nil {
		c.t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
}

// WaitInSync waits (up to timeout) until every partition of the topics has
// a leader and every replica in its ISR, for example after Restart.
func (c *Cluster) WaitInSync(timeout time.Duration, topics ...string) {
	c.t.Helper()
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.waitTopics(ctx, kadm.NewClient(cl), true, topics...); err != nil {
		c.t.Fatalf("kafkatest: wait in sync: %v", err)
	}
}

// Leaders returns, for each partition of topic, the index of the node
// leading it (-1 when leaderless).
func (c *Cluster) Leaders(topic string) map[int32]int {
	c.t.Helper()
	out := map[int32]int{}
	for p, pd := range c.partitions(topic, "leaders") {
		out[p] = c.Index(pd.Leader)
	}
	return out
}

// ISR returns, for each partition of topic, the indexes of the nodes in
// its in-sync replica set.
func (c *Cluster) ISR(topic string) map[int32][]int {
	c.t.Helper()
	out := map[int32][]int{}
	for p, pd := range c.partitions(topic, "ISR") {
		for _, id := range pd.ISR {
			out[p] = append(out[p], c.Index(id))
		}
		sort.Ints(out[p])
	}
	return out
}

// partitions describes topic's partitions (what names the caller in a failure).
func (c *Cluster) partitions(topic, what string) kadm.PartitionDetails {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td, err := kadm.NewClient(c.Client()).ListTopics(ctx, topic)
	if err != nil {
		c.t.Fatalf("kafkatest: %s of %s: %v", what, topic, err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		c.t.Fatalf("kafkatest: %s of %s: %v", what, topic, d.Err)
	}
	return d.Partitions
}

func (c *Cluster) waitTopics(ctx context.Context, adm *kadm.Client, inSync bool, topics ...string) error {
	var last string
	for {
		td, err := adm.ListTopics(ctx, topics...)
		if err == nil {
			last = ""
			for _, topic := range topics {
				d, ok := td[topic]
				switch {
				case !ok:
					last = topic + ": missing"
				case d.Err != nil:
					last = fmt.Sprintf("%s: %v", topic, d.Err)
				case len(d.Partitions) == 0:
					last = topic + ": no partitions"
				}
				for _, pd := range d.Partitions.Sorted() {
					switch {
					case pd.Err != nil:
						last = fmt.Sprintf("%s[%d]: %v", topic, pd.Partition, pd.Err)
					case pd.Leader < 0:
						last = fmt.Sprintf("%s[%d]: no leader", topic, pd.Partition)
					case inSync && len(pd.ISR) < len(pd.Replicas):
						last = fmt.Sprintf("%s[%d]: isr %v of replicas %v", topic, pd.Partition, pd.ISR, pd.Replicas)
					}
				}
			}
			if last == "" {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v not ready: %s", topics, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) node(i int) *node {
	if i < 0 || i >= len(c.nodes) {
		c.t.Fatalf("kafkatest: no node %d (cluster of %d)", i, len(c.nodes))
	}
	return c.nodes[i]
}

func (n *node) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

func (n *node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// stop signals the running process and waits up to grace, then kills it.
func (n *node) stop(sig syscall.Signal, grace time.Duration) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
}

// writeConfig writes node n's server.properties and log4j2.properties.
func (c *Cluster) writeConfig(n *node, voters string) error {
	if err := os.MkdirAll(filepath.Join(n.dir, "data"), 0o755); err != nil {
		return err
	}
	rf, minISR := 1, 1
	if len(c.nodes) >= 3 {
		rf, minISR = 3, 2
	}
	props := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          strconv.Itoa(n.id),
		"controller.quorum.voters":                         voters,
		"listeners":                                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.port, n.cport),
		"advertised.listeners":                             fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.port),
		"controller.listener.names":                        "CONTROLLER",
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"log.dirs":                                         filepath.Join(n.dir, "data"),
		"num.partitions":                                   strconv.Itoa(c.opts.Partitions),
		"default.replication.factor":                       strconv.Itoa(rf),
		"min.insync.replicas":                              strconv.Itoa(minISR),
		"offsets.topic.replication.factor":                 strconv.Itoa(rf),
		"offsets.topic.num.partitions":                     "4",
		"transaction.state.log.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.min.isr":                    strconv.Itoa(minISR),
		"transaction.state.log.num.partitions":             "4",
		"share.coordinator.state.topic.replication.factor": strconv.Itoa(rf),
		"share.coordinator.state.topic.min.isr":            strconv.Itoa(minISR),
		"share.coordinator.state.topic.num.partitions":     "1",
		"unclean.leader.election.enable":                   "false",
		"auto.create.topics.enable":                        "true",
		"group.initial.rebalance.delay.ms":                 "0",
		// Small machine: few threads, small buffers.
		"num.network.threads":               "2",
		"num.io.threads":                    "2",
		"num.replica.fetchers":              "1",
		"background.threads":                "2",
		"num.recovery.threads.per.data.dir": "1",
		"log.cleaner.threads":               "1",
		"log.cleaner.dedupe.buffer.size":    strconv.Itoa(8 << 20),
		"log.segment.bytes":                 strconv.Itoa(16 << 20),
		// Fault tests: notice a dead node within seconds, not half a minute.
		"broker.heartbeat.interval.ms": "500",
		"broker.session.timeout.ms":    "4000",
		"replica.lag.time.max.ms":      "5000",
		"log.retention.hours":          "24",
	}
	for k, v := range c.opts.Props {
		props[k] = v
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	n.props = filepath.Join(n.dir, "server.properties")
	if err := os.WriteFile(n.props, []byte(b.String()), 0o644); err != nil {
		return err
	}
	n.log4j = filepath.Join(n.dir, "log4j2.properties")
	l := fmt.Sprintf(`rootLogger.level=WARN
rootLogger.appenderRef.file.ref=FILE
logger.kafka.name=kafka.server.KafkaRaftServer
logger.kafka.level=INFO
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=%s
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%%d] %%p %%m (%%c)%%n
`, filepath.Join(n.dir, "server.log"))
	return os.WriteFile(n.log4j, []byte(l), 0o644)
}

func (c *Cluster) jvmArgs(n *node, heapMB int) []string {
	return []string{
		"-Xms32m", fmt.Sprintf("-Xmx%dm", heapMB),
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
		"-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + n.log4j,
		"-cp", c.classpath,
	}
}

// format runs kafka.tools.StorageTool format for node n.
func (c *Cluster) format(n *node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(c.jvmArgs(n, 128), "kafka.tools.StorageTool", "format",
		"-t", c.clusterID, "-c", n.props, "--ignore-formatted")
	out, err := exec.CommandContext(ctx, c.opts.Java, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("format node %d storage: %w\n%s", n.id, err, lastLines(out, 30))
	}
	return nil
}

// launch starts node n's JVM, appending its output to stdout.log.
func (c *Cluster) launch(n *node) error {
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "---- kafkatest: starting node %d at %s\n", n.id, time.Now().UTC().Format(time.RFC3339Nano))
	args := append(c.jvmArgs(n, c.opts.HeapMB), "kafka.Kafka", n.props)
	cmd := exec.Command(c.opts.Java, args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start node %d: %w", n.id, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.err = cmd, done, nil
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// waitReady waits until node i answers a metadata request listing itself
// (and at least want brokers when want > 0).
func (c *Cluster) waitReady(ctx context.Context, i, want int) error {
	n := c.nodes[i]
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	last := "no answer yet"
	for {
		select {
		case <-done:
			return fmt.Errorf("node %d (%s) exited while starting (%v); log tail:\n%s", n.id, n.addr(), n.exitErr(), n.tail(40))
		default:
		}
		if got, err := brokersSeenBy(ctx, n.addr()); err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("metadata lists brokers %v", got)
			self := false
			for _, id := range got {
				self = self || id == int32(n.id)
			}
			if self && (want <= 0 || len(got) >= want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d (%s) not ready (%s); log tail:\n%s", n.id, n.addr(), last, n.tail(40))
		case <-done:
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// brokersSeenBy asks the broker at addr (only it) for metadata and returns
// the broker ids it lists.
func brokersSeenBy(ctx context.Context, addr string) ([]int32, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	conn.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second), kgo.RequestRetries(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, 0, len(resp.Brokers))
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	return ids, nil
}

// tail returns the last lines of the node's server.log and stdout.log.
func (n *node) tail(lines int) string {
	var b strings.Builder
	for _, f := range []string{"server.log", "stdout.log"} {
		data, err := os.ReadFile(filepath.Join(n.dir, f))
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "==> node %d %s <==\n%s\n", n.id, f, lastLines(data, lines))
	}
	return b.String()
}

func lastLines(data []byte, n int) string {
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}

// freePorts reserves n distinct free loopback ports (held open together so
// they differ, then released for the JVMs to bind).
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newUUID returns a random Kafka Uuid (base64url of 16 bytes, no padding,
// not starting with '-', as Kafka's Uuid.randomUuid).
func newUUID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		s := base64.RawURLEncoding.EncodeToString(b[:])
		if !strings.HasPrefix(s, "-") {
			return s
		}
	}
}

// classpath is libs/*, with a slf4j-api 2.x jar put first when libs only
// holds 1.x: Kafka 4 logs through slf4j 2 (log4j-slf4j2-impl), and with
// slf4j-api 1.7 on the classpath every broker log line is silently dropped.
func classpath(libs string) (cp, note string, err error) {
	st, err := os.Stat(libs)
	if err != nil || !st.IsDir() {
		return "", "", fmt.Errorf("TELEMETRY_TEST_KAFKA_LIBS=%s is not a directory of Kafka jars: %v", libs, err)
	}
	if m, _ := filepath.Glob(filepath.Join(libs, "kafka_2.13-*.jar")); len(m) == 0 {
		return "", "", fmt.Errorf("TELEMETRY_TEST_KAFKA_LIBS=%s holds no kafka_2.13-*.jar", libs)
	}
	cp = filepath.Join(libs, "*")
	if m, _ := filepath.Glob(filepath.Join(libs, "slf4j-api-2*.jar")); len(m) > 0 {
		return cp, "", nil
	}
	if m, _ := filepath.Glob(filepath.Join(libs, "slf4j-api-1*.jar")); len(m) == 0 {
		return cp, "", nil
	}
	home, _ := os.UserHomeDir()
	cands, _ := filepath.Glob(filepath.Join(home, ".m2", "repository", "org", "slf4j", "slf4j-api", "2.*", "slf4j-api-2*.jar"))
	if len(cands) == 0 {
		return cp, "broker logs will be empty: " + libs + " has slf4j-api 1.x only (Kafka 4 needs slf4j-api 2.x for log4j-slf4j2-impl)", nil
	}
	sort.Strings(cands)
	return cands[len(cands)-1] + string(os.PathListSeparator) + cp, "", nil
}
