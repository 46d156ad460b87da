package main

import (
	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/processors/kpi"
)

func newProcessCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "process",
		Short: "Turn samples into KPIs (utilization, loss, latency)",
		Long: `Consume telemetry.samples in a consumer group (run as many instances as you
like), compute per-window KPIs (see docs/kpis.md) and produce them to
telemetry.kpis. Uses the process and kafka sections of the configuration.
Offsets are committed only once the KPIs depending on them are acknowledged.
/readyz answers 503 while a partition's committed offset stands still for
process.stall-after (default 20m) while it lags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			var p *kpi.Processor
			return a.serve(pipeline.Service{Name: pipeline.StageProcessor,
				Build: func(d pipeline.Deps) (component.Component, error) {
					var err error
					p, err = a.cfg.NewProcessor(d)
					return p, err
				},
				Stopped: func() {
					st := p.Stats()
					a.log.Info("stopped", "samples", st.SamplesIn, "kpis", st.KPIsOut, "deadletters", st.DeadLetters, "drops", st.Drops)
				}})
		},
	}
}
