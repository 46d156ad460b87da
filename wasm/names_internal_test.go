package wasm

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wasm/guest"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// namesSamples are samples of every body: interfaces with and without a
// name (one with a name long enough for a two-byte length), a probe, a
// device.
func namesSamples() []*wirepb.Sample {
	iface := func(name string) *wirepb.Sample {
		return &wirepb.Sample{Site: "site1", Device: "site1-sw1", Collector: "c1", Seq: 7, DeviceTimeUnixNano: 1, ReceiveTimeUnixNano: 2, Tenant: "t1",
			Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: name, SpeedBps: 100e9, OperStatus: wirepb.OperStatus_UP,
				Counters: []*wirepb.CounterValue{{Counter: wirepb.Counter_IN_OCTETS, Value: 1}, {Counter: wirepb.Counter_OUT_OCTETS, Value: 1 << 40}}}}}
	}
	return []*wirepb.Sample{
		iface("GigabitEthernet0/0/1"),
		iface(""),
		{Site: "site1", Device: "site1-sw1", Seq: 8, Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: "site2", AvgDelayUs: 3}}},
		{Site: "site1", Device: "site1-sw1", Seq: 9, Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "127.0.0.1:1"}}},
		iface("Ethernet" + strings.Repeat("9", 120)),
		iface("ae1"),
	}
}

// edits encodes renames (name) and drops (nil) by sample index, in order.
func edits(es ...any) []byte {
	var b []byte
	for k := 0; k < len(es); k += 2 {
		b = binary.LittleEndian.AppendUint32(b, uint32(es[k].(int)))
		if es[k+1] == nil {
			b = binary.LittleEndian.AppendUint32(b, editDrop)
			continue
		}
		s := es[k+1].(string)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func TestWasmNamesView(t *testing.T) {
	in := namesSamples()
	var batch []byte
	for _, s := range in {
		var err error
		if batch, err = AppendSample(batch, s); err != nil {
			t.Fatal(err)
		}
	}
	var nv namesView
	if err := nv.build(batch); err != nil {
		t.Fatal(err)
	}
	var v guest.Names
	v.Reset(nv.view)
	if v.Len() != len(in) {
		t.Fatalf("view of %d samples, want %d", v.Len(), len(in))
	}
	for i, s := range in {
		if got, want := string(v.Name(i)), s.GetInterface().GetInterface(); got != want {
			t.Errorf("name %d = %q, want %q", i, got, want)
		}
	}

	long := "eth" + strings.Repeat("7", 200)
	out, n, err := nv.apply([]byte("keep"), batch, edits(0, "eth0/0/1", 1, "lo0", 3, nil, 4, long, 5, ""))
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:4]) != "keep" {
		t.Fatal("dst overwritten")
	}
	want := []*wirepb.Sample{CloneSample(in[0]), CloneSample(in[1]), in[2], CloneSample(in[4]), CloneSample(in[5])}
	want[0].GetInterface().Interface = "eth0/0/1"
	want[1].GetInterface().Interface = "lo0"
	want[3].GetInterface().Interface = long
	want[4].GetInterface().Interface = ""
	if n != len(want) {
		t.Fatalf("%d records out, want %d", n, len(want))
	}
	i := 0
	if err := EachRecord(out[4:], func(rec []byte) error {
		s := &wirepb.Sample{}
		if err := wire.DecodeSample(rec, s); err != nil {
			return err
		}
		if !proto.Equal(s, want[i]) {
			t.Errorf("sample %d = %v, want %v", i, s, want[i])
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// no edits: the records as they came
	out, n, err = nv.apply(nil, batch, nil)
	if err != nil || n != len(in) || string(out) != string(batch) {
		t.Fatalf("no edits: %d records, %v; changed bytes: %v", n, err, string(out) != string(batch))
	}

	for name, e := range map[string][]byte{
		"out of order":     edits(1, "a", 0, "b"),
		"twice":            edits(1, "a", 1, "b"),
		"past the batch":   edits(6, "a"),
		"probe renamed":    edits(2, "a"),
		"device renamed":   edits(3, "a"),
		"not UTF-8":        edits(0, "\xff"),
		"truncated header": edits(0, "a")[:5],
		"truncated name":   edits(0, "abc")[:10],
	} {
		if _, _, err := nv.apply(nil, batch, e); !errors.Is(err, errEdits) {
			t.Errorf("%s: %v, want %v", name, err, errEdits)
		}
	}
	if err := nv.build([]byte{0x0a, 0x05, 0x52, 0x09}); err == nil {
		t.Error("a malformed record built a view")
	}
}

// FuzzWasmNamesView: any batch and any edits give an error or a batch of
// records, never a panic; a valid batch with renames decodes.
func FuzzWasmNamesView(f *testing.F) {
	var batch []byte
	for _, s := range namesSamples() {
		batch, _ = AppendSample(batch, s)
	}
	f.Add(batch, edits(0, "eth0", 3, nil))
	f.Add(batch, []byte{})
	f.Add([]byte{0x0a, 0x02, 0x52, 0x00}, edits(0, "x"))
	f.Fuzz(func(t *testing.T, b, e []byte) {
		var nv namesView
		if err := nv.build(b); err != nil {
			return
		}
		var v guest.Names
		v.Reset(nv.view)
		for i := range v.Len() {
			_ = v.Name(i)
		}
		out, n, err := nv.apply(nil, b, e)
		if err != nil {
			return
		}
		if c, err := Count(out); err != nil || c != n {
			t.Fatalf("output of %d records (%v), apply said %d", c, err, n)
		}
	})
}
