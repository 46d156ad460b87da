package main

import (
	"testing"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func TestDropports(t *testing.T) {
	// a probe sample has no interface name
	view := guest.AppendNamesView(nil, []string{"Ethernet1", "Management1", "", "lo0"})
	var v, want guest.Names
	v.Reset(view)
	dropports(&v)
	want.Reset(view)
	want.Drop(1)
	want.Drop(3)
	if string(v.Edits()) != string(want.Edits()) {
		t.Errorf("dropports: edits %q, want %q", v.Edits(), want.Edits())
	}
	v.Reset(guest.AppendNamesView(nil, []string{"Ethernet1", ""}))
	dropports(&v)
	if len(v.Edits()) != 0 {
		t.Error("nothing dropped, but edits")
	}
}

func TestDropped(t *testing.T) {
	for name, want := range map[string]bool{
		"Management1": true, "mgmt0": true, "fxp0": true, "Me0": true, "lo": true, "Loopback10": true, "null0": true,
		"Ethernet1": false, "Management0/0": false, // "*" matches no "/" (path.Match)
		"": false, "m": false, "ÉLO": false, "lo" + string(make([]byte, 60)): true,
	} {
		if got := Dropped(name); got != want {
			t.Errorf("Dropped(%q) = %v, want %v", name, got, want)
		}
	}
	if fast.plain {
		t.Error("Patterns do not fit the fast path")
	}
}

// FuzzDropped checks the word-at-a-time path against path.Match.
func FuzzDropped(f *testing.F) {
	for _, s := range []string{"Management1", "Management0/0", "lo", "me/", "mgmt1/", "x/lo", "LOOPBACK1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := Dropped(name), droppedPlain(name); got != want {
			t.Fatalf("Dropped(%q) = %v, path.Match says %v", name, got, want)
		}
	})
}
