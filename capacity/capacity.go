// Package capacity sizes a deployment of the pipeline for a fabric: from
// the fabric (switches, interfaces per switch, sample interval, probes,
// retention) and the measured cost of each stage (CPU per sample, memory
// per interface or series, Kafka bytes per record, ClickHouse bytes per row)
// it computes the samples per second, the pods of every stage with their
// CPU and memory requests, the Kafka partitions and brokers, the
// ClickHouse shards and the storage per day.
//
// The measured costs are Measured(); the figures that cannot be measured on
// one machine (a broker's and a shard's sustained throughput on production
// hardware) are documented assumptions in DefaultAssumptions(). The
// formulas are in Compute; docs/capacity.md prints its plans
// (`telemetry capacity`).
package capacity

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Fabric is what is monitored and how.
type Fabric struct {
	// Switches is the number of gNMI targets.
	Switches int
	// InterfacesPerSwitch is the interfaces of each switch (one counter
	// sample each per Interval).
	InterfacesPerSwitch int
	// Interval is the counter sample interval (the counters subscription's
	// sample-interval, 1s by default).
	Interval time.Duration
	// ProbesPerSwitch is the probe tests (links) of each switch, one
	// result each per ProbeInterval (the probes subscription, 5s).
	ProbesPerSwitch int
	// ProbeInterval is the probes subscription's sample-interval.
	ProbeInterval time.Duration
	// Window is the KPI window (process.window, 10s).
	Window time.Duration
	// RetentionDays is how long KPI rows are kept
	// (clickhouse.retention-days, 30).
	RetentionDays int
	// RawRetentionDays is how long raw samples are kept
	// (clickhouse.raw-retention-days, 7); 0 with RawSamples off.
	RawRetentionDays int
	// RawSamples stores every sample in ClickHouse (clickhouse.raw-samples).
	RawSamples bool
}

// DefaultFabric is a fabric of switches × interfaces at the pipeline's
// defaults: 1 s counters, 4 probe tests per switch every 5 s, 10 s KPI
// windows, KPIs kept 30 days and raw samples 7.
func DefaultFabric(switches, interfacesPerSwitch int) Fabric {
	return Fabric{
		Switches: switches, InterfacesPerSwitch: interfacesPerSwitch,
		Interval: time.Second, ProbesPerSwitch: 4, ProbeInterval: 5 * time.Second,
		Window: 10 * time.Second, RetentionDays: 30, RawRetentionDays: 7, RawSamples: true,
	}
}

// Validate checks the fabric; errors name the field.
func (f Fabric) Validate() error {
	switch {
	case f.Switches < 1:
		return errors.New("switches: must be at least 1")
	case f.InterfacesPerSwitch < 1:
		return errors.New("interfaces: must be at least 1")
	case f.Interval <= 0:
		return errors.New("interval: must be positive")
	case f.ProbesPerSwitch < 0:
		return errors.New("probes: must not be negative")
	case f.ProbesPerSwitch > 0 && f.ProbeInterval <= 0:
		return errors.New("probe-interval: must be positive")
	case f.Window < f.Interval:
		return errors.New("window: must be at least the interval")
	case f.RetentionDays < 1:
		return errors.New("retention-days: must be at least 1")
	case f.RawSamples && f.RawRetentionDays < 1:
		return errors.New("raw-retention-days: must be at least 1 with raw samples")
	}
	return nil
}

// Costs are the measured costs of the stages (see Measured for where each
// figure comes from). CPU is in microseconds of one core, memory in bytes.
type Costs struct {
	// CPU µs per counter or probe sample: decode and produce (collector),
	// windows and KPIs (processor).
	CollectorCPUPerSample float64
	ProcessorCPUPerSample float64
	// SinkCPUPerRow is the sink's CPU per row inserted (raw sample or KPI).
	SinkCPUPerRow float64
	// RemediationCPUPerKPI is the rules engine and dispatcher per KPI.
	RemediationCPUPerKPI float64
	// ClickHouseCPUPerRow is the server's CPU per inserted row (inserts and
	// merges of the single server, rollups included).
	ClickHouseCPUPerRow float64

	// Memory (resident) of a pod: a base (Go runtime, clients, bounded
	// buffers at the defaults) and what grows with what the pod holds
	// (live heap figures count twice: Go's GC lets the heap grow to twice
	// the live heap at GOGC=100).
	CollectorBaseBytes         float64
	CollectorBytesPerInterface float64
	ProcessorBaseBytes         float64
	ProcessorBytesPerSeries    float64
	SinkBaseBytes              float64
	// SinkBytesPerBufferedRow is the sink's memory per row waiting in a
	// batch (column buffers).
	SinkBytesPerBufferedRow float64
	RemediationBaseBytes    float64
	// RemediationBytesPerSeries is the rule state per KPI series.
	RemediationBytesPerSeries float64

	// Kafka bytes on disk per record (value, key, headers, batch overhead,
	// lz4 as the producers send it).
	KafkaBytesPerSample float64
	KafkaBytesPerKPI    float64

	// ClickHouse compressed bytes on disk per row (one replica), after
	// merges: raw counter samples and KPI rows (rollups included).
	ClickHouseBytesPerRawRow float64
	ClickHouseBytesPerKPIRow float64
}

