// Command errorbudget is an edge processor (hook process) that derives an
// error-budget burn rate from each closed window's loss: with an
// objective of Objective (99.9 % of packets delivered), the budget is
// 1 - Objective and the burn rate is loss_ratio / budget (1: the budget
// is spent exactly at the objective's pace; 14.4 over an hour spends 2 %
// of a 30-day budget). It adds the field "error_budget_burn" to every
// interface and link KPI, and nothing else. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o errorbudget.wasm ./wasm/examples/errorbudget
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

// Objective is the share of packets that must be delivered.
const Objective = 0.999

// Field is the name of the derived value.
const Field = "error_budget_burn"

// Burn is the burn rate of a window with loss ratio loss.
func Burn(loss float64) float64 { return loss / (1 - Objective) }

func errorbudget(kpis []*guest.KPI) ([]*guest.KPI, bool) {
	changed := false
	for _, k := range kpis {
		var loss float64
		switch {
		case k.Interface != nil:
			loss = k.Interface.LossRatio
		case k.Link != nil:
			loss = k.Link.LossRatio
		default:
			continue
		}
		if k.Fields == nil {
			k.Fields = map[string]float64{}
		}
		k.Fields[Field] = Burn(loss)
		changed = true
	}
	return kpis, changed
}
