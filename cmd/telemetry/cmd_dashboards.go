package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/dashboards"
)

func newDashboardsCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "dashboards",
		Short: "Generate the Grafana dashboards or push them to Grafana",
		Long: `The NOC's Grafana dashboards, as code: fabric overview, interface drill-down,
site-to-site links, remediation and pipeline health. They query ClickHouse through
the grafana-clickhouse-datasource plugin and our own /metrics through Prometheus.

  telemetry dashboards generate --out deploy/grafana/dashboards
  telemetry dashboards push --grafana-url http://127.0.0.1:3000 --token-file token

The token may also come from TELEMETRY_DASHBOARDS_TOKEN or dashboards.token-file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}

	var out string
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Write every dashboard as DIR/<uid>.json (deterministic)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			if out == "" {
				return fmt.Errorf("--out: must name a directory")
			}
			paths, err := dashboards.Generate(a.cfg.Dashboards, out)
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	generate.Flags().StringVar(&out, "out", "", "output `DIR` (created if missing)")

	var url, token, tokenFile, folder string
	push := &cobra.Command{
		Use:   "push",
		Short: "Upsert the dashboards into Grafana (folder by uid, overwrite by dashboard uid; an organization per declared tenant)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			cfg := a.cfg.Dashboards
			if url != "" {
				cfg.GrafanaURL = url
			}
			if token != "" {
				cfg.Token = token
			}
			if tokenFile != "" {
				cfg.Token, cfg.TokenFile = "", tokenFile
			}
			if folder != "" {
				cfg.FolderUID = folder
			}
			p, err := dashboards.NewPusher(cfg, dashboards.Dependencies{Logger: a.log, Registerer: prometheus.NewRegistry()})
			if err != nil {
				return fmt.Errorf("dashboards.%w", err)
			}
			ds, err := dashboards.Build(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			res, err := p.Push(ctx, ds)
			for _, r := range res {
				fmt.Fprintf(cmd.OutOrStdout(), "%s version %d %s\n", r.UID, r.Version, r.URL)
			}
			if err != nil || len(a.cfg.Tenancy.Tenants) == 0 {
				return err
			}
			// One organization per declared tenant (docs/tenancy.md).
			var tenants []dashboards.Tenant
			for _, t := range a.cfg.Tenancy.Tenants {
				tenants = append(tenants, dashboards.Tenant{ID: t.ID, Name: t.DisplayName()})
			}
			tres, err := p.PushTenants(ctx, cfg.Tenants, tenants, ds)
			for _, tr := range tres {
				for _, r := range tr.Dashboards {
					fmt.Fprintf(cmd.OutOrStdout(), "tenant %s (org %d): %s version %d %s\n", tr.Tenant, tr.OrgID, r.UID, r.Version, r.URL)
				}
			}
			return err
		},
	}
	push.Flags().StringVar(&url, "grafana-url", "", "Grafana base `URL` (default dashboards.grafana-url)")
	push.Flags().StringVar(&token, "token", "", "service-account `TOKEN` (prefer TELEMETRY_DASHBOARDS_TOKEN or --token-file: flags show in ps)")
	push.Flags().StringVar(&tokenFile, "token-file", "", "`FILE` holding the token")
	push.Flags().StringVar(&folder, "folder-uid", "", "folder `UID` (default dashboards.folder-uid)")

	root.AddCommand(generate, push)
	return root
}
