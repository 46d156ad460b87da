package main

import (
	"math"
	"testing"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func TestErrorBudget(t *testing.T) {
	in := []*guest.KPI{
		{ID: "a", Interface: &guest.InterfaceKPI{LossRatio: 0.001}},
		{ID: "b", Pipeline: &guest.PipelineKPI{Instance: "p"}},
	}
	out, changed := errorbudget(in)
	if !changed || len(out) != 2 || math.Abs(out[0].Fields[Field]-1) > 1e-9 || out[1].Fields != nil {
		t.Errorf("errorbudget: %+v %v", out, changed)
	}
}
