package collector

import (
	"math"
	"strings"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// valKind is the type of a gNMI TypedValue.
type valKind uint8

const (
	valNone    valKind = iota
	valUint            // uint_val
	valInt             // int_val
	valDouble          // double_val, float_val
	valDecimal         // decimal_val: i digits, prec
	valText            // string_val, ascii_val
	valJSON            // json_val, json_ietf_val (b)
	valOther           // bool, bytes, leaf-list, any, proto bytes
)

// val is a decoded TypedValue, from the gNMI types or straight from the
// wire bytes. Text is in s (gNMI types) or b (wire bytes, raw set); it is
// only read, never kept.
type val struct {
	kind valKind
	raw  bool
	u    uint64
	i    int64
	f    float64
	prec uint32
	s    string
	b    []byte
}

// valOf converts a gNMI TypedValue.
func valOf(tv *gnmi.TypedValue) val {
	switch x := tv.GetValue().(type) {
	case *gnmi.TypedValue_UintVal:
		return val{kind: valUint, u: x.UintVal}
	case *gnmi.TypedValue_IntVal:
		return val{kind: valInt, i: x.IntVal}
	case *gnmi.TypedValue_DoubleVal:
		return val{kind: valDouble, f: x.DoubleVal}
	case *gnmi.TypedValue_FloatVal: //nolint:staticcheck // deprecated, still sent
		return val{kind: valDouble, f: float64(x.FloatVal)} //nolint:staticcheck
	case *gnmi.TypedValue_DecimalVal: //nolint:staticcheck
		return val{kind: valDecimal, i: x.DecimalVal.GetDigits(), prec: x.DecimalVal.GetPrecision()} //nolint:staticcheck
	case *gnmi.TypedValue_StringVal:
		return val{kind: valText, s: x.StringVal}
	case *gnmi.TypedValue_AsciiVal:
		return val{kind: valText, s: x.AsciiVal}
	case *gnmi.TypedValue_JsonVal:
		return val{kind: valJSON, raw: true, b: x.JsonVal}
	case *gnmi.TypedValue_JsonIetfVal:
		return val{kind: valJSON, raw: true, b: x.JsonIetfVal}
	case nil:
		return val{}
	}
	return val{kind: valOther}
}

// The value helpers return reason+1 on failure (0 = ok), so the zero value
// means success without a separate bool.

// uintOf reads a non-negative integer leaf.
func uintOf(v val, scale float64) (uint64, reason) {
	var x uint64
	switch v.kind {
	case valUint:
		x = v.u
	case valInt:
		if v.i < 0 {
			return 0, reasonNegative + 1
		}
		x = uint64(v.i)
	case valDouble, valDecimal:
		f, r := floatOf(v)
		if r != 0 {
			return 0, r
		}
		if f >= math.MaxUint64 {
			return 0, reasonOutOfRange + 1
		}
		x = uint64(f)
	case valText, valJSON:
		if v.raw {
			return parseUint(v.b, scale)
		}
		return parseUint(v.s, scale)
	default:
		return 0, reasonBadType + 1
	}
	return scaleUint(x, scale)
}

func scaleUint(x uint64, scale float64) (uint64, reason) {
	if scale != 1 {
		f := float64(x) * scale
		if f >= math.MaxUint64 {
			return 0, reasonOutOfRange + 1
		}
		x = uint64(f)
	}
	return x, 0
}

// unquote strips JSON quotes ("123" → 123).
func unquote[T string | []byte](s T) (T, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1], true
	}
	return s, false
}

// parseUint parses decimal digits (optionally JSON-quoted) without allocating.
func parseUint[T string | []byte](s T, scale float64) (uint64, reason) {
	s, _ = unquote(s)
	if len(s) == 0 {
		return 0, reasonBadValue + 1
	}
	if len(s) > 64 {
		return 0, reasonOversized + 1
	}
	if s[0] == '-' {
		return 0, reasonNegative + 1
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, reasonBadValue + 1
		}
		if v > math.MaxUint64/10 || (v == math.MaxUint64/10 && uint64(c-'0') > math.MaxUint64%10) {
			return 0, reasonOutOfRange + 1
		}
		v = v*10 + uint64(c-'0')
	}
	return scaleUint(v, scale)
}

// floatOf reads a finite, non-negative number.
func floatOf(v val) (float64, reason) {
	var f float64
	switch v.kind {
	case valDouble:
		f = v.f
	case valUint:
		f = float64(v.u)
	case valInt:
		f = float64(v.i)
	case valDecimal:
		if v.prec > 18 {
			return 0, reasonOutOfRange + 1
		}
		f = float64(v.i) / math.Pow10(int(v.prec))
	case valText, valJSON:
		if v.raw {
			return parseFloat(v.b)
		}
		return parseFloat(v.s)
	default:
		return 0, reasonBadType + 1
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, reasonNotFinite + 1
	}
	if f < 0 {
		return 0, reasonNegative + 1
	}
	return f, 0
}

