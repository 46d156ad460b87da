package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCollectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "collect",
		Short: "Collect gNMI telemetry from switches into Kafka",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("collect: not implemented yet")
		},
	}
}
