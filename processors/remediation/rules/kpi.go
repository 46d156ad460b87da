package rules

import (
	"encoding/json"
	"slices"
	"strings"
	"text/template"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// extractor reads one KPI field; ok is false when the KPI is another kind.
type extractor func(k *wirepb.KPI) (v float64, ok bool)

// kinds are the KPI kinds rules know: the name in rules and the body of
// that kind, nil when the KPI is another kind. A numeric field added to one
// of these messages in wire.proto is a rule KPI with no change here.
var kinds = []struct {
	name string
	body func(*wirepb.KPI) protoreflect.Message
	desc protoreflect.MessageDescriptor
}{
	{"interface", func(k *wirepb.KPI) protoreflect.Message { return msgOf(k.GetInterface()) }, (&wirepb.InterfaceKPI{}).ProtoReflect().Descriptor()},
	{"link", func(k *wirepb.KPI) protoreflect.Message { return msgOf(k.GetLink()) }, (&wirepb.LinkKPI{}).ProtoReflect().Descriptor()},
	{"pipeline", func(k *wirepb.KPI) protoreflect.Message { return msgOf(k.GetPipeline()) }, (&wirepb.PipelineKPI{}).ProtoReflect().Descriptor()},
	{"device", func(k *wirepb.KPI) protoreflect.Message { return msgOf(k.GetDeviceKpi()) }, (&wirepb.DeviceKPI{}).ProtoReflect().Descriptor()},
}

// msgOf is m's reflection, nil for a nil message.
func msgOf[M interface {
	*wirepb.InterfaceKPI | *wirepb.LinkKPI | *wirepb.PipelineKPI | *wirepb.DeviceKPI
	ProtoReflect() protoreflect.Message
}](m M) protoreflect.Message {
	if m == nil {
		return nil
	}
	return m.ProtoReflect()
}

// fields maps every KPI name a rule may watch to its extractor: every
// numeric field of a KPI kind's message in wire.proto is "<kind>.<field>"
// (a field added there is a rule KPI with no change here), plus the
// derived ones below.
var fields = func() map[string]extractor {
	m := map[string]extractor{}
	for _, kd := range kinds {
		for j := 0; j < kd.desc.Fields().Len(); j++ {
			if f := kd.desc.Fields().Get(j); numeric(f) {
				m[kd.name+"."+string(f.Name())] = reflectField(kd.body, f)
			}
		}
	}
	// 1 when the interface is operationally down (any status but UP), else 0.
	m["interface.oper_down"] = func(k *wirepb.KPI) (float64, bool) {
		b := k.GetInterface()
		if b == nil {
			return 0, false
		}
		if s := b.GetOperStatus(); s != wirepb.OperStatus_UP && s != wirepb.OperStatus_OPER_STATUS_UNSPECIFIED {
			return 1, true
		}
		return 0, true
	}
	return m
}()

func numeric(f protoreflect.FieldDescriptor) bool {
	if f.IsList() || f.IsMap() {
		return false
	}
	switch f.Kind() {
	case protoreflect.DoubleKind, protoreflect.FloatKind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind,
		protoreflect.Sint32Kind, protoreflect.Sint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return true
	}
	return false
}

// reflectField reads field f of the body that body returns.
func reflectField(body func(*wirepb.KPI) protoreflect.Message, f protoreflect.FieldDescriptor) extractor {
	return func(k *wirepb.KPI) (float64, bool) {
		b := body(k)
		if b == nil {
			return 0, false
		}
		v := b.Get(f)
		switch f.Kind() {
		case protoreflect.DoubleKind, protoreflect.FloatKind:
			return v.Float(), true
		case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
			return float64(v.Uint()), true
		}
		return float64(v.Int()), true
	}
}

// Field returns the extractor of a KPI name.
func Field(name string) (extractor, bool) {
	f, ok := fields[name]
	return f, ok
}

// KPINames lists the KPI names rules may watch, sorted.
func KPINames() []string {
	out := make([]string, 0, len(fields))
	for k := range fields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// KindOf is the kind of a KPI name: "device" for "device.reachable".
func KindOf(kpi string) string {
	kind, _, _ := strings.Cut(kpi, ".")
	return kind
}

// fieldsOf lists the KPI names of one kind, sorted.
func fieldsOf(kind string) []string {
	var out []string
	for _, n := range KPINames() {
		if KindOf(n) == kind {
			out = append(out, n)
		}
	}
	return out
}

// Labels are an entity's identifying labels. Kind is the KPI kind
// (interface, link, pipeline, device); only device entities need it, the
// others are told apart by their labels.
type Labels struct {
	Site, Device, Interface, DstSite, DstDevice, Instance string
	Kind                                                  string
}

// LabelsOf returns the labels of the entity a KPI describes.
func LabelsOf(k *wirepb.KPI) Labels {
	l := Labels{Site: k.GetSite(), Device: k.GetDevice()}
	switch b := k.GetBody().(type) {
	case *wirepb.KPI_Interface:
		l.Interface, l.Kind = b.Interface.GetInterface(), "interface"
	case *wirepb.KPI_Link:
		l.DstSite, l.DstDevice, l.Kind = b.Link.GetDstSite(), b.Link.GetDstDevice(), "link"
	case *wirepb.KPI_Pipeline:
		l.Instance, l.Kind = b.Pipeline.GetInstance(), "pipeline"
	case *wirepb.KPI_DeviceKpi:
		l.Kind = "device"
	}
	return l
}

// Entity is the entity's key, the same as the KPI's Kafka key:
// "site/device/interface", "site/device>dst_site/dst_device",
// "pipeline/instance" or, for a device (Kind "device"), "site/device".
func (l Labels) Entity() string {
	switch {
	case l.Kind == "device":
		return l.Site + "/" + l.Device
	case l.Instance != "":
		return "pipeline/" + l.Instance
	case l.DstSite != "" || l.DstDevice != "":
		return l.Site + "/" + l.Device + ">" + l.DstSite + "/" + l.DstDevice
	default:
		return l.Site + "/" + l.Device + "/" + l.Interface
	}
}

// Event is the view of a remediation event that payload templates see,
// e.g. {{.Rule}} on {{.Device}}: {{.KPI}}={{printf "%.3f" .Value}}.
type Event struct {
	ID, Rule, State, Severity string
	// Tenant of the event (empty in a single-tenant installation).
	Tenant                                      string
	Site, Device, Interface, DstSite, DstDevice string
	KPI                                         string
	Value, Threshold                            float64
	FiredAt, WindowEnd, Time                    time.Time
	Action, Message                             string
	Attempt                                     uint32
}

// EventOf converts a wire event to the template view.
func EventOf(e *wirepb.RemediationEvent) Event {
	ts := func(n int64) time.Time {
		if n == 0 {
			return time.Time{}
		}
		return time.Unix(0, n).UTC()
	}
	return Event{
		ID: e.GetEventId(), Rule: e.GetRule(), State: StateName(e.GetState()), Severity: SeverityName(e.GetSeverity()),
		Tenant: e.GetTenant(),
		Site:   e.GetSite(), Device: e.GetDevice(), Interface: e.GetInterface(), DstSite: e.GetDstSite(), DstDevice: e.GetDstDevice(),
		KPI: e.GetKpi(), Value: e.GetValue(), Threshold: e.GetThreshold(),
		FiredAt: ts(e.GetFiredUnixNano()), WindowEnd: ts(e.GetWindowEndUnixNano()), Time: ts(e.GetTimeUnixNano()),
		Action: e.GetAction(), Message: e.GetMessage(), Attempt: e.GetAttempt(),
	}
}

// SampleEvent is a filled-in event used to check templates at load time.
func SampleEvent() Event {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Event{ID: "0123456789abcdef0123456789abcdef", Rule: "sample", State: "firing", Severity: "warning", Tenant: "acme",
		Site: "par", Device: "par-leaf1", Interface: "Ethernet1", DstSite: "lon", DstDevice: "lon-leaf1",
		KPI: "link.loss_ratio", Value: 0.05, Threshold: 0.01, FiredAt: t, WindowEnd: t, Time: t,
		Action: "sample", Message: "sample", Attempt: 1}
}

// StateName is the lower-case name of a lifecycle state ("firing", ...),
// as stored in ClickHouse and used in CloudEvents types.
func StateName(s wirepb.EventState) string {
	if s == wirepb.EventState_EVENT_STATE_UNSPECIFIED {
		return "unspecified"
	}
	return strings.ToLower(s.String())
}

// SeverityName is the lower-case name of a severity.
func SeverityName(s wirepb.Severity) string {
	if s == wirepb.Severity_SEVERITY_UNSPECIFIED {
		return "unspecified"
	}
	return strings.ToLower(s.String())
}

// ParseSeverity maps info/warning/critical to the wire enum.
func ParseSeverity(s string) wirepb.Severity {
	switch s {
	case "info":
		return wirepb.Severity_INFO
	case "critical":
		return wirepb.Severity_CRITICAL
	default:
		return wirepb.Severity_WARNING
	}
}

// TemplateFuncs are the functions payload templates may call besides the
// text/template built-ins: json (JSON-encode a value, e.g. a string with
// quotes escaped), lower, upper, replace (strings.ReplaceAll), rfc3339.
func TemplateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"lower":   strings.ToLower,
		"upper":   strings.ToUpper,
		"replace": strings.ReplaceAll,
		"rfc3339": func(t time.Time) string { return t.Format(time.RFC3339Nano) },
	}
}
