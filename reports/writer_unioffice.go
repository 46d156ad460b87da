//go:build unioffice

package reports

import (
	"log/slog"
	"os"

	"github.com/meshtelemetry/telemetry/reports/pptx"
	"github.com/meshtelemetry/telemetry/reports/unioffice"
)

// DefaultWriter is UniDoc's unioffice when UNIDOC_LICENSE_API_KEY is set
// (this binary was built with -tags unioffice), else the built-in
// standard-library writer.
func DefaultWriter(log *slog.Logger) Writer {
	if key := os.Getenv(unioffice.EnvKey); key != "" {
		return unioffice.Writer{Key: key}
	}
	if log != nil {
		log.Info("built with -tags unioffice but " + unioffice.EnvKey + " is not set: using the built-in writer")
	}
	return pptx.Writer{}
}
