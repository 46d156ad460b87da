package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

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
			ctx, stop := signalContext()
			defer stop()
			d, err := a.startDaemon()
			if err != nil {
				return err
			}
			defer func() { _ = d.Stop() }()
			p, err := kpi.New(a.cfg.Process, kpi.Dependencies{
				Logger:     a.log,
				Registerer: d.Registry,
				Kafka:      &a.cfg.Kafka,
			})
			if err != nil {
				return err
			}
			if err := p.Start(ctx); err != nil {
				return err
			}
			d.AddReadiness("process", func(context.Context) error { return nil })
			<-ctx.Done()
			a.log.Info("stopping")
			stopErr := p.Stop()
			st := p.Stats()
			a.log.Info("stopped", "samples", st.SamplesIn, "kpis", st.KPIsOut, "deadletters", st.DeadLetters, "drops", st.Drops)
			if stopErr != nil && !errors.Is(stopErr, context.Canceled) {
				return fmt.Errorf("process: %w", stopErr)
			}
			return nil
		},
	}
}
