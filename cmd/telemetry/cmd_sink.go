package main

import (
	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

func newSinkCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "sink",
		Short: "Store KPIs, samples and events in ClickHouse",
		Long: `Consume the kpis, samples, remediations and deadletter topics (kafka section) and
store them in ClickHouse (clickhouse section), in batches (batch-size rows or
flush-interval), two inserted at once. Kafka offsets are committed only after
ClickHouse confirmed the batch and every earlier one; while ClickHouse is down the sink retries the same batch with back-off and
stops consuming. Undecodable records go to the dead-letter topic. The schema is
migrated at start. Metrics on /metrics (http section); /readyz answers 503
while a partition's committed offset stands still for clickhouse.stall-after
(default 2m) while it lags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			var s *chsink.Sink
			return a.serve(pipeline.Service{Name: pipeline.StageSink,
				Build: func(d pipeline.Deps) (component.Component, error) {
					var err error
					s, err = a.cfg.NewSink(d)
					return s, err
				},
				Stopped: func() {
					st := s.Stats()
					a.log.Info("sink summary", "rows", st.Rows, "dead_letters", st.DeadLetters, "retries", st.Retries)
				}})
		},
	}
}
