package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
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

// component is what a long-running subcommand runs.
type component interface {
	Start(context.Context) error
	Stop() error
}

// serve runs a long-running subcommand: /metrics, /healthz and /readyz
// (with ready as the component's readiness check, when not nil), the
// component that build makes on the daemon's registry, until SIGINT or
// SIGTERM; then it stops the component and logs its summary.
func (a *app) serve(name string, build func(reg prometheus.Registerer) (component, daemon.Check, error), summary func()) error {
	ctx, stop := signalContext()
	defer stop()
	d, err := a.startDaemon()
	if err != nil {
		return err
	}
	defer func() { _ = d.Stop() }()
	c, ready, err := build(d.Registry)
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ready != nil {
		d.AddReadiness(name, ready)
	}
	<-ctx.Done()
	a.log.Info("stopping")
	stopErr := c.Stop()
	summary()
	if stopErr != nil && !errors.Is(stopErr, context.Canceled) {
		return fmt.Errorf("%s: %w", name, stopErr)
	}
	return nil
}
