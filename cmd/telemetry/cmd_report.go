package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/pipeline"
	"github.com/meshtelemetry/telemetry/reports"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

func newReportCmd(a *app) *cobra.Command {
	var (
		week     string
		out      string
		schedule bool
		tenantID string
	)
	c := &cobra.Command{
		Use:   "report",
		Short: "Write the weekly executive slide deck (.pptx)",
		Long: `report queries ClickHouse (the clickhouse section) for one ISO week and the week
before, and writes the weekly executive deck: summary against last week, top
congested interfaces, worst site-to-site links, remediation, per-site table,
hourly trends (native, editable charts) and definitions.

  telemetry report --week 2026-W47 --out deck.pptx
  telemetry report                      # last full week (report.timezone) into report.out-dir
  telemetry report --schedule           # every report.schedule (e.g. "Mon 07:00"): write and e-mail;
                                        # every report.tenants entry too, on its own schedule,
                                        # to its own recipients, as its ClickHouse user

  telemetry report --tenant acme        # tenant acme's deck, as its ClickHouse user

Configuration: the report section (timezone, out-dir, schedule, top-n, smtp.*;
tenants and tenant-password-dir for the tenants' decks, docs/tenancy.md).
The deck is written by the built-in PresentationML writer; a binary built with
-tags unioffice uses UniDoc's unioffice instead when UNIDOC_LICENSE_API_KEY is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.load(cmd); err != nil {
				return err
			}
			if schedule && (week != "" || out != "") {
				return fmt.Errorf("report: --schedule writes every week into report.out-dir; drop --week/--out")
			}
			var wk reports.Week
			if week != "" {
				var err error
				if wk, err = reports.ParseWeek(week); err != nil {
					return fmt.Errorf("report: --week: %w", err)
				}
			}
			ctx, cancel := signalContext()
			defer cancel()
			if tenantID != "" {
				if schedule {
					return fmt.Errorf("report: --tenant writes one deck; drop --schedule")
				}
				return tenantDeck(cmd, a, tenantID, week, wk, out)
			}
			conn, err := chsink.Open(ctx, a.cfg.ClickHouse)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer conn.Close()

			deps := reports.Dependencies{Logger: a.log, Conn: conn, Database: a.cfg.ClickHouse.Database}
			if !schedule {
				comp, err := reports.New(a.cfg.Report, deps)
				if err != nil {
					return err
				}
				w := comp.LastFullWeek()
				if week != "" {
					w = wk
				}
				if out == "" {
					out = a.cfg.Report.OutDir + "/" + reports.FileName(w)
				}
				start := time.Now()
				d, err := comp.WriteFile(ctx, w, out)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (week %s, %s to %s, %d interfaces, %d links, %d remediation events, %s)\n",
					out, w, d.Start.Format("2006-01-02"), d.End.AddDate(0, 0, -1).Format("2006-01-02"),
					d.This.Interfaces, d.This.Links, d.Remediation.Events, time.Since(start).Round(time.Millisecond))
				for _, n := range d.Notes {
					fmt.Fprintln(cmd.OutOrStdout(), "note:", n)
				}
				return nil
			}

			// The provider's deck and every report.tenants entry's, each
			// on its schedule, as its tenant's user.
			res, err := a.cfg.Tenants()
			if err != nil {
				return err
			}
			return a.serve(pipeline.Service{Name: pipeline.StageReport,
				Build: func(d pipeline.Deps) (component.Component, error) {
					deps.Logger, deps.Registerer = d.Log, d.Registerer
					return reports.Scheduled(ctx, a.cfg.Report, a.cfg.ClickHouseSection(), res, deps)
				}})
		},
	}
	c.Flags().StringVar(&week, "week", "", "ISO `WEEK` to report, e.g. 2026-W47 (default: the last full week in report.timezone)")
	c.Flags().StringVar(&out, "out", "", "output `FILE` (default: report.out-dir/telemetry-report-<week>.pptx)")
	c.Flags().BoolVar(&schedule, "schedule", false, "keep running: write and e-mail each week's deck at report.schedule, and each report.tenants deck at its own")
	c.Flags().StringVar(&tenantID, "tenant", "", "write tenant `ID`'s deck (report.tenants), built as its read-only ClickHouse user")
	return c
}

// tenantDeck writes tenant id's deck of week w (wk when --week was given)
// to out (default: report.out-dir/<id>/), connected as the tenant's
// read-only ClickHouse user (reports.OpenTenant): the deck holds only
// what that user reads.
func tenantDeck(cmd *cobra.Command, a *app, id, week string, wk reports.Week, out string) error {
	res, err := a.cfg.Tenants()
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	comp, err := reports.OpenTenant(ctx, a.cfg.Report, a.cfg.ClickHouseSection(), res, id, reports.Dependencies{Logger: a.log})
	if err != nil {
		return err
	}
	defer comp.Stop()
	w := comp.LastFullWeek()
	if week != "" {
		w = wk
	}
	if out == "" {
		out = comp.Path(w)
	}
	d, err := comp.WriteFile(ctx, w, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (tenant %s, week %s, %d interfaces, %d links, %d remediation events)\n",
		out, id, w, d.This.Interfaces, d.This.Links, d.Remediation.Events)
	return nil
}
