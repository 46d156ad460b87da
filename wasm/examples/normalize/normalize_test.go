package main

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"GigabitEthernet0/0/1":    "eth0/0/1",
		"TenGigE0/0/0/1":          "eth0/0/0/1",
		"HundredGigabitEthernet1": "eth1",
		"Ethernet1/1":             "eth1/1",
		"Eth1/1":                  "eth1/1",
		"et-0/0/1":                "eth0/0/1",
		"xe-0/0/1":                "eth0/0/1",
		"Port-Channel10":          "lag10",
		"Bundle-Ether10":          "lag10",
		"ae10":                    "lag10",
		"Management1":             "mgmt1",
		"fxp0":                    "mgmt0",
		"Loopback0":               "loopback0",
		"Ethernet":                "ethernet", // no port number: only lower-cased
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
