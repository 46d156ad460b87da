package remediation

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// docTemplates returns the rule templates of the documentation: the rule
// example of docs/remediation.md (its YAML block with a template) and the
// rules of deploy/remediation/rules.example.yaml, each compiled as the
// engine compiles it.
func docTemplates(t *testing.T) map[string]*template.Template {
	t.Helper()
	out := map[string]*template.Template{}
	doc, err := os.ReadFile("../../docs/remediation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "template:") {
			continue
		}
		var rs []rules.Rule
		if err := yaml.Unmarshal([]byte(block), &rs); err != nil {
			t.Fatalf("docs/remediation.md: %v\n%s", err, block)
		}
		for _, r := range rs {
			tpl, err := r.CompileTemplate()
			if err != nil {
				t.Fatalf("docs/remediation.md: rule %s: %v", r.Name, err)
			}
			out["docs/remediation.md "+r.Name] = tpl
		}
	}
	b, err := os.ReadFile("../../deploy/remediation/rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Action.Template == "" {
			continue
		}
		tpl, err := r.CompileTemplate()
		if err != nil {
			t.Fatalf("rules.example.yaml: rule %s: %v", r.Name, err)
		}
		out["rules.example.yaml "+r.Name] = tpl
	}
	if _, ok := out["docs/remediation.md link-loss"]; !ok || len(out) < 2 {
		t.Fatalf("documented templates found: %d, the docs' link-loss example among them: %v", len(out), ok)
	}
	return out
}

// The documented templates (docs/remediation.md, the deploy example)
// render valid JSON whatever the names in the event: every name of the
// shared hostile corpus in every name field and in the message. (The
// former example wrote "{{.Site}}>{{.DstSite}}" into a JSON string: a
// quote or a backslash in a name broke the raw body.)
func TestDocumentedTemplatesRenderValidJSONForHostileNames(t *testing.T) {
	tpls := docTemplates(t)
	now := testenv.Now().UnixNano()
	render := func(tpl *template.Template, ev *wirepb.RemediationEvent) []byte {
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, rules.EventOf(ev)); err != nil {
			t.Fatalf("%s: %v", tpl.Name(), err)
		}
		return buf.Bytes()
	}
	for _, h := range testenv.HostileNames() {
		ev := &wirepb.RemediationEvent{EventId: rules.EventID("r", h.Value, now), Rule: "r", State: wirepb.EventState_FIRING,
			Severity: wirepb.Severity_CRITICAL, Site: h.Value, Device: h.Value, Interface: h.Value, DstSite: h.Value,
			DstDevice: h.Value, Kpi: "link.loss_ratio", Value: 0.5, Threshold: 0.01, Message: "breached on " + h.Value,
			TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: "gitops"}
		for name, tpl := range tpls {
			if out := render(tpl, ev); !json.Valid(out) {
				t.Errorf("%s with name %s: invalid JSON:\n%.300s", name, h.Label, out)
			}
		}
	}
	// The corpus has teeth: the former example's form breaks on it.
	old := template.Must(template.New("old").Funcs(rules.TemplateFuncs()).
		Parse(`{"link": "{{.Site}}>{{.DstSite}}", "reason": {{json .Message}}}`))
	broken := 0
	for _, h := range testenv.HostileNames() {
		ev := &wirepb.RemediationEvent{Site: h.Value, DstSite: "lon", Message: "m", TimeUnixNano: time.Now().UnixNano()}
		if !json.Valid(render(old, ev)) {
			broken++
		}
	}
	if broken == 0 {
		t.Error("no hostile name breaks the unencoded form: the corpus proves nothing")
	}
}
