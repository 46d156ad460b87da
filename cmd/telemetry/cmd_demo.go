package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/demo"
)

func newDemoCmd(a *app) *cobra.Command {
	var o demo.Options
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in one process and print a summary",
		Long: `demo runs the whole pipeline in one process: an embedded Kafka broker, the
simulated switch fabric (with the faults of --scenario), the gNMI collector, the
KPI processor, the rules engine and webhook dispatcher with a local webhook
receiver, and the ClickHouse sink. It prints live progress every few seconds,
then a summary, and exits 0.

Without --clickhouse it starts a throw-away ClickHouse server from the
clickhouse-server (or clickhouse) binary on PATH in a temporary directory.
With --kafka it uses that Kafka cluster instead of the embedded broker.`,
		Example: `  telemetry demo --duration 60s --scenario deploy/scenarios/demo.yaml
  telemetry demo --duration 30s --clickhouse 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			if o.Duration <= 0 {
				return errors.New("demo: --duration must be positive")
			}
			if o.Scenario == "" {
				if _, err := os.Stat(defaultDemoScenario); err == nil {
					o.Scenario = defaultDemoScenario
				}
			}
			ctx, cancel := signalContext()
			defer cancel()
			sum, err := demo.Run(ctx, a.cfg, a.log, o, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			sum.Print(cmd.OutOrStdout())
			if sum.Samples == 0 || sum.KPIs == 0 || sum.Rows == 0 {
				return &exitError{code: 1, err: fmt.Errorf("demo: the pipeline produced nothing end to end (samples %d, KPIs %d, rows %d)", sum.Samples, sum.KPIs, sum.Rows)}
			}
			return nil
		},
	}
	f := c.Flags()
	f.DurationVar(&o.Duration, "duration", 60*time.Second, "how long the fabric runs")
	f.StringVar(&o.Scenario, "scenario", "", "fault scenario `FILE` (default "+defaultDemoScenario+" when present)")
	f.StringVar(&o.ClickHouse, "clickhouse", "", "ClickHouse `HOST:PORT` (native protocol); default: start a local server")
	f.StringSliceVar(&o.Kafka, "kafka", nil, "Kafka `BROKERS` to use instead of the embedded broker")
	f.DurationVar(&o.Window, "window", 5*time.Second, "KPI window")
	f.DurationVar(&o.SampleInterval, "sample-interval", time.Second, "gNMI sample interval of the counters")
	f.DurationVar(&o.Progress, "progress", 5*time.Second, "interval of the live progress lines (0: none)")
	return c
}

// defaultDemoScenario is used when --scenario is not given and the file is there.
const defaultDemoScenario = "deploy/scenarios/demo.yaml"
