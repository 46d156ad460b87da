package collector

import "github.com/meshtelemetry/telemetry/common/names"

// nameReason is the decode-error reason, plus one, of a captured interface
// or peer name the name policy (common/names) refuses: oversized beyond
// maxNameLen bytes, bad_name for a control, invisible or layout character;
// 0 when the name is accepted. Invalid UTF-8 is bad_value, checked before.
func nameReason(v string) reason {
	if len(v) > maxNameLen {
		return reasonOversized + 1
	}
	if names.Check(v) != nil {
		return reasonBadName + 1
	}
	return 0
}
