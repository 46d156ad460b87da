package rules

import (
	"errors"
	"strings"
	"testing"
)

// A rules file that does not say which rules it holds is refused
// (ErrNoRules), as a file caught half-written would be; "rules: []" is an
// empty rule set; a second YAML document is an error, not ignored.
func TestParseRefusesAFileWithoutARulesList(t *testing.T) {
	for _, s := range []string{"", "\n", " \t\n \n", "# only\n# comments\n", "---\n", "rules:\n", "rules: ~\n", "rules: null\n"} {
		if rs, err := Parse([]byte(s)); !errors.Is(err, ErrNoRules) || rs != nil {
			t.Errorf("Parse(%q) = %v, %v; want ErrNoRules", s, rs, err)
		}
	}
	for _, s := range []string{"rules: []\n", "# nothing for now\nrules: []\n", "---\nrules: []\n"} {
		if rs, err := Parse([]byte(s)); err != nil || rs == nil || len(rs) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want an empty rule set", s, rs, err)
		}
	}
	_, err := Parse([]byte("rules: []\n---\nrules: [{name: a, kpi: link.rtt_ms, threshold: {op: '>', value: 1}}]\n"))
	if err == nil || !strings.Contains(err.Error(), "second YAML document") {
		t.Errorf("two documents: %v, want an error", err)
	}
}
