package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

func newTenantsCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "tenants",
		Short: "The tenants' ClickHouse users",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var passwordDir string
	var sql bool
	var networks []string
	users := &cobra.Command{
		Use:   "clickhouse-users",
		Short: "Print the read-only ClickHouse user of every declared tenant",
		Long: `Print the read-only ClickHouse user of every tenant of the tenancy section
(docs/tenancy.md): the user tenant_<id>, whose password is read from
--password-dir/<id> (one file per tenant; written as its SHA-256 only).

Without --sql: a users.d file for ClickHouse 18.16 (no row policies), to copy
into the server's users.d directory (it reloads it by itself). Each user may
read its tenant's database <database>_tenant_<id> only ('telemetry migrate'
makes it), under the telemetry_tenant profile (readonly = 1).

With --sql: for servers with row policies (20.4+), CREATE USER (readonly = 1),
GRANT SELECT on the tables and rollups, and a row policy tenant = '<id>' on
each, to run as an administrator (clickhouse-client --multiquery).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			if passwordDir == "" {
				return fmt.Errorf("--password-dir: must name a directory")
			}
			var ids []string
			for _, t := range a.cfg.Tenancy.Tenants {
				ids = append(ids, t.ID)
			}
			if len(ids) == 0 {
				return fmt.Errorf("tenancy.tenants: no tenant declared")
			}
			creds, err := chsink.ReadTenantCredentials(passwordDir, ids)
			if err != nil {
				return err
			}
			cfg := a.cfg.ClickHouseSection()
			out := cmd.OutOrStdout()
			if sql {
				stmts, err := chsink.TenantSQL(cfg, creds)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, strings.Join(stmts, ";\n")+";")
				return nil
			}
			b, err := chsink.TenantUsersXML(cfg, creds, networks)
			if err != nil {
				return err
			}
			_, err = out.Write(b)
			return err
		},
	}
	users.Flags().StringVar(&passwordDir, "password-dir", "", "`DIR` holding one password file per tenant id")
	users.Flags().BoolVar(&sql, "sql", false, "print SQL for servers with row policies instead of a users.d file")
	users.Flags().StringSliceVar(&networks, "network", nil, "`CIDR` or address the users may log in from (repeatable; default ::/0)")
	root.AddCommand(users)
	return root
}
