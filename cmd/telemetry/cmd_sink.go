package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/daemon"
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
migrated at start. Metrics on /metrics (http section).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			var s *chsink.Sink
			return a.serve("sink", func(reg prometheus.Registerer) (component, daemon.Check, error) {
				var err error
				s, err = chsink.New(a.cfg.ClickHouse, chsink.Dependencies{Logger: a.log, Registerer: reg, Kafka: &a.cfg.Kafka})
				return s, s.Ready, err
			}, func() {
				st := s.Stats()
				a.log.Info("sink summary", "rows", st.Rows, "dead_letters", st.DeadLetters, "retries", st.Retries)
			})
		},
	}
}
