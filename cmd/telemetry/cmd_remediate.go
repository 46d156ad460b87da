package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/processors/remediation"
)

func newRemediateCmd(a *app) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "remediate",
		Short: "Evaluate rules over KPIs and deliver remediation webhooks",
		Long: `Run the remediation rules engine and the webhook dispatcher (remediate and kafka
sections of the configuration; see docs/remediation.md).

The engine consumes telemetry.kpis in a consumer group (remediate.group-id),
evaluates the rules (inline remediate.rules plus remediate.rules-file, re-read
when it changes; an empty file is refused and the rules in force stay, "rules: []"
means none) on the KPI windows' own timestamps, and produces one
RemediationEvent per lifecycle transition to telemetry.remediations.
The dispatcher consumes telemetry.remediations (remediate.dispatcher-group-id)
and delivers firing, escalated and resolved transitions to remediate.webhooks
as signed CloudEvents, with retries; what it gives up on goes to
telemetry.deadletter. Either half can be turned off (remediate.engine,
remediate.dispatcher) to run them as separate deployments. /readyz answers 503
while a partition of either group has a committed offset standing still for
remediate.stall-after (default 2m) while it lags.

--check loads and validates the configuration and the rules, prints them,
and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			if check {
				rs, err := a.cfg.Remediate.LoadRules()
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				for _, r := range rs {
					owner := ""
					if r.Tenant != "" {
						owner = " tenant " + r.Tenant
					}
					fmt.Fprintf(out, "rule %-28s kpi %-24s severity %-8s webhook %s%s\n", r.Name, r.KPI, r.Severity, r.Action.Webhook, owner)
				}
				fmt.Fprintf(out, "%d rules, %d webhooks: OK\n", len(rs), len(a.cfg.Remediate.Webhooks))
				return nil
			}
			var r *remediation.Remediator
			return a.serve(pipeline.Service{Name: pipeline.StageRemediation,
				Build: func(d pipeline.Deps) (component.Component, error) {
					var err error
					r, err = a.cfg.NewRemediator(d)
					return r, err
				},
				Stopped: func() {
					st := r.Stats()
					a.log.Info("stopped", "kpis", st.KPIs, "firing", st.Firing, "resolved", st.Resolved,
						"escalated", st.Escalated, "deliveries", st.Deliveries, "deadletters", st.DeadLetters)
				}})
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and rules, print them, and exit")
	return cmd
}