// Assumptions are what the plan is sized against: utilization targets and
// the throughput of a broker and of a shard on production hardware, which
// one machine cannot measure.
type Assumptions struct {
	// TargetUtilization is the share of its CPU request a pod uses at the
	// planned rate (the rest absorbs bursts, catch-up after an outage and
	// a lost pod's share).
	TargetUtilization float64
	// MaxPodCores caps one pod's CPU request; past it the stage gets
	// more pods.
	MaxPodCores float64
	// MinPods is the least pods of each consumer stage (processors,
	// sinks, remediation): one can be lost or rolled.
	MinPods int
	// ScaleHeadroom: KEDA may scale a consumer stage up to this many times
	// its planned pods; the topics get at least that many partitions.
	ScaleHeadroom int
	// KafkaReplication is the replication factor of the topics.
	KafkaReplication int
	// KafkaBrokerWriteBytesPerSec is what one broker sustains in writes,
	// replication included (reads from the page cache come on top).
	KafkaBrokerWriteBytesPerSec float64
	// KafkaPartitionBytesPerSec is what one partition of a topic carries
	// at most (one consumer thread keeps up with it).
	KafkaPartitionBytesPerSec float64
	// KafkaRetention is how long the topics keep records (replays after
	// an outage of the sink).
	KafkaRetention time.Duration
	// ShardInsertRowsPerSec is the rows per second one ClickHouse shard
	// sustains in inserts while merging and serving the dashboards.
	ShardInsertRowsPerSec float64
	// ClickHouseReplicas is the replicas of each shard.
	ClickHouseReplicas int
	// SinkBatchRows is clickhouse.batch-size; SinkBatchesInMemory how many
	// batches a sink holds at once (two inserting, one filling).
	SinkBatchRows       int
	SinkBatchesInMemory int
	// SinkFlushInterval is clickhouse.flush-interval: a slower sink flushes
	// smaller batches.
	SinkFlushInterval time.Duration
}

// DefaultAssumptions are the assumptions docs/capacity.md states.
func DefaultAssumptions() Assumptions {
	return Assumptions{
		TargetUtilization: 0.6,
		MaxPodCores:       2,
		MinPods:           2,
		ScaleHeadroom:     2,
		KafkaReplication:  3,
		// 60 MB/s of writes per broker (a third of a 10 Gbit/s NIC's
		// worth with replication traffic and consumers on top, and well
		// under what one NVMe disk writes); not measured here.
		KafkaBrokerWriteBytesPerSec: 60e6,
		// 5 MB/s per partition: one consumer of the processor or sink
		// decodes 5 MB/s of lz4 samples (≈ 60,000 samples/s at 80 B)
		// on one core at the measured costs.
		KafkaPartitionBytesPerSec: 5e6,
		KafkaRetention:            24 * time.Hour,
		// A third of what the sink inserted end to end into one 2-core
		// ClickHouse 18.16 (BENCHMARKS.md, "sink end to end": 624,084
		// rows/s): room for merges, rollups and the dashboards' queries.
		ShardInsertRowsPerSec: 200000,
		ClickHouseReplicas:    2,
		SinkBatchRows:         200000,
		SinkBatchesInMemory:   3,
		SinkFlushInterval:     time.Second,
	}
}

// Stage is the size of one stage of the pipeline.
type Stage struct {
	// Name is the stage (collector, processor, sink, remediation).
	Name string
	// Pods is the replicas; for a consumer stage also KEDA's minimum.
	Pods int
	// MaxPods is KEDA's maximum for a consumer stage (Pods for the
	// collectors, which are sharded by their StatefulSet ordinal).
	MaxPods int
	// Cores is the CPU the stage uses at the planned rate, all pods.
	Cores float64
	// CPUMilli and MemoryBytes are one pod's requests (rounded up to
	// 50 millicores and 32 MiB).
	CPUMilli    int64
	MemoryBytes int64
}

