package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRemediateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remediate",
		Short: "Evaluate rules over KPIs and deliver remediation webhooks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("remediate: not implemented yet")
		},
	}
}
