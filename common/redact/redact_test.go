package redact

import (
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://argocd.example/api/v1/applications/x/sync", "https://argocd.example/api/v1/applications/x/sync"},
		{"https://bot:s3cr3t@argocd.example/sync", "https://bot:xxxxx@argocd.example/sync"},
		{"https://ghp_tokenAsUser@github.example/hook", "https://xxxxx@github.example/hook"},
		{"https://h.example/hook?token=abc123&ref=main", "https://h.example/hook?token=xxxxx&ref=xxxxx"},
		{"https://h.example/hook?bare-token", "https://h.example/hook?xxxxx"},
		{"https://h.example/hook?a=1&&b", "https://h.example/hook?a=xxxxx&&xxxxx"},
		{"https://h.example/hook#frag-secret", "https://h.example/hook#xxxxx"},
		{"http://u:p@127.0.0.1:8080/x?sig=abc%2Fdef", "http://u:xxxxx@127.0.0.1:8080/x?sig=xxxxx"},
		// Not URLs, or not well-formed: masked by shape.
		{"https://u:pa ss@h.example/x", "https://xxxxx@h.example/x"},
		{"https://h.example:s3cret/x?token=t0k", "https://h.example:s3cret/x?token=xxxxx"},
		{"hook:s3cret@127.0.0.1/x", "xxxxx@127.0.0.1/x"},
		{"ftp://u:p@h/x?k=v", "ftp://u:xxxxx@h/x?k=xxxxx"},
		{"http://h/%zz?token=t0k", "http://h/%zz?token=xxxxx"},
		{"http://h/users/@me", "http://h/users/@me"},
		{"", ""},
		{"not a url", "not a url"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestURLSecretsAndText(t *testing.T) {
	raw := "https://bot:pw-s3cr3t@h.example/hook?token=tok%2Fen-123&x=1"
	secs := URLSecrets(raw)
	for _, want := range []string{"pw-s3cr3t", "tok%2Fen-123", "tok/en-123", "1"} {
		found := false
		for _, s := range secs {
			found = found || s == want
		}
		if !found {
			t.Errorf("URLSecrets(%q) = %q, missing %q", raw, secs, want)
		}
	}
	echo := `404 not found: /hook?token=tok/en-123&x=1 (password pw-s3cr3t)`
	got := Text(echo, secs)
	for _, s := range []string{"tok/en-123", "pw-s3cr3t"} {
		if strings.Contains(got, s) {
			t.Errorf("Text left %q in %q", s, got)
		}
	}
	if !strings.Contains(got, "x=1") {
		t.Errorf("Text masked a value shorter than MinSecret: %q", got)
	}
	// A string that is not a URL: its secrets are found by shape.
	bad := "https://u:pa ss-s3cr3t@h.example/x?token=t0k en"
	if got := Text("echo: "+bad, URLSecrets(bad)); strings.Contains(got, "pa ss-s3cr3t") || strings.Contains(got, "t0k en") {
		t.Errorf("Text(URLSecrets(%q)) = %q", bad, got)
	}
	if Text("abc", nil) != "abc" {
		t.Error("Text without secrets changed the text")
	}
}

// FuzzURL: whatever the input, URL does not panic; for a well-formed URL,
// a secret it masks (at least 8 bytes and free of URL delimiters, so it
// does not recur by chance) is not in the output unless it also appears in
// the parts URL shows (host, path, query keys, a user name beside a
// password). Strings masked by their
// shape are covered by TestURL.
func FuzzURL(f *testing.F) {
	f.Add("https://u:p4ssw0rd@h/x?token=s3cr3tvalue#fr4gment")
	f.Add("hook:s3cr3tvalue@h/x")
	f.Add("https://u:pa ss@h/x?token=s3cr3tvalue")
	f.Fuzz(func(t *testing.T, raw string) {
		got := URL(raw)
		u, err := url.Parse(raw)
		if err != nil || u.Opaque != "" || u.Host == "" {
			return
		}
		shown := u.Host + " " + (&url.URL{Host: u.Host}).String() + " " + u.Path + " " + u.EscapedPath()
		for _, p := range strings.Split(u.RawQuery, "&") {
			if k, _, ok := strings.Cut(p, "="); ok {
				shown += " " + k
			}
		}
		if _, ok := u.User.Password(); ok {
			shown += " " + u.User.String() // the user name is shown beside a masked password
		}
		for _, s := range URLSecrets(raw) {
			if len(s) >= 8 && !strings.ContainsAny(s, "#?@/:&= ") && strings.Contains(got, s) && !strings.Contains(shown, s) {
				t.Errorf("URL(%q) = %q shows %q", raw, got, s)
			}
		}
	})
}
