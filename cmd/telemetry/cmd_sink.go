package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSinkCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "sink",
		Short: "Store KPIs, samples and events in ClickHouse",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			return errors.New("sink: not implemented yet")
		},
	}
}
