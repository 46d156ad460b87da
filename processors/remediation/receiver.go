package remediation

import (
	"log/slog"

	"github.com/meshtelemetry/telemetry/processors/remediation/webhook"
)

// Receiver is a local webhook endpoint (127.0.0.1) that verifies Standard
// Webhooks signatures and records deliveries, for the demo and tests. See
// webhook.Receiver: Start, URL, Stop, Listen, Deliveries, Received,
// Counts, Latencies, WaitFor.
type Receiver = webhook.Receiver

// Delivery is one delivery a Receiver accepted.
type Delivery = webhook.Delivery

// NewReceiver returns a Receiver verifying with secret ("whsec_<base64>";
// see GenerateSecret). Call Start to listen on 127.0.0.1:0.
func NewReceiver(secret string, logger *slog.Logger) *Receiver {
	return webhook.NewReceiver(secret, logger)
}

// GenerateSecret returns a new random "whsec_<base64>" webhook secret.
func GenerateSecret() string { return webhook.GenerateSecret() }
