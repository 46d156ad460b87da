package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/capacity"
)

func newCapacityCmd() *cobra.Command {
	f := capacity.DefaultFabric(0, 0)
	a := capacity.DefaultAssumptions()
	var site string
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Size a deployment for a fabric: pods, requests, Kafka partitions and brokers, ClickHouse shards, storage",
		Long: `capacity prints the plan for a fabric (Markdown): samples and KPIs per second,
the pods of every stage with their CPU and memory requests (and KEDA's maximum
for the consumers), the Kafka brokers and partitions, the ClickHouse shards and
the storage per day and under retention.

The per-stage costs are measured (CPU µs per sample from the end-to-end soak's
profile, memory per interface and series, Kafka bytes per record and ClickHouse
compressed bytes per row from a simulated day through the sink); a broker's and
a shard's throughput are assumptions. Both are in docs/capacity.md, with the
formulas. --site small|large prints the plans deploy/kubernetes/overlays are
sized for.`,
		Example: `  telemetry capacity --switches 10000 --interfaces 100 --interval 1s
  telemetry capacity --switches 1000 --interfaces 48 --raw-samples=false --retention-days 90
  telemetry capacity --site small`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p capacity.Plan
			var err error
			switch {
			case site != "":
				if cmd.Flags().Changed("switches") || cmd.Flags().Changed("interfaces") {
					return errors.New("capacity: --site sizes a named fabric; drop --switches/--interfaces")
				}
				p, err = capacity.ForSite(site)
			default:
				p, err = capacity.Compute(f, capacity.Measured(), a)
			}
			if err != nil {
				return err
			}
			return p.Write(cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.Switches, "switches", 0, "gNMI targets (switches) `N`")
	fl.IntVar(&f.InterfacesPerSwitch, "interfaces", 0, "interfaces per switch `N`")
	fl.DurationVar(&f.Interval, "interval", time.Second, "counter sample `interval`")
	fl.IntVar(&f.ProbesPerSwitch, "probes", f.ProbesPerSwitch, "probe tests per switch")
	fl.DurationVar(&f.ProbeInterval, "probe-interval", f.ProbeInterval, "probe result interval")
	fl.DurationVar(&f.Window, "window", f.Window, "KPI window (process.window)")
	fl.IntVar(&f.RetentionDays, "retention-days", f.RetentionDays, "days KPIs are kept (clickhouse.retention-days)")
	fl.IntVar(&f.RawRetentionDays, "raw-retention-days", f.RawRetentionDays, "days raw samples are kept (clickhouse.raw-retention-days)")
	fl.BoolVar(&f.RawSamples, "raw-samples", f.RawSamples, "store every raw sample (clickhouse.raw-samples)")
	fl.Float64Var(&a.TargetUtilization, "utilization", a.TargetUtilization, "share of its CPU request a pod uses at the planned rate")
	fl.Float64Var(&a.ShardInsertRowsPerSec, "shard-rows", a.ShardInsertRowsPerSec, "rows/s one ClickHouse shard sustains (assumption)")
	fl.IntVar(&a.ClickHouseReplicas, "clickhouse-replicas", a.ClickHouseReplicas, "replicas per ClickHouse shard")
	fl.Float64Var(&a.KafkaBrokerWriteBytesPerSec, "broker-bytes", a.KafkaBrokerWriteBytesPerSec, "bytes/s of writes one Kafka broker sustains, replication included (assumption)")
	fl.IntVar(&a.KafkaReplication, "kafka-replication", a.KafkaReplication, "Kafka replication factor")
	fl.StringVar(&site, "site", "", "print the plan of a deploy/kubernetes overlay: small or large")
	return cmd
}