// CPURequest is the pod's CPU request as a Kubernetes quantity ("350m").
func (s Stage) CPURequest() string { return fmt.Sprintf("%dm", s.CPUMilli) }

// MemoryRequest is the pod's memory request as a Kubernetes quantity ("512Mi").
func (s Stage) MemoryRequest() string { return fmt.Sprintf("%dMi", s.MemoryBytes>>20) }

// Plan is a sized deployment.
type Plan struct {
	Fabric      Fabric
	Costs       Costs
	Assumptions Assumptions

	// Interfaces is switches × interfaces per switch.
	Interfaces int
	// SamplesPerSec is counter and probe samples per second (the samples
	// topic).
	SamplesPerSec float64
	// KPIsPerSec is interface, link and device KPIs per second.
	KPIsPerSec float64
	// RowsPerSec is the rows inserted into ClickHouse per second.
	RowsPerSec float64

	Collectors, Processors, Sinks, Remediation Stage

	// KafkaWriteBytesPerSec is what the producers write (one replica).
	KafkaWriteBytesPerSec float64
	// KafkaPartitions is the partitions of each topic (kafka.partitions).
	KafkaPartitions int
	// KafkaBrokers is the brokers that carry the writes with replication.
	KafkaBrokers int
	// KafkaDiskBytes is the topics' size over KafkaRetention, replicas
	// included.
	KafkaDiskBytes float64

	// ClickHouseShards is the shards that sustain RowsPerSec.
	ClickHouseShards int
	// ClickHouseCores is the servers' CPU for the inserts, all shards.
	ClickHouseCores float64
	// StorageBytesPerDay is one day of data, compressed, one replica.
	StorageBytesPerDay float64
	// StorageBytes is the data kept under retention, replicas included.
	StorageBytes float64
	// StorageBytesPerReplica is StorageBytes on one server (one replica
	// of one shard).
	StorageBytesPerReplica float64
}

