package collector

import (
	"strings"
	"unicode/utf8"
)

// Deprecated string paths. Before gNMI 0.4 a Path was a list of strings
// (Path.element), a list entry written with its keys in brackets:
//
//	element: "interfaces"
//	element: "interface[name=Ethernet1/2/3]"
//	element: "state"
//
// Older devices still send them, and so does openconfig's fake agent
// (github.com/openconfig/gnmi/testing/fake). They are decoded into the same
// samples as the PathElem form: an element is a name followed by zero or
// more [key=value] groups, and a backslash makes the next character literal
// anywhere in it (`name=a\]b` is the value `a]b`), the convention of ygot's
// string paths (ygot.StringToPath). Neither the gnmi module nor a dependency
// of ours parses one element string into a name and keys (gnmi/path only
// joins paths into strings, and ygot is not a dependency), hence this file.
//
// A Path holding both forms is read from its elems, as gnmi/path does. The
// prefix and the update path of a notification may use different forms.
//
// An element that does not parse (an unterminated bracket, a `]` that
// closes nothing, a key without `=` or without a name, text after the last
// `]`, a dangling backslash) is counted as legacy_path. A key given twice counts its last value, as a
// repeated map entry does on the wire.

// splitElement takes the deprecated path element s apart: its name
// (unescaped) and its key groups (as sent, see nextKey). ok is false when
// s is malformed.
func splitElement(s string) (name, keys string, ok bool) {
	i := 0
	for i < len(s) && s[i] != '[' {
		switch s[i] {
		case ']':
			return "", "", false // closes nothing
		case '\\':
			i++
			if i == len(s) {
				return "", "", false // dangling escape
			}
		}
		i++
	}
	name, keys = unescape(s[:i]), s[i:]
	if keys == "" {
		return name, "", true
	}
	if name == "" {
		return "", "", false // keys of nothing
	}
	for rest := keys; rest != ""; {
		var bad bool
		if _, _, rest, bad = nextKey(rest); bad {
			return "", "", false
		}
	}
	return name, keys, true
}

// nextKey takes the first [key=value] group off keys (the keys of an
// element, from splitElement); k and v keep their escapes. bad: keys does
// not start with a well-formed group.
func nextKey(keys string) (k, v, rest string, bad bool) {
	if keys == "" || keys[0] != '[' {
		return "", "", "", true // text after the last ]
	}
	i := 1
	for ; i < len(keys) && keys[i] != '=' && keys[i] != ']'; i++ {
		if keys[i] == '\\' {
			i++
		}
	}
	if i >= len(keys) || keys[i] != '=' || i == 1 {
		return "", "", "", true // no '=', or no key name
	}
	k = keys[1:i]
	j := i + 1
	for ; j < len(keys) && keys[j] != ']'; j++ {
		if keys[j] == '\\' {
			j++
		}
	}
	if j >= len(keys) {
		return "", "", "", true // unterminated, or a dangling escape
	}
	return k, keys[i+1 : j], keys[j+1:], false
}

// unescape removes the backslashes of s (each makes the next character
// literal); s must not end with a lone backslash. No copy without one.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// keyValue is the value of key in the well-formed key groups keys (the
// last one when given twice), unescaped.
func keyValue(keys, key string) (v string, found bool) {
	for keys != "" {
		k, kv, rest, _ := nextKey(keys)
		keys = rest
		if k == key || (strings.IndexByte(k, '\\') >= 0 && unescape(k) == key) {
			v, found = kv, true
		}
	}
	return unescape(v), found
}

// stripModule drops the YANG module prefix of an element name
// (openconfig-interfaces:interfaces).
func stripModule(name string) string {
	if j := strings.IndexByte(name, ':'); j >= 0 {
		return name[j+1:]
	}
	return name
}

// elements advances w over the deprecated string elements els; it returns
// reason+1 on failure, as elems does.
func (w *walk) elements(els []string) reason {
	for _, s := range els {
		if r := w.element(s); r != 0 {
			return r
		}
	}
	return 0
}

// element advances w over one deprecated string element.
func (w *walk) element(s string) reason {
	name, keys, ok := splitElement(s)
	if !ok {
		return reasonLegacyPath + 1
	}
	w.nd = w.nd.children[stripModule(name)]
	if w.nd == nil {
		return reasonUnknownPath + 1
	}
	for _, c := range w.nd.caps {
		v, found := keyValue(keys, c.key)
		if !found || v == "" {
			return reasonMissingKey + 1
		}
		if len(v) > maxNameLen {
			return reasonOversized + 1
		}
		if !utf8.ValidString(v) { // only from the wire bytes: proto.Unmarshal checks strings
			return reasonBadValue + 1
		}
		if r := nameReason(v); r != 0 {
			return r
		}
		w.capture(c.v, v)
	}
	return 0
}

// capture stores the value v of capture variable cv.
func (w *walk) capture(cv uint8, v string) {
	switch cv {
	case capInterface:
		w.iface = v
	case capPeerSite:
		w.peerSite = v
	case capPeerDevice:
		w.peerDevice = v
	}
}
