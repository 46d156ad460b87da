// Package wasmtest builds the WebAssembly modules of wasm/examples and
// wasm/testdata/modules for tests, with the standard Go toolchain
// (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared). A module is built once
// per test process and set of flags.
package wasmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Examples are the example modules (wasm/examples).
var Examples = []string{"normalize", "dropports", "circuits", "errorbudget"}

// Module import paths.
const (
	examples = "github.com/meshtelemetry/telemetry/wasm/examples/"
	testdata = "github.com/meshtelemetry/telemetry/wasm/testdata/modules/"
)

type built struct {
	once sync.Once
	path string
	err  error
}

var (
	mu    sync.Mutex
	dir   string
	cache = map[string]*built{}
)

// Build builds the module name (an example, or a test module: noop, trap,
// loop, hog, badptr, badnames, veto, mark) and returns the .wasm file's path.
// ldflags, when given, is passed to -ldflags (mark: "-X main.Mark=v2").
// The file is shared by the tests of the process: copy it to change it.
func Build(tb testing.TB, name string, ldflags ...string) string {
	tb.Helper()
	p, err := build(name, strings.Join(ldflags, " "))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Copy builds the module name and copies it to dst.
func Copy(tb testing.TB, name, dst string, ldflags ...string) {
	tb.Helper()
	b, err := os.ReadFile(Build(tb, name, ldflags...))
	if err == nil {
		// write then rename: a watcher never reads half a file
		tmp := dst + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, dst)
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func build(name, ldflags string) (string, error) {
	key := name + "|" + ldflags
	mu.Lock()
	if dir == "" {
		d, err := os.MkdirTemp("", "telemetry-test-wasm-")
		if err != nil {
			mu.Unlock()
			return "", err
		}
		dir = d
	}
	b, ok := cache[key]
	if !ok {
		// one folder per build: the file is name.wasm (the module's default name)
		b = &built{path: filepath.Join(dir, fmt.Sprint(len(cache)), name+".wasm")}
		cache[key] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		pkg := testdata + name
		for _, e := range Examples {
			if e == name {
				pkg = examples + name
			}
		}
		if err := os.MkdirAll(filepath.Dir(b.path), 0o755); err != nil {
			b.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := []string{"build", "-buildmode=c-shared", "-o", b.path}
		if ldflags != "" {
			args = append(args, "-ldflags", ldflags)
		}
		cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s (GOOS=wasip1 GOARCH=wasm): %w\n%s", pkg, err, out)
		}
	})
	return b.path, b.err
}
