package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/pipeline"
)

func newSimulateCmd(a *app) *cobra.Command {
	var scenario, listen, truthFile string
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run the simulated switch fabric (a gNMI server with injectable faults)",
		Long: `simulate serves a fabric of simulated switches over gNMI on one listener: N sites ×
M switches × K interfaces (defaults 4 × 2 × 8), each switch a gNMI target named
"<site>-sw<n>". Counters and probe results follow a deterministic traffic model;
faults come from a scenario file (--scenario). The ground truth can be written
as JSON lines (--truth-file). Configuration: the "simulate" section; see
docs/simulator.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			cfg := a.cfg.Simulate
			if cmd.Flags().Changed("scenario") {
				cfg.Scenario = scenario
			}
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("truth-file") {
				cfg.TruthFile = truthFile
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("simulate.%w", err)
			}
			a.cfg.Simulate = cfg
			var fabric *simulator.Fabric
			return a.serve(pipeline.Service{Name: pipeline.StageSimulator,
				Build: func(d pipeline.Deps) (component.Component, error) {
					var err error
					fabric, err = a.cfg.NewSimulator(d)
					return fabric, err
				},
				Started: func() {
					for _, t := range fabric.Targets() {
						peers := make([]string, 0, len(t.Peers))
						for _, p := range t.Peers {
							peers = append(peers, p.Device)
						}
						a.log.Info("target", "name", t.Name, "site", t.Site,
							"interfaces", len(t.Interfaces), "peers", strings.Join(peers, ","))
					}
					a.log.Info("simulator running; Ctrl-C to stop", "addr", fabric.Addr(),
						"targets", len(fabric.Targets()), "scenario", cfg.Scenario, "truth-file", cfg.TruthFile)
				},
				Stopped: func() {
					st := fabric.Emitted()
					a.log.Info("simulator stopped", "notifications", st.Notifications, "updates", st.Updates,
						"subscriptions", st.Subscriptions)
				}})
		},
	}
	cmd.Flags().StringVar(&scenario, "scenario", "", "fault scenario YAML `FILE` (overrides simulate.scenario)")
	cmd.Flags().StringVar(&listen, "listen", "", "gNMI listen `ADDR` host:port (overrides simulate.listen)")
	cmd.Flags().StringVar(&truthFile, "truth-file", "", "write the ground truth as JSON lines to `FILE` (overrides simulate.truth-file)")
	return cmd
}
