package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
)

// TestWasmCLITest: 'telemetry wasm test' runs a module on recorded samples
// and prints what it did, per sample; a failing module exits 1.
func TestWasmCLITest(t *testing.T) {
	input := filepath.Join("..", "..", "wasm", "testdata", "samples.jsonl")
	output := filepath.Join(t.TempDir(), "out.jsonl")
	var out bytes.Buffer
	o := wasmTestOpts{input: input, output: output, hook: "collect", batch: 4,
		mod: wasm.ModuleConfig{Path: wasmtest.Build(t, "dropports"), OnError: wasm.OnErrorPass, MemoryLimit: wasm.DefaultMemoryLimit, Timeout: wasm.DefaultTimeout}}
	if err := runWasmTest(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"self-check passed",
		"batch 1: 4 in, 2 out, 2 dropped, 0 added, 0 changed",
		"  - site1-sw1 seq 3 (interface Management1)",
		"batch 2: 2 in, 2 out, 0 dropped",
		"total: 6 in, 4 out, 2 dropped, 0 added, 0 changed; 2 calls",
		"failed calls: none",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(output)
	if err != nil || strings.Count(string(b), "\n") != 4 || strings.Contains(string(b), "Management1") {
		t.Errorf("--output: %v\n%s", err, b)
	}

	out.Reset()
	o.mod.Path = wasmtest.Build(t, "normalize")
	o.output = ""
	if err := runWasmTest(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	if want := `~ site1-sw1 seq 1 (interface GigabitEthernet0/0/1): interface.interface: "GigabitEthernet0/0/1" → "eth0/0/1"`; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}

	out.Reset()
	o.mod.Path = wasmtest.Build(t, "trap")
	err = runWasmTest(context.Background(), &out, o)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out.String(), "FAILED: trap (on-error pass)") {
		t.Errorf("a trapping module: %v\n%s", err, out.String())
	}
}
