package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func newWasmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wasm",
		Short: "Test WebAssembly edge processors before shipping them",
		Long: `WebAssembly edge processors run users' own logic in the collector (collect.wasm: a
batch of samples before Kafka) and in the processor (process.wasm: the KPIs of closed
windows). See docs/wasm.md for the ABI and wasm/guest for writing them in Go.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newWasmTestCmd())
	return cmd
}

// wasmTestOpts are the flags of 'telemetry wasm test'.
type wasmTestOpts struct {
	input, output, hook string
	batch               int
	mod                 wasm.ModuleConfig
	quiet               bool
}

func newWasmTestCmd() *cobra.Command {
	o := wasmTestOpts{}
	cmd := &cobra.Command{
		Use:   "test MODULE.wasm --input FILE",
		Short: "Run a module on recorded samples (or KPIs) and print what it did",
		Long: `Run a WebAssembly module on recorded samples (hook collect) or KPIs (hook process)
exactly as the collector or the processor would: same runtime, limits, self-check
(ABI version, an empty batch) and on-error policy. It prints, per batch and in all,
the records in, out, dropped, added and changed, each change as a field diff, and
the failures by reason (trap, timeout, memory, abi, module).

--input is JSON lines: one wire.proto Sample (or KPI) per line in protobuf's JSON
form, for example
  {"site":"site1","device":"site1-sw1","deviceTimeUnixNano":"1700000000000000000",
   "interface":{"interface":"GigabitEthernet0/0/1","counters":[{"counter":"IN_OCTETS","value":"42"}]}}
--output writes what the module passed on, in the same form.

The exit status is 1 when the module does not load or a call failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.mod.Path = args[0]
			return runWasmTest(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.input, "input", "", "recorded samples or KPIs, JSON lines (`FILE`, - for stdin; required)")
	f.StringVar(&o.output, "output", "", "write what the module passed on as JSON lines to `FILE`")
	f.StringVar(&o.hook, "hook", "collect", "the module's hook: collect (samples) or process (KPIs)")
	f.IntVar(&o.batch, "batch", 1000, "records per call")
	f.StringVar(&o.mod.OnError, "on-error", wasm.OnErrorPass, "what a failed call does to its batch: pass or drop")
	f.Int64Var(&o.mod.MemoryLimit, "memory-limit", wasm.DefaultMemoryLimit, "the module's memory cap, bytes")
	f.DurationVar(&o.mod.Timeout, "timeout", wasm.DefaultTimeout, "deadline of one call")
	f.StringSliceVar(&o.mod.Capabilities, "capability", nil, "grant a capability: clock, random (repeatable)")
	f.BoolVar(&o.quiet, "quiet", false, "print the summary only, not each change")
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

// record is one input or output record, as a message and as flat JSON
// fields (for the diff).
type record struct {
	key    string // matches an output record to its input
	label  string
	msg    proto.Message
	fields map[string]string
}

func runWasmTest(ctx context.Context, out io.Writer, o wasmTestOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	hook := wasm.HookPoint(o.hook)
	if hook != wasm.HookCollect && hook != wasm.HookProcess {
		return fmt.Errorf("--hook: %q is not collect or process", o.hook)
	}
	if o.batch < 1 {
		return errors.New("--batch: must be at least 1")
	}
	o.mod.WatchInterval = -1
	o.mod.Instances = 1
	in, err := readRecords(o.input, hook)
	if err != nil {
		return err
	}
	h, err := wasm.New(hook, []wasm.ModuleConfig{o.mod}, wasm.Dependencies{Reporter: component.NewReporter("wasm", nil, nil), Instances: 1})
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return fmt.Errorf("load %s: %w", o.mod.Path, err)
	}
	defer h.Stop()
	st := h.Stats()[0]
	fmt.Fprintf(out, "module %s (sha256 %s), hook %s, ABI %d: loaded, self-check passed\n", o.mod.Path, st.Version[:12], hook, wasm.ABIVersion)

	var (
		sc                               wasm.Scratch
		all                              []record
		tin, tout, tdrop, tadd, tchanged int
		encodeErrs                       int
	)
	for first := 0; first < len(in); first += o.batch {
		batch := in[first:min(first+o.batch, len(in))]
		before := h.Stats()[0]
		var got []record
		switch hook {
		case wasm.HookCollect:
			ss := make([]*wirepb.Sample, len(batch))
			for i, r := range batch {
				ss[i] = proto.Clone(r.msg).(*wirepb.Sample)
			}
			res, err := h.Samples(ctx, &sc, ss)
			if err != nil {
				encodeErrs++
				fmt.Fprintf(out, "batch %d: not encoded: %v\n", first/o.batch+1, err)
				continue
			}
			for _, s := range res {
				got = append(got, sampleRecord(s))
			}
		case wasm.HookProcess:
			ks := make([]*wirepb.KPI, len(batch))
			for i, r := range batch {
				ks[i] = proto.Clone(r.msg).(*wirepb.KPI)
			}
			for _, k := range h.KPIs(ctx, &sc, ks) {
				got = append(got, kpiRecord(k))
			}
		}
		after := h.Stats()[0]
		d := diffBatch(batch, got)
		fmt.Fprintf(out, "batch %d: %d in, %d out, %d dropped, %d added, %d changed, %s", first/o.batch+1,
			len(batch), len(got), len(d.dropped), len(d.added), len(d.changed), after.Time-before.Time)
		for _, r := range wasm.Reasons() {
			if n := after.Errors[r] - before.Errors[r]; n > 0 {
				fmt.Fprintf(out, ", FAILED: %s (on-error %s)", r, o.mod.OnError)
			}
		}
		fmt.Fprintln(out)
		if !o.quiet {
			for _, c := range d.changed {
				fmt.Fprintf(out, "  ~ %s\n", c)
			}
			for _, k := range d.dropped {
				fmt.Fprintf(out, "  - %s\n", k)
			}
			for _, k := range d.added {
				fmt.Fprintf(out, "  + %s\n", k)
			}
		}
		tin, tout, tdrop, tadd, tchanged = tin+len(batch), tout+len(got), tdrop+len(d.dropped), tadd+len(d.added), tchanged+len(d.changed)
		all = append(all, got...)
	}
	st = h.Stats()[0]
	var failed []string
	for _, r := range wasm.Reasons() {
		if n := st.Errors[r]; n > 0 {
			failed = append(failed, fmt.Sprintf("%s %d", r, n))
		}
	}
	errs := "none"
	if len(failed) > 0 {
		errs = strings.Join(failed, ", ")
	}
	fmt.Fprintf(out, "total: %d in, %d out, %d dropped, %d added, %d changed; %d calls, %s in the module; failed calls: %s\n",
		tin, tout, tdrop, tadd, tchanged, st.Calls, st.Time.Round(time.Microsecond), errs)
	if o.output != "" {
		if err := writeRecords(o.output, all); err != nil {
			return err
		}
	}
	if len(failed) > 0 || encodeErrs > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%s: failed calls: %s", o.mod.Path, errs)}
	}
	return nil
}

