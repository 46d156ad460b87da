package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDashboardsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboards",
		Short: "Generate the Grafana dashboards or push them to Grafana",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("dashboards: not implemented yet")
		},
	}
}
