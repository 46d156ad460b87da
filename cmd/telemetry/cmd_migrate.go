package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

func newMigrateCmd(a *app) *cobra.Command {
	var allowDestructive, dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the ClickHouse schema",
		Long: `Create or upgrade the ClickHouse schema (clickhouse section: addresses, database, ...).

The server is probed first (version, DateTime64, LowCardinality, codecs, TTL) and the
schema rendered for it. Versioned steps are recorded in <database>.schema_migrations;
running migrate again, or from several instances at once, is safe. Steps that delete
data (a shorter TTL) are skipped unless --allow-destructive is given.
With clickhouse.cluster set, the schema is made ON CLUSTER: a replicated
<table>_local table per table and a Distributed table under its name,
sharded by site (docs/storage.md, "Cluster").
With tenants declared (tenancy section) on a server without row policies
(18.16), each tenant's database <database>_tenant_<id> is made too: the
tenant's copy of its rows, which its read-only user reads (docs/tenancy.md;
'telemetry tenants clickhouse-users' makes the users).
'telemetry sink' runs the same migration at start (not the tenant databases).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			cfg := a.cfg.ClickHouseSection()
			if allowDestructive {
				cfg.AllowDestructive = true
			}
			ctx, cancel := signalContext()
			defer cancel()
			ctx, tcancel := context.WithTimeout(ctx, cfg.MigrationLockTimeout+2*time.Minute)
			defer tcancel()
			conn, err := chsink.Open(ctx, cfg)
			if err != nil {
				return err
			}
			defer conn.Close()
			out := cmd.OutOrStdout()
			if dryRun {
				caps, err := chsink.Probe(ctx, conn)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "-- server: %s\n", caps)
				for _, q := range chsink.SchemaStatements(caps, cfg) {
					fmt.Fprintf(out, "%s;\n\n", q)
				}
				if !caps.RowPolicies() {
					for _, t := range a.cfg.Tenancy.Tenants {
						for _, q := range chsink.TenantStatements(caps, cfg, t.ID) {
							fmt.Fprintf(out, "%s;\n\n", q)
						}
					}
				}
				return nil
			}
			caps, err := chsink.Migrate(ctx, conn, cfg, a.log)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "database %s is at schema version %d (server %s, modern=%t)\n",
				cfg.Database, chsink.LatestVersion(), caps.Version, caps.Modern())
			var ids []string
			for _, t := range a.cfg.Tenancy.Tenants {
				ids = append(ids, t.ID)
			}
			if len(ids) == 0 || caps.RowPolicies() {
				return nil
			}
			if err := chsink.MigrateTenants(ctx, conn, caps, cfg, ids, a.log); err != nil {
				return err
			}
			for _, id := range ids {
				fmt.Fprintf(out, "tenant %s reads database %s\n", id, chsink.TenantDatabase(cfg, id))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowDestructive, "allow-destructive", false, "apply steps that delete data (e.g. a shorter TTL)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the schema rendered for the server instead of applying it")
	return cmd
}
