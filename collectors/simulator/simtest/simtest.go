// Package simtest starts simulated switch fabrics for other packages' tests.
package simtest

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/collectors/simulator"
)

// Start starts a fabric of sites × switches per site × interfaces per
// switch, with the default configuration otherwise, on a free loopback
// port; it is stopped when the test ends.
func Start(tb testing.TB, sites, switches, ifaces int) *simulator.Fabric {
	tb.Helper()
	cfg := simulator.DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.Sites, cfg.SwitchesPerSite, cfg.InterfacesPerSwitch = sites, switches, ifaces
	f, err := simulator.New(cfg, simulator.Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Stop() })
	return f
}
