// Package names is the policy for the names the pipeline takes from
// configuration and from devices: sites, targets (devices), interfaces and
// probe peers. A name is refused when it is empty, longer than MaxLen
// bytes, not valid UTF-8, or holds a character that is invisible or
// controls how text is laid out: the C0 and C1 control characters (NUL,
// tab, CR, LF, ESC, DEL, NEL, ...), Unicode format characters (bidi
// overrides such as U+202E, zero-width spaces and joiners, the byte order
// mark), the line and paragraph separators U+2028 and U+2029, whitespace
// other than the ASCII space, a leading or trailing space, and the
// noncharacters U+FFFE and U+FFFF.
//
// Everything printable stays accepted, as devices send it: "Ethernet1/1",
// "ge-0/0/0.100", "Port-channel10", "et-0/0/1:2", "TenGigabitEthernet 0/1",
// "1/1/c1/1", "Zürich". Quotes, backslashes, commas and SQL or template
// syntax are printable and accepted too: the dashboards and the report
// are safe for any string (docs/dashboards.md), so this policy is not what
// keeps a name out of their SQL; it keeps names that display as something
// other than what they are out of the data.
package names

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest name in bytes.
const MaxLen = 256

// Check returns nil when s is an acceptable name, else an error saying
// what is wrong and where (the byte offset), with the offending character
// as a code point, never the raw character.
func Check(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > MaxLen {
		return fmt.Errorf("is %d bytes, at most %d", len(s), MaxLen)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x21 && c < 0x7f { // printable ASCII, the usual case
			i++
			continue
		}
		if c == ' ' {
			if i == 0 || i == len(s)-1 {
				return fmt.Errorf("has a leading or trailing space")
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("is not valid UTF-8 at byte %d", i)
		}
		if !allowed(r) {
			return fmt.Errorf("has %U at byte %d: control, invisible or layout characters are not allowed", r, i)
		}
		i += n
	}
	return nil
}

// Valid reports whether Check accepts s.
func Valid(s string) bool { return Check(s) == nil }

// allowed reports whether a non-ASCII-printable rune may appear in a name.
func allowed(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f: // C0 controls, DEL
		return false
	case unicode.Is(unicode.Cc, r), // C1 controls (NEL, CSI, ...)
		unicode.Is(unicode.Cf, r), // format: bidi overrides, zero-width, BOM, soft hyphen
		unicode.Is(unicode.Zl, r), // U+2028
		unicode.Is(unicode.Zp, r), // U+2029
		unicode.Is(unicode.Co, r), // private use: renders as anything
		unicode.IsSpace(r),        // whitespace other than ' ' (NBSP, U+3000, ...)
		unicode.Is(unicode.Zs, r),
		r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return true
}
