package webhook

import (
	"net/http"
	"testing"
	"time"
)

// FuzzVerify: whatever a client sends, Verify does not panic; what Sign
// produces always verifies, and a flipped body byte never does.
func FuzzVerify(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("", "", "", []byte{})
	f.Add("id", "-1", "v1, v2,x v1,,,", []byte("x"))
	key, _ := ParseSecret(testSecret)
	now := time.Unix(1614265330, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		_ = Verify(key, h, body, now, time.Hour)
		if id == "" {
			return
		}
		h = http.Header{}
		SetHeaders(h, key, id, now, body)
		if h.Get(HeaderID) != id {
			return // header value normalisation (e.g. newlines): not ours to sign
		}
		if err := Verify(key, h, body, now, time.Minute); err != nil {
			t.Fatalf("signed request does not verify: %v", err)
		}
		bad := append([]byte{}, body...)
		bad = append(bad, 'x')
		if Verify(key, h, bad, now, time.Minute) == nil {
			t.Fatal("tampered body verifies")
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 {
			t.Fatalf("negative wait %v for %q", d, s)
		}
	})
}
