package chsink

import (
	"errors"
	"testing"

	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestRowsCarryTenant: every row builder stores its record's tenant, the
// default tenant when the record names none, and refuses a record whose
// tenant is not a tenant id (ErrTenant, dead-letter reason "tenant")
// leaving nothing behind.
func TestRowsCarryTenant(t *testing.T) {
	for _, tc := range []struct{ record, stored string }{{"", "provider"}, {"acme", "acme"}} {
		b := newBuffers("db")
		b.defaultTenant = "provider"
		ik := genInterfaceKPIs(1, 1)[0]
		ik.Tenant = tc.record
		smp := genSamples()[0]
		smp.Tenant = tc.record
		ev := genEvents()[0]
		ev.Tenant = tc.record
		if err := errors.Join(b.addKPI(ik), b.addSample(smp, true, map[string]int64{}), b.addRemediation(ev),
			b.addTenantDeadLetter(tc.record, 1, "c", "r", "t", 0, 1, nil, nil)); err != nil {
			t.Fatal(err)
		}
		for _, tb := range b.order {
			if tb.rows == 0 {
				continue
			}
			tbl, _ := schema.TableNamed(tb.t.Name)
			last := len(tbl.Columns) - 1
			if tbl.Columns[last].Name != schema.TenantColumn {
				t.Fatalf("%s: last column %s, want the tenant", tb.t.Name, tbl.Columns[last].Name)
			}
			if got := valueAt(tb.cols[last], 0); got != tc.stored {
				t.Errorf("record tenant %q: %s stores %v, want %q", tc.record, tb.t.Name, got, tc.stored)
			}
		}
	}
	b := newBuffers("db")
	for _, bad := range []string{"Acme", "a-b", "x' OR 1=1", "1abc", "abcdefghijabcdefghijabcdefghijabc"} {
		ik := genInterfaceKPIs(1, 1)[0]
		ik.Tenant = bad
		err := b.addKPI(ik)
		if !errors.Is(err, ErrTenant) || reasonLabel(err) != "tenant" {
			t.Errorf("tenant %q: %v, want ErrTenant", bad, err)
		}
		if err := b.addRemediation(&wirepb.RemediationEvent{Tenant: bad}); !errors.Is(err, ErrTenant) {
			t.Errorf("event of tenant %q: %v, want ErrTenant", bad, err)
		}
	}
	if n := b.rows(); n != 0 {
		t.Errorf("%d rows buffered from refused records", n)
	}
}
