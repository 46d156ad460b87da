package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/processors/kpi"
)

func newProcessCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "process",
		Short: "Turn samples into KPIs (utilization, loss, latency)",
		Long: `Consume telemetry.samples in a consumer group (run as many instances as you
like), compute per-window KPIs (see docs/kpis.md) and produce them to
telemetry.kpis. Uses the process and kafka sections of the configuration.
Offsets are committed only once the KPIs depending on them are acknowledged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			var p *kpi.Processor
			return a.serve("process", func(reg prometheus.Registerer) (component, daemon.Check, error) {
				var err error
				p, err = kpi.New(a.cfg.Process, kpi.Dependencies{Logger: a.log, Registerer: reg, Kafka: &a.cfg.Kafka})
				return p, nil, err
			}, func() {
				st := p.Stats()
				a.log.Info("stopped", "samples", st.SamplesIn, "kpis", st.KPIsOut, "deadletters", st.DeadLetters, "drops", st.Drops)
			})
		},
	}
}
