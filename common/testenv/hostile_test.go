package testenv

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestHostileNamesCorpus checks the corpus holds what issue 18 asks every
// stage to be tested with, and that its labels can name subtests.
func TestHostileNamesCorpus(t *testing.T) {
	hs := HostileNames()
	label := regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	seen := map[string]bool{}
	values := map[string]bool{}
	for _, h := range hs {
		if !label.MatchString(h.Label) || seen[h.Label] {
			t.Errorf("label %q: not a unique lower-case ASCII label", h.Label)
		}
		seen[h.Label] = true
		if values[h.Value] {
			t.Errorf("%s: value listed twice", h.Label)
		}
		values[h.Value] = true
	}
	has := func(what string, f func(string) bool) {
		t.Helper()
		for _, h := range hs {
			if f(h.Value) {
				return
			}
		}
		t.Errorf("no name with %s", what)
	}
	has("a trailing backslash", func(s string) bool { return strings.HasSuffix(s, `\`) && len(s) > 1 })
	has("a leading backslash", func(s string) bool { return strings.HasPrefix(s, `\`) && len(s) > 1 })
	has("a doubled backslash", func(s string) bool { return strings.Contains(s, `\\`) })
	has("a quote", func(s string) bool { return strings.Contains(s, "'") })
	has("NUL", func(s string) bool { return strings.Contains(s, "\x00") })
	has("CR/LF", func(s string) bool { return strings.Contains(s, "\r\n") })
	has("U+202E", func(s string) bool { return strings.ContainsRune(s, 0x202E) })
	has("U+2028", func(s string) bool { return strings.ContainsRune(s, 0x2028) })
	has("a zero-width space", func(s string) bool { return strings.ContainsRune(s, 0x200B) })
	has("UNION ALL over system.tables", func(s string) bool { return strings.Contains(s, "UNION ALL") && strings.Contains(s, "system.tables") })
	has("DROP TABLE", func(s string) bool { return strings.Contains(s, "'; DROP TABLE") })
	has("a line comment", func(s string) bool { return strings.HasPrefix(s, "--") })
	has("a block comment", func(s string) bool { return strings.Contains(s, "/*") })
	has("$__all", func(s string) bool { return s == "$__all" })
	has("${x}", func(s string) bool { return strings.HasPrefix(s, "${") })
	has("[[x]]", func(s string) bool { return strings.HasPrefix(s, "[[") })
	has("a comma", func(s string) bool { return strings.Contains(s, ",") })
	has("10 kB", func(s string) bool { return len(s) >= 10240 })
	has("invalid UTF-8", func(s string) bool { return !utf8.ValidString(s) })
	has("the empty name", func(s string) bool { return s == "" })
	// A fresh slice each call.
	hs[0].Value = "changed"
	if HostileNames()[0].Value == "changed" {
		t.Error("HostileNames shares its slice between calls")
	}
}