// readRecords reads JSON lines of Samples (collect) or KPIs (process).
func readRecords(path string, hook wasm.HookPoint) ([]record, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		defer f.Close()
		r = f
	}
	var out []record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" || strings.HasPrefix(b, "#") {
			continue
		}
		if hook == wasm.HookCollect {
			s := &wirepb.Sample{}
			if err := protojson.Unmarshal([]byte(b), s); err != nil {
				return nil, fmt.Errorf("--input line %d: not a Sample: %w", line, err)
			}
			s.Version = 1
			out = append(out, sampleRecord(s))
		} else {
			k := &wirepb.KPI{}
			if err := protojson.Unmarshal([]byte(b), k); err != nil {
				return nil, fmt.Errorf("--input line %d: not a KPI: %w", line, err)
			}
			k.Version = 1
			out = append(out, kpiRecord(k))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	return out, nil
}

func writeRecords(path string, rs []record) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, r := range rs {
		b, err := protojson.MarshalOptions{}.Marshal(r.msg)
		if err == nil {
			_, err = fmt.Fprintf(w, "%s\n", b)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("--output: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("--output: %w", err)
	}
	return f.Close()
}

// sampleRecord keys a sample by device and sequence number (the collector
// numbers every sample of a device): a module that renames an interface
// changes the sample, it does not replace it.
func sampleRecord(s *wirepb.Sample) record {
	what := "device"
	switch b := s.Body.(type) {
	case *wirepb.Sample_Interface:
		what = "interface " + b.Interface.GetInterface()
	case *wirepb.Sample_Probe:
		what = "probe " + b.Probe.GetPeerSite() + "/" + b.Probe.GetPeerDevice()
	}
	key := fmt.Sprintf("%s seq %d", s.Device, s.Seq)
	return record{key: key, label: key + " (" + what + ")", msg: s, fields: flatten(s)}
}

// kpiRecord keys a KPI by its id.
func kpiRecord(k *wirepb.KPI) record {
	return record{key: "KPI " + k.Id, label: "KPI " + k.Id, msg: k, fields: flatten(k)}
}

// flatten is m's JSON form as dotted paths → values.
func flatten(m proto.Message) map[string]string {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	out := map[string]string{}
	if err != nil {
		return out
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return out
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(join(prefix, k), e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		default:
			j, _ := json.Marshal(x)
			out[prefix] = string(j)
		}
	}
	walk("", v)
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// batchDiff is what a module did to a batch: keys of dropped and added
// records, and a line per changed one.
type batchDiff struct {
	dropped, added, changed []string
}

// diffBatch matches output to input records by key (a key seen twice is
// matched in order).
func diffBatch(in, out []record) batchDiff {
	byKey := map[string][]record{}
	for _, r := range in {
		byKey[r.key] = append(byKey[r.key], r)
	}
	var d batchDiff
	for _, o := range out {
		rs := byKey[o.key]
		if len(rs) == 0 {
			d.added = append(d.added, o.label)
			continue
		}
		i := rs[0]
		byKey[o.key] = rs[1:]
		if c := fieldDiff(i.fields, o.fields); c != "" {
			d.changed = append(d.changed, i.label+": "+c)
		}
	}
	for _, r := range in {
		if len(byKey[r.key]) > 0 {
			byKey[r.key] = byKey[r.key][1:]
			d.dropped = append(d.dropped, r.label)
		}
	}
	return d
}

// fieldDiff lists the fields that differ: "path: old → new".
func fieldDiff(a, b map[string]string) string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		if a[k] != b[k] {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		va, vb := a[k], b[k]
		if va == "" {
			va = "(none)"
		}
		if vb == "" {
			vb = "(none)"
		}
		parts[i] = fmt.Sprintf("%s: %s → %s", k, va, vb)
	}
	return strings.Join(parts, "; ")
}
