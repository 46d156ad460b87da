package security

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshtelemetry/telemetry/processors/remediation"
)

// TestWebhookStringHidesURLPassword: remediation.Webhook's String (used
// whenever a webhook is printed with %v, e.g. in a log attribute, an error
// or `telemetry config keys`) shows the URL masked by common/redact — no
// password, no user information standing for a token, no query value —
// as it hides the inline secret and the header values.
func TestWebhookStringHidesURLPassword(t *testing.T) {
	for _, w := range []remediation.Webhook{
		{Name: "argocd", URL: "https://bot:s3cr3t-url-pw@argocd.example/api/v1/applications/x/sync?token=s3cr3t-query-token",
			Secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNDU2", Headers: map[string]string{"Authorization": "Bearer hdr-token"}},
		{Name: "gitlab", URL: "https://glpat-s3cr3t-user-token@gitlab.example/hook?private_token=s3cr3t-query-token#s3cr3t-fragment"},
	} {
		s := fmt.Sprint(w)
		for _, secret := range []string{"s3cr3t-url-pw", "s3cr3t-query-token", "s3cr3t-user-token", "s3cr3t-fragment",
			"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNDU2", "hdr-token"} {
			if strings.Contains(s, secret) {
				t.Errorf("fmt.Sprint(remediation.Webhook) shows a secret (%.8s…): %s", secret, s)
			}
		}
		if !strings.Contains(s, "token=xxxxx") {
			t.Errorf("fmt.Sprint(remediation.Webhook) = %s, want the query's keys shown with masked values", s)
		}
	}
}