// Compute sizes a deployment for the fabric.
//
//	samples/s = switches × interfaces / interval + switches × probes / probe-interval
//	KPIs/s    = (interfaces + switches × probes + switches) / window
//	rows/s    = samples/s (raw samples on) + KPIs/s
//	cores     = rate × µs per item / 10⁶
//	pods      = max(min, ⌈cores / (utilization × max-pod-cores)⌉)
//	CPU       = cores / pods / utilization, per pod
//	memory    = base + items per pod × bytes per item, per pod
//	partitions= max(⌈topic bytes/s / partition bytes/s⌉, headroom × consumer pods), a multiple of brokers
//	brokers   = max(replication, ⌈write bytes/s × replication / broker write bytes/s⌉)
//	shards    = ⌈rows/s / shard rows/s⌉
//	storage   = rows/day × bytes per row × retention days × replicas
func Compute(f Fabric, c Costs, a Assumptions) (Plan, error) {
	if err := f.Validate(); err != nil {
		return Plan{}, err
	}
	if err := a.validate(); err != nil {
		return Plan{}, err
	}
	p := Plan{Fabric: f, Costs: c, Assumptions: a}
	p.Interfaces = f.Switches * f.InterfacesPerSwitch
	counters := float64(p.Interfaces) / f.Interval.Seconds()
	probes := 0.0
	if f.ProbesPerSwitch > 0 {
		probes = float64(f.Switches*f.ProbesPerSwitch) / f.ProbeInterval.Seconds()
	}
	p.SamplesPerSec = counters + probes
	series := p.Interfaces + f.Switches*f.ProbesPerSwitch + f.Switches
	p.KPIsPerSec = float64(series) / f.Window.Seconds()
	rawRows := 0.0
	if f.RawSamples {
		rawRows = p.SamplesPerSec
	}
	p.RowsPerSec = rawRows + p.KPIsPerSec

	stage := func(name string, rate, us float64, minPods int) Stage {
		s := Stage{Name: name, Cores: rate * us / 1e6}
		s.Pods = max(minPods, int(math.Ceil(s.Cores/(a.TargetUtilization*a.MaxPodCores))))
		s.MaxPods = s.Pods
		s.CPUMilli = roundUp(int64(math.Ceil(1000*s.Cores/float64(s.Pods)/a.TargetUtilization)), 50)
		return s
	}
	mem := func(base, perItem float64, items float64, pods int) int64 {
		b := base + perItem*items/float64(pods)
		return roundUp(int64(math.Ceil(b)), 32<<20)
	}
	// Collectors: sharded by ordinal, at least one; no KEDA.
	p.Collectors = stage("collector", p.SamplesPerSec, c.CollectorCPUPerSample, 1)
	p.Collectors.MemoryBytes = mem(c.CollectorBaseBytes, c.CollectorBytesPerInterface, float64(p.Interfaces), p.Collectors.Pods)
	p.Processors = stage("processor", p.SamplesPerSec, c.ProcessorCPUPerSample, a.MinPods)
	p.Processors.MemoryBytes = mem(c.ProcessorBaseBytes, c.ProcessorBytesPerSeries, float64(series), p.Processors.Pods)
	p.Sinks = stage("sink", p.RowsPerSec, c.SinkCPUPerRow, a.MinPods)
	batch := math.Min(float64(a.SinkBatchRows), p.RowsPerSec/float64(p.Sinks.Pods)*a.SinkFlushInterval.Seconds())
	p.Sinks.MemoryBytes = roundUp(int64(math.Ceil(c.SinkBaseBytes+batch*float64(a.SinkBatchesInMemory)*c.SinkBytesPerBufferedRow)), 32<<20)
	p.Remediation = stage("remediation", p.KPIsPerSec, c.RemediationCPUPerKPI, a.MinPods)
	p.Remediation.MemoryBytes = mem(c.RemediationBaseBytes, c.RemediationBytesPerSeries, float64(series), p.Remediation.Pods)

	// Kafka.
	p.KafkaWriteBytesPerSec = p.SamplesPerSec*c.KafkaBytesPerSample + p.KPIsPerSec*c.KafkaBytesPerKPI
	p.KafkaBrokers = max(a.KafkaReplication,
		int(math.Ceil(p.KafkaWriteBytesPerSec*float64(a.KafkaReplication)/a.KafkaBrokerWriteBytesPerSec)))
	consumers := max(p.Processors.Pods, p.Sinks.Pods, p.Remediation.Pods)
	parts := max(int(math.Ceil(p.SamplesPerSec*c.KafkaBytesPerSample/a.KafkaPartitionBytesPerSec)), a.ScaleHeadroom*consumers)
	p.KafkaPartitions = int(roundUp(int64(parts), int64(p.KafkaBrokers)))
	for _, s := range []*Stage{&p.Processors, &p.Sinks, &p.Remediation} {
		s.MaxPods = min(a.ScaleHeadroom*s.Pods, p.KafkaPartitions)
	}
	p.KafkaDiskBytes = p.KafkaWriteBytesPerSec * float64(a.KafkaReplication) * a.KafkaRetention.Seconds()

	// ClickHouse.
	p.ClickHouseShards = max(1, int(math.Ceil(p.RowsPerSec/a.ShardInsertRowsPerSec)))
	p.ClickHouseCores = p.RowsPerSec * c.ClickHouseCPUPerRow / 1e6
	const day = 86400
	rawDay := rawRows * day * c.ClickHouseBytesPerRawRow
	kpiDay := p.KPIsPerSec * day * c.ClickHouseBytesPerKPIRow
	p.StorageBytesPerDay = rawDay + kpiDay
	rawDays := 0
	if f.RawSamples {
		rawDays = f.RawRetentionDays
	}
	p.StorageBytes = (rawDay*float64(rawDays) + kpiDay*float64(f.RetentionDays)) * float64(a.ClickHouseReplicas)
	p.StorageBytesPerReplica = p.StorageBytes / float64(a.ClickHouseReplicas*p.ClickHouseShards)
	return p, nil
}

func (a Assumptions) validate() error {
	switch {
	case a.TargetUtilization <= 0 || a.TargetUtilization > 1:
		return errors.New("target utilization: must be in (0, 1]")
	case a.MaxPodCores <= 0:
		return errors.New("max pod cores: must be positive")
	case a.MinPods < 1 || a.ScaleHeadroom < 1:
		return errors.New("min pods and scale headroom: must be at least 1")
	case a.KafkaReplication < 1 || a.ClickHouseReplicas < 1:
		return errors.New("replication: must be at least 1")
	case a.KafkaBrokerWriteBytesPerSec <= 0 || a.KafkaPartitionBytesPerSec <= 0 || a.ShardInsertRowsPerSec <= 0:
		return errors.New("throughputs: must be positive")
	case a.SinkBatchRows < 1 || a.SinkBatchesInMemory < 1 || a.SinkFlushInterval <= 0:
		return errors.New("sink batches: must be positive")
	}
	return nil
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int64) int64 {
	if m <= 0 {
		return n
	}
	return (n + m - 1) / m * m
}
