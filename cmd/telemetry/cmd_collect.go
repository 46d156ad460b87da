package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/pipeline"
)

func newCollectCmd(a *app) *cobra.Command {
	var (
		targetsFile  string
		targets      []string
		instance     string
		members      []string
		insecure     bool
		createTopics bool
	)
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Collect gNMI telemetry from switches into Kafka",
		Long: `Dial gNMI targets, subscribe (counters, oper-status, speed, probes by default),
and produce one sample per interface or probe result to the samples topic, plus
inventory records of each target's session state. Uses the collect and kafka
sections of the configuration.

Targets come from collect.targets, from --target name=host:port (repeatable),
and from a targets file (--targets-file or collect.targets-file) that is
watched: targets added or removed there start or stop without a restart (an
empty file is refused and the targets in force stay; "targets: []" means none).
Several instances split the targets by rendezvous hashing over
collect.members (--members); see docs/collector.md.`,
		Example: `  telemetry collect --insecure --target site1-sw1=127.0.0.1:57400 --target site1-sw2=127.0.0.1:57400
  telemetry collect --config telemetry.yaml --targets-file deploy/targets.example.yaml
  telemetry collect --instance c1 --members c1,c2 --targets-file targets.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			cfg := a.cfg.Collect
			if targetsFile != "" {
				cfg.TargetsFile = targetsFile
			}
			if instance != "" {
				cfg.Instance = instance
			}
			if len(members) > 0 {
				cfg.Members = members
			}
			if insecure {
				cfg.TargetDefaults.Insecure = true
			}
			for _, s := range targets {
				t, err := collector.ParseTargetFlag(s)
				if err != nil {
					return fmt.Errorf("--target: %w", err)
				}
				cfg.Targets = append(cfg.Targets, t)
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("collect: %w", err)
			}
			if len(cfg.Targets) == 0 && cfg.TargetsFile == "" {
				return errors.New("collect: no targets: give --target name=host:port, --targets-file, or collect.targets")
			}
			if createTopics {
				ctx, stop := signalContext()
				err := collectEnsureTopics(ctx, a)
				stop()
				if err != nil {
					return err
				}
			}
			a.cfg.Collect = cfg
			var c *collector.Collector
			return a.serve(pipeline.Service{Name: pipeline.StageCollector,
				Build: func(d pipeline.Deps) (component.Component, error) {
					var err error
					c, err = a.cfg.NewCollector(d)
					return c, err
				},
				Started: func() {
					a.log.Info("collecting", "instance", cfg.Instance, "targets-file", cfg.TargetsFile,
						"targets", len(cfg.Targets), "topic", a.cfg.Kafka.Topics.Samples)
				},
				Stopped: func() {
					st := c.Stats()
					a.log.Info("stopped", "updates", st.Updates, "samples", st.Samples, "produced", st.Produced,
						"dropped", st.Dropped, "decode_errors", st.DecodeErrors)
				}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&targetsFile, "targets-file", "", "watched YAML `FILE` of targets (overrides collect.targets-file)")
	f.StringArrayVar(&targets, "target", nil, "gNMI target `name=host:port` (repeatable); site is the name up to its first '-'")
	f.StringVar(&instance, "instance", "", "this collector's instance `name` (overrides collect.instance)")
	f.StringSliceVar(&members, "members", nil, "comma-separated instance `names` sharing the targets (overrides collect.members)")
	f.BoolVar(&insecure, "insecure", false, "dial targets in plaintext unless they configure TLS (sets collect.target-defaults.insecure)")
	f.BoolVar(&createTopics, "create-topics", false, "create the pipeline's Kafka topics first when missing")
	return cmd
}

// collectEnsureTopics creates the pipeline topics (kafka section) when
// missing: the collector itself never creates them.
func collectEnsureTopics(ctx context.Context, a *app) error {
	cl, err := a.cfg.Kafka.NewClient(ctx, a.log)
	if err != nil {
		return err
	}
	cl.Close()
	return nil
}
