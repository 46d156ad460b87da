package chsink

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// genStart is where the generated rows start: relative to the clock, so
// that they stay inside every TTL whatever day the tests run.
var genStart = testenv.Anchor()

// genInterfaceKPIs returns n interface KPIs: ifaces interfaces × n/ifaces
// one-second windows from genStart, deterministic ids.
func genInterfaceKPIs(n, ifaces int) []*wirepb.KPI {
	out := make([]*wirepb.KPI, 0, n)
	for i := 0; i < n; i++ {
		dev, iface := i%ifaces/8, i%8
		w := genStart.Add(time.Duration(i/ifaces) * time.Second)
		out = append(out, &wirepb.KPI{
			Version: 1, Id: fmt.Sprintf("if/site%d/dev%d/eth%d/%d", dev%4, dev, iface, w.Unix()),
			Site: fmt.Sprintf("site%d", dev%4), Device: fmt.Sprintf("dev%d", dev),
			WindowStartUnixNano: w.UnixNano(), WindowEndUnixNano: w.Add(time.Second).UnixNano(), Samples: 2,
			Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{
				Interface: fmt.Sprintf("eth%d", iface), UtilIn: float64(i%100) / 100, UtilOut: 0.25, LossRatio: 0.001 * float64(i%3),
				InErrorsPs: 1, InDiscardsPs: 2, OutDiscardsPs: 3, OutErrorsPs: 4, SpeedBps: 10_000_000_000,
				InBps: 1e9, OutBps: 2e9, InPps: 1e5, OutPps: 2e5, OperStatus: wirepb.OperStatus_UP,
			}},
		})
	}
	return out
}

func genLinkKPIs(n int) []*wirepb.KPI {
	out := make([]*wirepb.KPI, 0, n)
	for i := 0; i < n; i++ {
		w := genStart.Add(time.Duration(i/4) * time.Second)
		out = append(out, &wirepb.KPI{
			Version: 1, Id: fmt.Sprintf("link/%d/%d", i%4, w.Unix()), Site: "site0", Device: "dev0",
			WindowStartUnixNano: w.UnixNano(), WindowEndUnixNano: w.Add(10 * time.Second).UnixNano(), Samples: 10,
			Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{
				DstSite: fmt.Sprintf("site%d", i%4+1), DstDevice: "dev9", RttMs: 10 + float64(i%4), RttP50Ms: 10, RttP95Ms: 20,
				RttP99Ms: 30, JitterMs: 1, LossRatio: 0.01, ProbesSent: 100, ProbesReceived: 99,
			}},
		})
	}
	return out
}

func genPipelineKPI() *wirepb.KPI {
	return &wirepb.KPI{Version: 1, Id: "pipeline/p1/1", Site: "", Device: "", WindowStartUnixNano: genStart.UnixNano(),
		WindowEndUnixNano: genStart.Add(10 * time.Second).UnixNano(), Samples: 5,
		Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{Instance: "p1", DelayP50Ms: 5, DelayP99Ms: 50, DelayMaxMs: 80, Samples: 1000}}}
}

// genDeviceKPIs returns device KPIs of dev0 over n ten-second windows from
// genStart: down (with the collector's error) in windows 3 and 4, up
// otherwise.
func genDeviceKPIs(n int) []*wirepb.KPI {
	out := make([]*wirepb.KPI, 0, n)
	for i := 0; i < n; i++ {
		w := genStart.Add(time.Duration(i) * 10 * time.Second)
		d := &wirepb.DeviceKPI{Reachable: 1, State: wirepb.DeviceState_DEVICE_UP, UpRatio: 1}
		switch i {
		case 3:
			d = &wirepb.DeviceKPI{State: wirepb.DeviceState_DEVICE_DOWN, LastError: "connection refused", UpRatio: 0.25}
		case 4:
			d = &wirepb.DeviceKPI{State: wirepb.DeviceState_DEVICE_DOWN, LastError: "connection refused"}
		}
		out = append(out, &wirepb.KPI{Version: 1, Id: fmt.Sprintf("device/site0/dev0/%d", w.Unix()), Site: "site0", Device: "dev0",
			WindowStartUnixNano: w.UnixNano(), WindowEndUnixNano: w.Add(10 * time.Second).UnixNano(), Samples: uint32(i % 2),
			Body: &wirepb.KPI_DeviceKpi{DeviceKpi: d}})
	}
	return out
}

