package remediation

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// kpiTap reads the KPI topic in the background.
type kpiTap struct {
	mu   sync.Mutex
	kpis []*wirepb.KPI
	keys []string
}

func tapKPIs(t *testing.T, k *kafka.Configuration) *kpiTap {
	t.Helper()
	cl := client(t, k, kgo.ConsumeTopics(k.Topics.KPIs), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	tap := &kpiTap{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				var kp wirepb.KPI
				if err := wire.DecodeKPI(r.Value, &kp); err != nil {
					t.Errorf("KPI record: %v", err)
					return
				}
				tap.mu.Lock()
				tap.kpis = append(tap.kpis, &kp)
				tap.keys = append(tap.keys, string(r.Key))
				tap.mu.Unlock()
			})
		}
	}()
	return tap
}

// device returns the device KPIs of dev read so far, by window start, and
// the Kafka keys they came with.
func (tp *kpiTap) device(dev string) (map[int64]*wirepb.KPI, []string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	m := map[int64]*wirepb.KPI{}
	var keys []string
	for i, k := range tp.kpis {
		if k.GetDeviceKpi() != nil && k.Device == dev {
			m[k.WindowStartUnixNano] = k
			keys = append(keys, tp.keys[i])
		}
	}
	return m, keys
}

// TestDeviceUnreachableEndToEnd runs the whole chain on real components:
// simulated switches (gNMI) → collector → Kafka (kfake) → KPI processor →
// rules engine → dispatcher → a verifying webhook receiver. One switch
// stops answering: while it sends nothing at all its device KPI keeps
// coming every window with reachable 0, the device-unreachable event fires
// once it was down for the rule's `for`, is delivered (firing, then
// acknowledged), and resolves when the switch answers again.
func TestDeviceUnreachableEndToEnd(t *testing.T) {
	k, _ := kafkatest.Fake(t, 4)
	recv, secret := startReceiver(t)

	const window = time.Second
	const forDown = 3 * time.Second
	rcfg := DefaultConfiguration()
	rcfg.GroupID += "-" + k.Topics.KPIs
	rcfg.DispatcherGroupID += "-" + k.Topics.KPIs
	rcfg.Webhooks = []Webhook{{Name: "noc", URL: recv.URL(), Secret: secret}}
	rcfg.Rules = []Rule{{Name: "device-unreachable", KPI: "device.reachable",
		Threshold: &rules.Threshold{Op: "<", Value: 1}, For: forDown, ClearFor: window, Severity: "critical",
		Action: rules.Action{Webhook: "noc", Template: `{"device": {{json .Device}}, "why": {{json .Message}}}`}}}
	startRemediator(t, rcfg, k)

	pcfg := kpi.DefaultConfiguration()
	pcfg.Instance = "reach"
	pcfg.GroupID += "-" + k.Topics.Samples
	pcfg.Window = window
	pcfg.AllowedLateness = 300 * time.Millisecond
	pcfg.MaxGap = 10 * time.Second
	pcfg.CommitInterval = 200 * time.Millisecond
	proc, err := kpi.New(pcfg, kpi.Dependencies{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })

	fab := simtest.Start(t, 2, 2, 2)
	ccfg := collector.DefaultConfiguration()
	ccfg.Instance = "reach"
	ccfg.Backoff = collector.Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond, Factor: 2}
	// Longer than the outage: the collector's repeated down records
	// (every inventory-interval) would fill the windows this test needs
	// silent, to prove the processor emits a device's windows by itself.
	ccfg.InventoryInterval = time.Hour
	ccfg.DialTimeout = 2 * time.Second
	ccfg.StallTimeout = 5 * time.Second
	ccfg.FlushTimeout = 3 * time.Second
	ccfg.Linger = time.Millisecond
	for i := range ccfg.Subscriptions {
		if ccfg.Subscriptions[i].SampleInterval > 0 {
			ccfg.Subscriptions[i].SampleInterval = 200 * time.Millisecond
		}
	}
	for _, tg := range fab.Targets() {
		ccfg.Targets = append(ccfg.Targets, collector.TargetConfig{Name: tg.Name, Site: tg.Site, Address: fab.Addr(), Insecure: true})
	}
	col, err := collector.New(ccfg, collector.Dependencies{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = col.Stop() })

	tap := tapKPIs(t, k)
	targets := fab.Targets()
	victim := targets[len(targets)-1]
	testenv.Eventually(t, 30*time.Second, "reachable device KPIs for every switch", func() bool {
		for _, tg := range targets {
			m, _ := tap.device(tg.Name)
			if len(m) < 2 {
				return false
			}
		}
		return true
	})

	downAt := time.Now()
	if err := fab.SetTargetDown(victim.Name, true); err != nil {
		t.Fatal(err)
	}
	// Down for 5 s: the event fires (for: 3 s) and the KPI keeps coming.
	testenv.Eventually(t, 30*time.Second, "the firing delivered", func() bool { return countDelivered(recv, "firing") == 1 })
	time.Sleep(5*time.Second - time.Since(downAt)) // the scenario: the switch stays down 5 s
	upAt := time.Now()
	if err := fab.SetTargetDown(victim.Name, false); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the resolved delivered", func() bool { return countDelivered(recv, "resolved") == 1 })

	// The KPIs: every window of the outage is there, reachable 0, and most
	// of them say nothing was heard from the device (samples 0).
	m, keys := tap.device(victim.Name)
	for _, key := range keys {
		if key != victim.Site+"/"+victim.Name {
			t.Fatalf("device KPI key %q, want %s/%s", key, victim.Site, victim.Name)
		}
	}
	w := int64(window)
	var silent, down int
	for ws := downAt.UnixNano() - downAt.UnixNano()%w + w; ws+w <= upAt.UnixNano(); ws += w {
		kp := m[ws]
		if kp == nil {
			t.Errorf("no device KPI for the window at %s while %s was down", time.Unix(0, ws).Format("15:04:05"), victim.Name)
			continue
		}
		d := kp.GetDeviceKpi()
		if d.Reachable != 0 || d.State != wirepb.DeviceState_DEVICE_DOWN || d.LastError == "" {
			t.Errorf("window at %s: %v, want reachable 0, DEVICE_DOWN with the last error", time.Unix(0, ws).Format("15:04:05"), d)
		}
		down++
		if kp.Samples == 0 {
			silent++
		}
	}
	if down < 3 || silent < 3 {
		t.Errorf("%d windows down, %d of them silent; want at least 3 of each", down, silent)
	}
	for _, tg := range targets {
		if tg.Name == victim.Name {
			continue
		}
		other, _ := tap.device(tg.Name)
		for _, kp := range other {
			if kp.GetDeviceKpi().Reachable != 1 && kp.WindowStartUnixNano > downAt.Add(-10*time.Second).UnixNano() {
				t.Errorf("%s unreachable in the window at %s", tg.Name, time.Unix(0, kp.WindowStartUnixNano).Format("15:04:05"))
			}
		}
	}

	// The transitions: one event, on the device itself, fired after `for`,
	// resolved after the switch came back.
	recs := readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= 4 })
	evs := transitions(t, recs)
	var got []string
	var fired, resolved *wirepb.RemediationEvent
	for _, e := range evs {
		got = append(got, rules.StateName(e.State))
		switch e.State {
		case wirepb.EventState_FIRING:
			fired = e
		case wirepb.EventState_RESOLVED:
			resolved = e
		}
		if e.EventId != evs[0].EventId {
			t.Errorf("transitions of two events: %v", evs)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"acknowledged", "dispatched", "firing", "resolved"}) {
		t.Fatalf("transitions %v, want firing, dispatched, acknowledged, resolved", got)
	}
	if fired.Site != victim.Site || fired.Device != victim.Name || fired.Interface != "" || fired.Kpi != "device.reachable" ||
		fired.Value != 0 || fired.Threshold != 1 {
		t.Errorf("firing %v", fired)
	}
	// The first breaching window contains the DEVICE_DOWN record; the event
	// fires at the end of the window that makes `for`.
	if fe := time.Unix(0, fired.WindowEndUnixNano); fe.Before(downAt.Add(forDown-window)) || fe.After(upAt) {
		t.Errorf("fired at window end %s: down at %s, for %s, up at %s", fe.Format("15:04:05.000"),
			downAt.Format("15:04:05.000"), forDown, upAt.Format("15:04:05.000"))
	}
	if re := time.Unix(0, resolved.WindowEndUnixNano); !re.After(upAt) {
		t.Errorf("resolved at window end %s, before the switch was back at %s", re.Format("15:04:05.000"), upAt.Format("15:04:05.000"))
	}
	// The webhook got the firing, signed, about the device.
	for _, d := range recv.Deliveries() {
		if d.State != "firing" {
			continue
		}
		var ce struct {
			Subject string `json:"subject"`
			Data    struct {
				Device, Interface, KPI string
				Payload                struct{ Device, Why string }
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &ce); err != nil {
			t.Fatal(err)
		}
		if ce.Subject != victim.Site+"/"+victim.Name || ce.Data.Device != victim.Name || ce.Data.Interface != "" ||
			ce.Data.KPI != "device.reachable" || ce.Data.Payload.Device != victim.Name || ce.Data.Payload.Why == "" {
			t.Errorf("firing delivery %s", d.Body)
		}
	}
}

func countDelivered(r *Receiver, state string) int {
	n := 0
	for _, d := range r.Deliveries() {
		if d.State == state {
			n++
		}
	}
	return n
}
