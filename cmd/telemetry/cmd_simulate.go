package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSimulateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "simulate",
		Short: "Run the simulated switch fabric (a gNMI server with injectable faults)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("simulate: not implemented yet")
		},
	}
}
