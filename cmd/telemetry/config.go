package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/config"
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
	// What one section says about another (tenants named elsewhere).
	if err := a.cfg.Check(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	a.log = a.cfg.HTTP.NewLogger(cmd.ErrOrStderr()).With("cmd", cmd.Name())
	// A misspelt variable would be ignored without a word: said once, here.
	for _, w := range config.UnknownEnv(&a.cfg, os.Environ()) {
		a.log.Warn(w)
	}
	return nil
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// serve runs one stage as a long-running subcommand (pipeline.Serve):
// /metrics, /healthz, /readyz and the stage, until SIGINT or SIGTERM.
func (a *app) serve(s pipeline.Service) error {
	ctx, stop := signalContext()
	defer stop()
	// The runner names the stage in a start or stop error already.
	if err := pipeline.Serve(ctx, a.cfg.HTTP, a.log, s); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
