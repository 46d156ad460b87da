package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newProcessCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "process",
		Short: "Turn samples into KPIs (utilization, loss, latency)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("process: not implemented yet")
		},
	}
}