// parseFloat parses a plain decimal number ("12", "12.5", quoted or not)
// without allocating; exponents are not accepted.
func parseFloat[T string | []byte](s T) (float64, reason) {
	s, _ = unquote(s)
	if len(s) == 0 {
		return 0, reasonBadValue + 1
	}
	if len(s) > 64 {
		return 0, reasonOversized + 1
	}
	if s[0] == '-' {
		return 0, reasonNegative + 1
	}
	var ip, fp uint64
	var fd int
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			if dot {
				if fd < 18 {
					fp = fp*10 + uint64(c-'0')
					fd++
				}
			} else {
				if ip > (math.MaxUint64-9)/10 {
					return 0, reasonOutOfRange + 1
				}
				ip = ip*10 + uint64(c-'0')
			}
		default:
			return 0, reasonBadValue + 1
		}
	}
	return float64(ip) + float64(fp)/math.Pow10(fd), 0
}

// operOf reads an oper-status (UP, "up", "openconfig-interfaces:UP", ...).
func operOf(v val) (wirepb.OperStatus, reason) {
	switch {
	case v.kind != valText && v.kind != valJSON:
		return 0, reasonBadType + 1
	case v.raw:
		return operName(v.b)
	}
	return operName(v.s)
}

func operName[T string | []byte](s T) (wirepb.OperStatus, reason) {
	s, _ = unquote(s)
	var buf [32]byte
	n, r := identity(s, buf[:])
	if r != 0 {
		return 0, r
	}
	x, ok := wirepb.OperStatus_value[string(buf[:n])]
	if !ok || x == 0 {
		return 0, reasonBadValue + 1
	}
	return wirepb.OperStatus(x), 0
}

// identity copies an identity name into buf, upper case, module prefix
// stripped; it returns the length.
func identity[T string | []byte](s T, buf []byte) (int, reason) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			s = s[i+1:]
			break
		}
	}
	if len(s) == 0 {
		return 0, reasonBadValue + 1
	}
	if len(s) > len(buf) {
		return 0, reasonOversized + 1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return len(s), 0
}

// speedOf reads a port speed: an identity SPEED_<n><MB|GB|TB> or a number
// times scale.
func speedOf(v val, scale float64) (uint64, reason) {
	switch {
	case v.kind == valText && v.raw:
		return speedName(v.b)
	case v.kind == valText:
		return speedName(v.s)
	case v.kind == valJSON && len(v.b) > 0 && v.b[0] == '"':
		return speedName(v.b)
	}
	return uintOf(v, scale)
}

func speedName[T string | []byte](s T) (uint64, reason) {
	s, _ = unquote(s)
	var buf [32]byte
	n, r := identity(s, buf[:])
	if r != 0 {
		return 0, r
	}
	b := buf[:n]
	if len(b) < 7 || string(b[:6]) != "SPEED_" {
		return 0, reasonBadValue + 1
	}
	b = b[6:]
	if string(b) == "UNKNOWN" {
		return 0, 0
	}
	var mult uint64
	switch string(b[len(b)-2:]) {
	case "MB":
		mult = 1e6
	case "GB":
		mult = 1e9
	case "TB":
		mult = 1e12
	default:
		return 0, reasonBadValue + 1
	}
	x, r := parseUint(b[:len(b)-2], 1)
	if r != 0 {
		return 0, r
	}
	if x > math.MaxUint64/mult {
		return 0, reasonOutOfRange + 1
	}
	return x * mult, 0
}

// lastClearOf reads last-clear: ns since the epoch, or an RFC 3339 string.
func lastClearOf(v val) (int64, reason) {
	if v.kind != valText {
		x, r := uintOf(v, 1)
		if r != 0 {
			return 0, r
		}
		if x > math.MaxInt64 {
			return 0, reasonOutOfRange + 1
		}
		return int64(x), 0
	}
	s := v.s
	if v.raw {
		if len(v.b) > 64 {
			return 0, reasonOversized + 1
		}
		s = string(v.b) // rare: timestamps as text
	}
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-T:") {
		x, r := parseUint(s, 1)
		if r != 0 {
			return 0, r
		}
		if x > math.MaxInt64 {
			return 0, reasonOutOfRange + 1
		}
		return int64(x), 0
	}
	if len(s) > 64 {
		return 0, reasonOversized + 1
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, reasonBadValue + 1
	}
	return t.UnixNano(), 0
}
