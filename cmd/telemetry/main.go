// Command telemetry is the streaming network-telemetry pipeline: gNMI
// collection, KPI processing, remediation webhooks, ClickHouse storage,
// Grafana dashboards and weekly reports, in one binary.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:   "telemetry",
		Short: "Streaming network-telemetry analytics for site-to-site mesh networks",
		Long: `telemetry collects OpenConfig counters and probe results from switches over gNMI,
computes KPIs (utilization, packet loss, latency), raises remediation events that
trigger config rollouts through webhooks, stores everything in ClickHouse, and
generates Grafana dashboards and a weekly executive report.

Every subcommand reads one YAML file (--config); every key can be overridden by an
environment variable TELEMETRY_<SECTION>_<KEY> (see 'telemetry config keys').`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "YAML configuration `FILE` (default: built-in defaults)")
	root.AddCommand(
		newSimulateCmd(a),
		newCollectCmd(a),
		newProcessCmd(a),
		newRemediateCmd(a),
		newSinkCmd(a),
		newMigrateCmd(a),
		newTenantsCmd(a),
		newDashboardsCmd(a),
		newReportCmd(a),
		newDemoCmd(a),
		newConfigCmd(a),
		newCapacityCmd(),
		newWasmCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "telemetry", version) },
		},
	)
	return root
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		msg := err.Error()
		var ee *exitError
		code := 1
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "telemetry:", firstLine(msg))
		os.Exit(code)
	}
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
