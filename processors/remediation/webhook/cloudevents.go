package webhook

import (
	"bytes"
	"encoding/json"
	"math"
	"time"

	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// ContentTypeCloudEvents is the content type of a structured-mode
// CloudEvents JSON body.
const ContentTypeCloudEvents = "application/cloudevents+json"

// TypePrefix starts every CloudEvents type: TypePrefix + state, e.g.
// io.meshtelemetry.remediation.firing.
const TypePrefix = "io.meshtelemetry.remediation."

// CloudEvent is a CloudEvents 1.0 event in JSON structured mode.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// Tenant is the event's tenant as a CloudEvents extension attribute
	// (absent in a single-tenant installation), so a router can filter on
	// it without reading the data.
	Tenant string    `json:"tenant,omitempty"`
	Data   EventData `json:"data"`
}

// EventData is the data of a remediation CloudEvent.
type EventData struct {
	EventID string `json:"event_id"`
	// Tenant of the event (absent in a single-tenant installation).
	Tenant    string   `json:"tenant,omitempty"`
	Rule      string   `json:"rule"`
	State     string   `json:"state"`
	Severity  string   `json:"severity"`
	Site      string   `json:"site,omitempty"`
	Device    string   `json:"device,omitempty"`
	Interface string   `json:"interface,omitempty"`
	DstSite   string   `json:"dst_site,omitempty"`
	DstDevice string   `json:"dst_device,omitempty"`
	KPI       string   `json:"kpi"`
	Value     *float64 `json:"value"`
	Threshold *float64 `json:"threshold"`
	// FiredAt: when the event first fired; WindowEnd: close of the KPI
	// window behind this transition (latency is measured from it).
	FiredAt   time.Time `json:"fired_at"`
	WindowEnd time.Time `json:"window_end"`
	Action    string    `json:"action,omitempty"`
	Message   string    `json:"message,omitempty"`
	// Payload is the rule's rendered action template: embedded as JSON when
	// it is valid JSON, as a string otherwise.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// DeliveryID is the idempotency key of a delivery: the event id and the
// state, stable across retries ("<event_id>.<state>"). It is the
// webhook-id header and the CloudEvents id.
func DeliveryID(ev *wirepb.RemediationEvent) string {
	return ev.GetEventId() + "." + rules.StateName(ev.GetState())
}

// Subject is the entity an event is about (the KPI key).
func Subject(ev *wirepb.RemediationEvent) string {
	if ev.GetSite() == "pipeline" && ev.GetInterface() == "" && ev.GetDstSite() == "" {
		return "pipeline/" + ev.GetDevice()
	}
	return rules.Labels{Site: ev.GetSite(), Device: ev.GetDevice(), Interface: ev.GetInterface(),
		DstSite: ev.GetDstSite(), DstDevice: ev.GetDstDevice(), Kind: rules.KindOf(ev.GetKpi())}.Entity()
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// NewCloudEvent builds the CloudEvent of one transition. payload is the
// rendered action template (may be nil).
func NewCloudEvent(ev *wirepb.RemediationEvent, source string, payload []byte) CloudEvent {
	e := rules.EventOf(ev)
	ce := CloudEvent{
		SpecVersion: "1.0", ID: DeliveryID(ev), Source: source, Type: TypePrefix + e.State,
		Subject: Subject(ev), Time: e.Time, DataContentType: "application/json", Tenant: e.Tenant,
		Data: EventData{EventID: e.ID, Tenant: e.Tenant, Rule: e.Rule, State: e.State, Severity: e.Severity,
			Site: e.Site, Device: e.Device, Interface: e.Interface, DstSite: e.DstSite, DstDevice: e.DstDevice,
			KPI: e.KPI, Value: finite(e.Value), Threshold: finite(e.Threshold),
			FiredAt: e.FiredAt, WindowEnd: e.WindowEnd, Action: e.Action, Message: e.Message},
	}
	if len(payload) > 0 {
		if json.Valid(payload) {
			ce.Data.Payload = json.RawMessage(payload)
		} else {
			b, _ := json.Marshal(string(payload))
			ce.Data.Payload = b
		}
	}
	return ce
}

// Encode marshals v as JSON without HTML escaping ("a>b" stays readable)
// and without a trailing newline.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
