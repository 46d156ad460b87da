package collector

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meshtelemetry/telemetry/common/kafka"
)

func TestOrdinalMembers(t *testing.T) {
	got, err := OrdinalMembers("telemetry-collector-2", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"telemetry-collector-0", "telemetry-collector-1", "telemetry-collector-2"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []struct {
		instance string
		n        int
		want     string
	}{
		{"collector", 3, "does not end in -<ordinal>"},
		{"collector-", 3, "does not end in -<ordinal>"},
		{"-1", 3, "does not end in -<ordinal>"},
		{"collector-x", 3, "does not end in -<ordinal>"},
		{"collector-01", 3, "does not end in -<ordinal>"},
		{"collector-3", 3, "ordinal 3, not below member-count 3"},
	} {
		if _, err := OrdinalMembers(bad.instance, bad.n); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("OrdinalMembers(%q, %d) = %v, want an error with %q", bad.instance, bad.n, err, bad.want)
		}
	}
}

func TestMemberCountValidate(t *testing.T) {
	for _, tc := range []struct {
		instance string
		members  []string
		count    int
		want     string
	}{
		{"c-0", nil, 2, ""},
		{"c-1", nil, 2, ""},
		{"c-2", nil, 2, "member-count: instance \"c-2\" has ordinal 2"},
		{"host", nil, 2, "member-count: instance \"host\" does not end in -<ordinal>"},
		{"c-0", []string{"c-0", "c-1"}, 2, "member-count: give members or member-count, not both"},
		{"c-0", nil, -1, "member-count: must not be negative"},
	} {
		cfg := DefaultConfiguration()
		cfg.Instance, cfg.Members, cfg.MemberCount = tc.instance, tc.members, tc.count
		err := cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%s members %v count %d: error %v, want %q", tc.instance, tc.members, tc.count, err, tc.want)
		}
	}
}

// TestMemberCountShardsTargets: the pods of a StatefulSet of three
// (collector-0..2, member-count 3) split the targets between them, each
// target to exactly one, as an explicit member list would.
func TestMemberCountShardsTargets(t *testing.T) {
	const pods = 3
	var targets []TargetConfig
	for i := range 60 {
		targets = append(targets, TargetConfig{Name: fmt.Sprintf("site%d-sw%d", i/4, i%4), Address: "127.0.0.1:57400", Insecure: true})
	}
	kc := kafka.DefaultConfiguration()
	owner := map[string]string{}
	for p := range pods {
		cfg := DefaultConfiguration()
		cfg.Instance, cfg.MemberCount, cfg.Targets = fmt.Sprintf("collector-%d", p), pods, targets
		c, err := New(cfg, Dependencies{Kafka: &kc})
		if err != nil {
			t.Fatal(err)
		}
		mine := c.desired()
		if len(mine) == 0 || len(mine) == len(targets) {
			t.Errorf("%s collects %d of %d targets: not sharded", cfg.Instance, len(mine), len(targets))
		}
		for name := range mine {
			if prev, ok := owner[name]; ok {
				t.Errorf("target %s collected by %s and %s", name, prev, cfg.Instance)
			}
			owner[name] = cfg.Instance
			if want := Owner([]string{"collector-0", "collector-1", "collector-2"}, name); want != cfg.Instance {
				t.Errorf("target %s: %s took it, the explicit member list gives it to %s", name, cfg.Instance, want)
			}
		}
	}
	if len(owner) != len(targets) {
		t.Fatalf("%d of %d targets collected", len(owner), len(targets))
	}
}
