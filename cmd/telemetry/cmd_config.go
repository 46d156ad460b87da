package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/config"
)

func newConfigCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Show or check the configuration",
	}
	c.AddCommand(&cobra.Command{
		Use:   "keys",
		Short: "List every configuration key, its environment variable and its effective value",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tENVIRONMENT\tVALUE")
			for _, k := range config.Keys(&a.cfg) {
				fmt.Fprintf(w, "%s\t%s\t%s\n", k[0], k[1], k[2])
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration; exit non-zero naming the bad key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration ok")
			return nil
		},
	})
	return c
}
