package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newReportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "Write the weekly executive slide deck (.pptx)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("report: not implemented yet")
		},
	}
}
