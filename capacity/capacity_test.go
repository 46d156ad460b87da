package capacity

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestComputeByHand: a plan whose every figure is worked out by hand from
// round inputs.
func TestComputeByHand(t *testing.T) {
	f := Fabric{Switches: 1000, InterfacesPerSwitch: 100, Interval: time.Second, ProbesPerSwitch: 5,
		ProbeInterval: 5 * time.Second, Window: 10 * time.Second, RetentionDays: 30, RawRetentionDays: 7, RawSamples: true}
	c := Costs{CollectorCPUPerSample: 6, ProcessorCPUPerSample: 3, SinkCPUPerRow: 2, RemediationCPUPerKPI: 4, ClickHouseCPUPerRow: 5,
		CollectorBaseBytes: 100 << 20, CollectorBytesPerInterface: 10000, ProcessorBaseBytes: 64 << 20, ProcessorBytesPerSeries: 2000,
		SinkBaseBytes: 64 << 20, SinkBytesPerBufferedRow: 100, RemediationBaseBytes: 64 << 20, RemediationBytesPerSeries: 400,
		KafkaBytesPerSample: 80, KafkaBytesPerKPI: 100, ClickHouseBytesPerRawRow: 64, ClickHouseBytesPerKPIRow: 80}
	a := DefaultAssumptions()
	p, err := Compute(f, c, a)
	if err != nil {
		t.Fatal(err)
	}
	// 100,000 interfaces/s + 5,000 probes / 5 s.
	eq(t, "samples/s", p.SamplesPerSec, 101000)
	// (100,000 interfaces + 5,000 links + 1,000 devices) / 10 s.
	eq(t, "KPIs/s", p.KPIsPerSec, 10600)
	eq(t, "rows/s", p.RowsPerSec, 111600)
	// Collector: 101,000 × 6 µs = 0.606 cores; one pod (1.2 cores at 60 %
	// of 2); request 0.606 / 0.6 = 1010m → 1050m; memory 100 MiB + 1 GB.
	stage(t, p.Collectors, 1, 1, 1050, (100<<20)+100000*10000)
	// Processor: 0.303 cores, 2 pods (minimum): 0.1515 / 0.6 = 253m → 300m.
	stage(t, p.Processors, 2, 4, 300, (64<<20)+106000*2000/2)
	// Sink: 111,600 × 2 µs = 0.2232 cores, 2 pods → 186m → 200m; batches
	// of 55,800 rows (1 s of one pod's share) × 3 × 100 B.
	stage(t, p.Sinks, 2, 4, 200, (64<<20)+55800*3*100)
	// Remediation: 10,600 × 4 µs = 0.0424 cores → 36m → 50m.
	stage(t, p.Remediation, 2, 4, 50, (64<<20)+106000*400/2)
	// Kafka: 101,000 × 80 + 10,600 × 100 = 9.14 MB/s, × 3 = 27.42 MB/s
	// under one broker's 60: 3 brokers (the replication); partitions
	// max(⌈8.08 / 5⌉ = 2, 2 × 2) = 4 → 6 (a multiple of 3).
	eq(t, "kafka bytes/s", p.KafkaWriteBytesPerSec, 9.14e6)
	if p.KafkaBrokers != 3 || p.KafkaPartitions != 6 {
		t.Errorf("kafka: %d brokers, %d partitions; want 3, 6", p.KafkaBrokers, p.KafkaPartitions)
	}
	eq(t, "kafka disk", p.KafkaDiskBytes, 9.14e6*3*86400)
	// ClickHouse: 111,600 rows/s under 200,000: one shard; 0.558 cores.
	if p.ClickHouseShards != 1 {
		t.Errorf("shards %d, want 1", p.ClickHouseShards)
	}
	eq(t, "clickhouse cores", p.ClickHouseCores, 0.558)
	day := 101000*86400*64.0 + 10600*86400*80.0
	eq(t, "storage per day", p.StorageBytesPerDay, day)
	eq(t, "storage", p.StorageBytes, (101000*86400*64.0*7+10600*86400*80.0*30)*2)
	eq(t, "storage per server", p.StorageBytesPerReplica, p.StorageBytes/2)
}

