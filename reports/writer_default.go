//go:build !unioffice

package reports

import (
	"log/slog"

	"github.com/meshtelemetry/telemetry/reports/pptx"
)

// DefaultWriter is the standard-library PresentationML writer. (Built with
// -tags unioffice, the UniDoc writer is chosen when UNIDOC_LICENSE_API_KEY
// is set.)
func DefaultWriter(_ *slog.Logger) Writer { return pptx.Writer{} }
