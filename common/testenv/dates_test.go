package testenv

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixedDate matches what places a test's data at a fixed date: time.Date
// with a literal year, time.Unix with a literal of seconds since 2001 or
// later, and an ISO date in a string (SQL literals, expected outputs).
var fixedDate = regexp.MustCompile(`time\.Date\(\s*(19|20)\d\d\b|time\.Unix\(\s*\d{9,}|\b(19|20)\d\d-[01]\d-[0-3]\d(\b|T)`)

// goLayout is Go's reference date in time layouts, not a date.
const goLayout = "2006-01-02"

// fixedDateMarker exempts a line (on it or on the line above) whose fixed
// date never meets a server's clock, e.g. a calendar unit test with an
// injected now. The reason after the colon is required.
var fixedDateMarker = regexp.MustCompile(`// fixed date: \S`)

// serviceUse says a package's tests talk to a real service (and so to its
// clock: a TTL, a retention, a partition drop).
var serviceUse = regexp.MustCompile(`testenv\.(ClickHouse|ClickHouseHTTP|CHDB|Kafka|KafkaLibs)\(`)

// TestNoFixedDates fails on a test that puts data at a fixed date in a
// package whose tests meet a server: such a test passes the day it is
// written and fails from the day a TTL or a retention catches up with its
// data. Data goes at Anchor() or Now() instead; a date that never meets a
// server's clock carries a "// fixed date: why" comment.
func TestNoFixedDates(t *testing.T) {
	root := moduleRoot(t)
	pkgs := map[string][]string{} // package dir -> files to check
	uses := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.Dir(path)
		switch {
		case strings.HasSuffix(path, "_test.go"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if serviceUse.Match(b) {
				uses[dir] = true
			}
			pkgs[dir] = append(pkgs[dir], path)
		case filepath.Base(dir) == "testdata" && hasExt(path, ".py", ".sql", ".yaml", ".yml"):
			pkg := filepath.Dir(dir)
			pkgs[pkg] = append(pkgs[pkg], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for dir, files := range pkgs {
		if !uses[dir] {
			continue
		}
		for _, f := range files {
			checked++
			for _, hit := range fixedDates(t, f) {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s:%s\n\ta fixed date in a package whose tests meet a server's clock: place the data at "+
					"testenv.Anchor() or testenv.Now(), or say why it never meets one in a `// fixed date: why` comment", rel, hit)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no test file checked: the walk found no package that uses a real service")
	}
}

func hasExt(path string, exts ...string) bool {
	for _, e := range exts {
		if strings.HasSuffix(path, e) {
			return true
		}
	}
	return false
}

// fixedDates returns "line: text" for each unmarked fixed date in the file.
func fixedDates(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	prev := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "//") && !strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "--") &&
			fixedDate.MatchString(strings.ReplaceAll(line, goLayout, "")) && !fixedDateMarker.MatchString(line) && !fixedDateMarker.MatchString(prev) {
			out = append(out, fmt.Sprintf("%d: %s", n, trimmed))
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// TestFixedDatePattern checks the check: what it must catch and what it
// must let through.
func TestFixedDatePattern(t *testing.T) {
	for _, c := range []struct {
		line string
		hit  bool
	}{
		{`var genStart = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)`, true},
		{`now := time.Unix(1614265330, 0)`, true},
		{`{"SELECT h", "2026-11-20 10:00:00\t0.25"},`, true},
		{`INSERT INTO t VALUES ('2025-01-31', 1)`, true},
		{`Val: sval("2026-01-02T03:04:05Z")`, true},
		{`var genStart = Anchor()`, false},
		{`d := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)`, false},
		{`time.Unix(0, ts)`, false},
		{`{"2026-W47", true},`, false},
	} {
		if got := fixedDate.MatchString(c.line); got != c.hit {
			t.Errorf("%q: matched %v, want %v", c.line, got, c.hit)
		}
	}
}
