package capacity

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Write prints the plan as Markdown: the fabric and its rates, a table of
// the stages (pods and requests), Kafka and ClickHouse.
func (p Plan) Write(w io.Writer) error {
	f, a := p.Fabric, p.Assumptions
	var b strings.Builder
	fmt.Fprintf(&b, "Fabric: %s switches × %s interfaces = %s interfaces every %s",
		count(f.Switches), count(f.InterfacesPerSwitch), count(p.Interfaces), f.Interval)
	if f.ProbesPerSwitch > 0 {
		fmt.Fprintf(&b, "; %d probe tests per switch every %s", f.ProbesPerSwitch, f.ProbeInterval)
	}
	fmt.Fprintf(&b, "; KPI window %s.\n\n", f.Window)
	fmt.Fprintf(&b, "Rates: **%s samples/s**, %s KPIs/s, %s rows/s into ClickHouse", count(int(p.SamplesPerSec+0.5)),
		count(int(p.KPIsPerSec+0.5)), count(int(p.RowsPerSec+0.5)))
	if !f.RawSamples {
		b.WriteString(" (raw samples off)")
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "| stage | pods | KEDA max | cores used | CPU request per pod | memory request per pod |\n|---|---|---|---|---|---|\n")
	for _, s := range []Stage{p.Collectors, p.Processors, p.Sinks, p.Remediation} {
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %s | %s |\n", s.Name, s.Pods, keda(s), s.Cores, s.CPURequest(), s.MemoryRequest())
	}
	fmt.Fprintf(&b, "\nKafka: %d brokers (replication %d), %d partitions per topic; producers write %s/s (%s/s with replicas); %s on disk for %.0f h of retention.\n\n",
		p.KafkaBrokers, a.KafkaReplication, p.KafkaPartitions, bytes(p.KafkaWriteBytesPerSec),
		bytes(p.KafkaWriteBytesPerSec*float64(a.KafkaReplication)), bytes(p.KafkaDiskBytes), a.KafkaRetention.Hours())
	fmt.Fprintf(&b, "ClickHouse: %d %s × %d replicas (%s rows/s per shard at most); %.2f cores for the inserts; %s per day compressed (one replica); %s kept",
		p.ClickHouseShards, plural(p.ClickHouseShards, "shard"), a.ClickHouseReplicas, count(int(a.ShardInsertRowsPerSec)), p.ClickHouseCores,
		bytes(p.StorageBytesPerDay), bytes(p.StorageBytes))
	if f.RawSamples {
		fmt.Fprintf(&b, " (raw samples %d days, KPIs %d days, all replicas)", f.RawRetentionDays, f.RetentionDays)
	} else {
		fmt.Fprintf(&b, " (KPIs %d days, all replicas)", f.RetentionDays)
	}
	fmt.Fprintf(&b, ", %s per server.\n", bytes(p.StorageBytesPerReplica))
	_, err := io.WriteString(w, b.String())
	return err
}

func keda(s Stage) string {
	if s.Name == "collector" {
		return "–"
	}
	return strconv.Itoa(s.MaxPods)
}

// count formats n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// bytes formats a size in decimal units.
func bytes(v float64) string {
	for _, u := range []string{"B", "kB", "MB", "GB", "TB", "PB"} {
		if v < 999.5 || u == "PB" {
			if u == "B" {
				return fmt.Sprintf("%.0f B", v)
			}
			return fmt.Sprintf("%.1f %s", v, u)
		}
		v /= 1000
	}
	return ""
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