func eq(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func stage(t *testing.T, s Stage, pods, maxPods int, milli int64, mem float64) {
	t.Helper()
	wantMem := roundUp(int64(math.Ceil(mem)), 32<<20)
	if s.Pods != pods || s.MaxPods != maxPods || s.CPUMilli != milli || s.MemoryBytes != wantMem {
		t.Errorf("%s: %d pods (max %d), %dm, %d B; want %d (max %d), %dm, %d B", s.Name, s.Pods, s.MaxPods, s.CPUMilli,
			s.MemoryBytes, pods, maxPods, milli, wantMem)
	}
}

// TestComputeScales: ten times the fabric never needs fewer of anything,
// and the pods' requests stay under the cap.
func TestComputeScales(t *testing.T) {
	var prev Plan
	for i, sw := range []int{1000, 10000, 100000} {
		p, err := Compute(DefaultFabric(sw, 100), Measured(), DefaultAssumptions())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []Stage{p.Collectors, p.Processors, p.Sinks, p.Remediation} {
			if float64(s.CPUMilli) > 1000*DefaultAssumptions().MaxPodCores+50 {
				t.Errorf("%d switches: %s requests %dm, over the %g-core cap", sw, s.Name, s.CPUMilli, DefaultAssumptions().MaxPodCores)
			}
			if s.MaxPods < s.Pods || s.MaxPods > p.KafkaPartitions && s.Name != "collector" {
				t.Errorf("%d switches: %s pods %d..%d with %d partitions", sw, s.Name, s.Pods, s.MaxPods, p.KafkaPartitions)
			}
		}
		if i > 0 && (p.Collectors.Pods < prev.Collectors.Pods || p.Sinks.Pods < prev.Sinks.Pods || p.KafkaBrokers < prev.KafkaBrokers ||
			p.KafkaPartitions < prev.KafkaPartitions || p.ClickHouseShards < prev.ClickHouseShards || p.StorageBytes <= prev.StorageBytes) {
			t.Errorf("%d switches needs less than %d: %+v", sw, prev.Fabric.Switches, p)
		}
		prev = p
	}
	if prev.ClickHouseShards < 2 || prev.KafkaBrokers <= 3 {
		t.Errorf("10 M samples/s on %d shards and %d brokers", prev.ClickHouseShards, prev.KafkaBrokers)
	}
}

func TestComputeRejects(t *testing.T) {
	f := DefaultFabric(10, 10)
	for name, mod := range map[string]func(*Fabric, *Assumptions){
		"switches: must be at least 1": func(f *Fabric, _ *Assumptions) { f.Switches = 0 },
		"interval: must be positive":   func(f *Fabric, _ *Assumptions) { f.Interval = 0 },
		"window: must be at least":     func(f *Fabric, _ *Assumptions) { f.Window = time.Millisecond },
		"target utilization":           func(_ *Fabric, a *Assumptions) { a.TargetUtilization = 1.5 },
		"throughputs":                  func(_ *Fabric, a *Assumptions) { a.ShardInsertRowsPerSec = 0 },
	} {
		ff, a := f, DefaultAssumptions()
		mod(&ff, &a)
		if _, err := Compute(ff, Measured(), a); err == nil || !strings.HasPrefix(err.Error(), name) {
			t.Errorf("got %v, want %q", err, name)
		}
	}
	if _, err := ForSite("medium"); err == nil {
		t.Error("ForSite(medium) did not fail")
	}
}

func TestWrite(t *testing.T) {
	p, err := ForSite("large")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**1,008,000 samples/s**", "| collector | 5 | – |", "ClickHouse: 6 shards × 2 replicas", "20 partitions per topic"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}
