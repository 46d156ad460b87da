package simulator

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// TestFabricLifecycle: Start's ctx bounds the start-up only (cancelling it
// ends no stream); Stop is idempotent, safe concurrently and without a
// Start; a stopped fabric does not start again; Ready follows.
func TestFabricLifecycle(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.Sites, cfg.SwitchesPerSite, cfg.InterfacesPerSwitch = 1, 1, 2
	cfg.MinSampleInterval = time.Millisecond

	idle, err := New(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Ready(context.Background()); err == nil {
		t.Error("ready before Start")
	}
	if err := idle.Stop(); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}
	if err := idle.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}

	f, err := New(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Stop() })
	if err := f.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	if err := f.Ready(context.Background()); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	sc, err := gpb.NewGNMIClient(conn).Subscribe(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(subReq("site1-sw1", gpb.SubscriptionList_STREAM, &gpb.Subscription{
		Path: path("interfaces", "interface[name=*]", "state", "counters"), Mode: gpb.SubscriptionMode_SAMPLE,
		SampleInterval: uint64(5 * time.Millisecond),
	})); err != nil {
		t.Fatal(err)
	}
	recvUntilSync(t, sc)
	cancel()
	for i := 0; i < 20; i++ {
		if _, err := sc.Recv(); err != nil {
			t.Fatalf("stream ended after the start context ended: %v", err)
		}
	}
	if err := f.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after the start context ended: %v", err)
	}

	if err := testenv.StopConcurrently(t, f.Stop, 4); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := f.Ready(context.Background()); err == nil {
		t.Error("ready after Stop")
	}
	if err := f.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
}

// TestMetricNames: the exported names (dashboards read them), documented
// in docs/simulator.md, and the labelled series at 0 from the start.
func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(DefaultConfiguration(), Dependencies{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	series := map[string]int{}
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		series[mf.GetName()] = len(mf.GetMetric())
	}
	sort.Strings(names)
	want := []string{
		"telemetry_simulator_faults_active", "telemetry_simulator_faults_total",
		"telemetry_simulator_notifications_total", "telemetry_simulator_rpc_errors_total",
		"telemetry_simulator_subscriptions_active", "telemetry_simulator_subscriptions_total",
		"telemetry_simulator_updates_total",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("metrics %v\nwant %v", names, want)
	}
	doc, err := os.ReadFile("../../docs/simulator.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(append(names, subscriptionModes...), rpcErrorReasons...) {
		if !strings.Contains(string(doc), "`"+name) {
			t.Errorf("docs/simulator.md does not mention `%s`", name)
		}
	}
	if n := series["telemetry_simulator_subscriptions_total"]; n != len(subscriptionModes) {
		t.Errorf("subscriptions_total: %d series, want one per mode %v", n, subscriptionModes)
	}
	if n := series["telemetry_simulator_rpc_errors_total"]; n != len(rpcErrorReasons) {
		t.Errorf("rpc_errors_total: %d series, want one per reason %v", n, rpcErrorReasons)
	}
}

// TestLogComponentOnce: the fabric's log lines carry component=simulator
// once.
func TestLogComponentOnce(t *testing.T) {
	var logs testenv.Logs
	log := logs.JSONLogger().With("cmd", "simulate")
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	f, err := New(cfg, Dependencies{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.SetTargetDown("site1-sw1", true); err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "\n"); n < 3 {
		t.Fatalf("log: %q", logs.String())
	}
	testenv.CheckComponentOnce(t, logs.String(), Stage)
}
