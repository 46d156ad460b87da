package security

import (
	"testing"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// TestMain: a long suite (real processes and brokers), skipped under -short.
func TestMain(m *testing.M) { testenv.Main(m, true) }
