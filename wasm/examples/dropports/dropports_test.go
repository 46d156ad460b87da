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
