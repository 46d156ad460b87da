package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/config"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/pipeline"
)

// app is what every subcommand gets: the loaded configuration and a logger.
type app struct {
	configPath string
	cfg        pipeline.Config
	log        *slog.Logger
}

// load reads --config and the environment into a.cfg and builds the logger.
// Subcommands call it first; a bad key stops the command with a one-line reason.
func (a *app) load(cmd *cobra.Command) error {
	a.cfg = pipeline.DefaultConfig()
	if err := config.Load(a.configPath, &a.cfg, os.Environ()); err != nil {
		return err
	}
	a.log = a.cfg.HTTP.NewLogger(os.Stderr).With("cmd", cmd.Name())
	return nil
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// startDaemon starts /metrics, /healthz, /readyz for a long-running command.
func (a *app) startDaemon() (*daemon.Daemon, error) {
	d := daemon.New(a.cfg.HTTP, a.log)
	if err := d.Start(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return d, nil
}