func genSamples() []*wirepb.Sample {
	t := genStart.UnixNano()
	return []*wirepb.Sample{
		{Version: 1, Site: "site0", Device: "dev0", DeviceTimeUnixNano: t + 123, ReceiveTimeUnixNano: t + 5_000_000, Collector: "c1", Seq: 1,
			Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "eth0", SpeedBps: 1e10, OperStatus: wirepb.OperStatus_UP,
				Counters: []*wirepb.CounterValue{{Counter: wirepb.Counter_IN_OCTETS, Value: 1000}, {Counter: wirepb.Counter_OUT_DISCARDS, Value: 7}}}}},
		{Version: 1, Site: "site0", Device: "dev0", DeviceTimeUnixNano: t + 456, ReceiveTimeUnixNano: t + 6_000_000, Collector: "c1", Seq: 2,
			Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: "site1", PeerDevice: "dev1", MinDelayUs: 900, MaxDelayUs: 1500,
				AvgDelayUs: 1000, StddevDelayUs: 50, JitterUs: 30, LossPercentage: 2, ProbesSent: 100, ProbesReceived: 98}}},
		{Version: 1, Site: "site0", Device: "dev0", DeviceTimeUnixNano: t, ReceiveTimeUnixNano: t, Collector: "c1", Seq: 3,
			Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "127.0.0.1:57400", State: wirepb.DeviceState_DEVICE_UP}}},
		{Version: 1, Site: "site0", Device: "dev0", DeviceTimeUnixNano: t + int64(time.Hour), ReceiveTimeUnixNano: t, Collector: "c1", Seq: 4,
			Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "127.0.0.1:57400", State: wirepb.DeviceState_DEVICE_DOWN, LastError: "EOF"}}},
	}
}

// genStateSample is a state-only interface sample (no counters: ON_CHANGE
// oper-status), stored in interface_state.
func genStateSample() *wirepb.Sample {
	t := genStart.UnixNano()
	return &wirepb.Sample{Version: 1, Site: "site0", Device: "dev0", DeviceTimeUnixNano: t + 789, ReceiveTimeUnixNano: t + 7_000_000, Collector: "c1", Seq: 5,
		Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "eth1", SpeedBps: 1e9, OperStatus: wirepb.OperStatus_DOWN,
			LastClearUnixNano: t - int64(time.Hour)}}}
}

func genEvents() []*wirepb.RemediationEvent {
	t := genStart.UnixNano()
	var out []*wirepb.RemediationEvent
	for i, st := range []wirepb.EventState{wirepb.EventState_FIRING, wirepb.EventState_DISPATCHED, wirepb.EventState_RESOLVED} {
		out = append(out, &wirepb.RemediationEvent{Version: 1, EventId: "ev1", Rule: "high-loss", State: st, Severity: wirepb.Severity_CRITICAL,
			Site: "site0", Device: "dev0", Interface: "eth0", Kpi: "loss_ratio", Value: 0.05, Threshold: 0.01,
			TimeUnixNano: t + int64(i)*int64(time.Minute), FiredUnixNano: t, Action: "gitops", Message: "loss above threshold"})
	}
	return out
}

func appendSprint[T number](rows [][]string, v []T) [][]string {
	for i, x := range v {
		rows[i] = append(rows[i], fmt.Sprint(x))
	}
	return rows
}

// sqlLiteral renders buffered rows as a VALUES list (for chdb, which the
// Go driver cannot reach).
func valuesSQL(tb *tableBuf) string {
	rows := make([][]string, tb.rows)
	for _, c := range tb.cols {
		switch x := c.(type) {
		case *tsVec:
			for i, v := range x.v {
				rows[i] = append(rows[i], fmt.Sprintf("toDateTime64('%s', 9, 'UTC')", nanos(v).Format("2006-01-02 15:04:05.999999999")))
			}
		case *strVec:
			for i := range rows {
				rows[i] = append(rows[i], "'"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x.at(i))+"'")
			}
		case *vecOf[float64]:
			rows = appendSprint(rows, x.v)
		case *vecOf[uint64]:
			rows = appendSprint(rows, x.v)
		case *vecOf[uint32]:
			rows = appendSprint(rows, x.v)
		case *vecOf[uint8]:
			rows = appendSprint(rows, x.v)
		case *vecOf[int32]:
			rows = appendSprint(rows, x.v)
		case *vecOf[int64]:
			rows = appendSprint(rows, x.v)
		}
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = "(" + strings.Join(r, ", ") + ")"
	}
	return tb.insert + " VALUES " + strings.Join(parts, ", ")
}

// fillBuffers decodes the generated records into a fresh set of buffers:
// rows in every table.
func fillBuffers(t testing.TB, db string) *buffers {
	t.Helper()
	b := newBuffers(db)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range genInterfaceKPIs(240, 16) {
		must(b.addKPI(k))
	}
	for _, k := range genLinkKPIs(40) {
		must(b.addKPI(k))
	}
	must(b.addKPI(genPipelineKPI()))
	for _, k := range genDeviceKPIs(6) {
		must(b.addKPI(k))
	}
	fs := map[string]int64{}
	for _, s := range append(genSamples(), genStateSample()) {
		must(b.addSample(s, true, fs))
	}
	for _, e := range genEvents() {
		must(b.addRemediation(e))
	}
	must(b.addDeadLetter(genStart.UnixNano(), "processor", "malformed record", "telemetry.samples", 3, 42, []byte("k"), []byte{0xff, 0x00, 'x'}))
	return b
}
