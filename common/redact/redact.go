// Package redact hides secrets in what the pipeline prints: the user
// information and query values of URLs, and known secret strings wherever
// they are echoed (an error, a server's response). It is the one place
// that decides what of a URL may be shown: `telemetry config keys`, log
// lines, errors, dead-letter reasons and remediation event messages all go
// through it.
//
// The rule for a URL: scheme, host, port and path are shown; a password
// becomes Mask (user:xxxxx@), user information without a password (often a
// token: https://TOKEN@host) becomes Mask, every query value becomes Mask
// (?token=xxxxx&ref=xxxxx: the keys stay, so the shape can be checked) and
// so does a fragment. A secret carried in the path itself (the incoming
// webhooks of Slack, Discord or Teams) is not recognised: keep such a
// token in a header or the query instead.
package redact

import (
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a hidden value.
const Mask = "xxxxx"

// MinSecret is the length under which Text does not look for a secret:
// masking every "1" or "on" of a text would hide the text, not a secret.
const MinSecret = 4

// URL returns raw with its secrets masked (see the package comment). It
// never fails: a string that does not parse as a URL (an invalid webhook
// URL in an error message) is masked by its shape: whatever precedes an
// "@" in its authority, and whatever follows "?" or "#".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return byShape(raw)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
	}
	if u.RawQuery != "" {
		u.RawQuery = maskQuery(u.RawQuery)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = Mask, ""
	}
	return u.String()
}

// byShape masks a string that is not a well-formed URL.
func byShape(s string) string {
	p := cut(s)
	out := p.before
	if p.hasInfo {
		out += Mask + "@"
	}
	out += p.after
	if p.hasQuery {
		out += "?" + maskQuery(p.query)
	}
	if p.hasFragment {
		out += "#" + Mask
	}
	return out
}

// pieces are where a URL's parts would be in a string that is not a
// well-formed URL: before + [info "@"] + after ["?" query] ["#" fragment],
// info being the user information of the authority (after "//" when there
// is one, up to the first "/").
type pieces struct {
	before, info, after, query, fragment string
	hasInfo, hasQuery, hasFragment       bool
}

func cut(s string) pieces {
	var p pieces
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s, p.fragment, p.hasFragment = s[:i], s[i+1:], true
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s, p.query, p.hasQuery = s[:i], s[i+1:], true
	}
	start := 0
	if i := strings.Index(s, "//"); i >= 0 {
		start = i + 2
	}
	end := len(s)
	if i := strings.IndexByte(s[start:], '/'); i >= 0 {
		end = start + i
	}
	p.before, p.after = s, ""
	if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
		p.before, p.info, p.after, p.hasInfo = s[:start], s[start:start+at], s[start+at+1:], true
	}
	return p
}

// maskQuery masks every value of a raw query, keeping the keys; a part
// without "=" may itself be a token and is masked whole.
func maskQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if p == "" {
			continue
		}
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=" + Mask
		} else {
			parts[i] = Mask
		}
	}
	return strings.Join(parts, "&")
}

// URLSecrets returns what URL masks in raw — the password (or the user
// information without a password), the query values and the fragment —
// raw and unescaped, for Text to mask wherever they are echoed (a server
// that repeats the request URL in its error page).
func URLSecrets(raw string) []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		p := cut(raw)
		if p.hasInfo {
			_, pw, ok := strings.Cut(p.info, ":")
			if !ok {
				pw = p.info
			}
			add(pw, p.info)
		}
		addQuery(add, p.query)
		add(p.fragment)
		return out
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		} else {
			add(u.User.Username())
		}
	}
	addQuery(add, u.RawQuery)
	add(u.Fragment)
	return out
}

// addQuery adds every value of a raw query, raw and unescaped.
func addQuery(add func(...string), q string) {
	for _, p := range strings.Split(q, "&") {
		_, v, ok := strings.Cut(p, "=")
		if !ok {
			v = p
		}
		add(v)
		if uv, err := url.QueryUnescape(v); err == nil {
			add(uv)
		}
	}
}

// Text returns s with every occurrence of each secret of at least
// MinSecret bytes replaced by Mask, the longest first.
func Text(s string, secrets []string) string {
	if len(secrets) == 0 || s == "" {
		return s
	}
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range sorted {
		if len(sec) >= MinSecret {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}
