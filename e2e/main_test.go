package e2e

import (
	"testing"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// TestMain: a long suite (whole pipelines for seconds to minutes), skipped
// under -short.
func TestMain(m *testing.M) { testenv.Main(m, true) }
