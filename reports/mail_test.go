package reports

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/reports/internal/ooxmlcheck"
	"github.com/meshtelemetry/telemetry/reports/pptx"
)

// smtpServer is a minimal SMTP server on loopback: EHLO, STARTTLS, AUTH
// PLAIN, MAIL, RCPT, DATA, QUIT. It refuses AUTH before STARTTLS and
// records what it received.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	user     string
	password string

	mu       sync.Mutex
	authOK   bool
	tlsUsed  bool
	from     string
	rcpts    []string
	messages [][]byte
	wg       sync.WaitGroup
}

func newSMTPServer(t *testing.T, user, password string) (*smtpServer, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, user: user, password: password,
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s, caFile
}

func (s *smtpServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			s.session(c)
		}()
	}
}

func (s *smtpServer) session(conn net.Conn) {
	r := bufio.NewReader(conn)
	w := func(line string) { _, _ = io.WriteString(conn, line+"\r\n") }
	secure, authed := false, false
	w("220 127.0.0.1 ESMTP test")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			w("250-127.0.0.1")
			if !secure {
				w("250-STARTTLS")
			} else {
				w("250-AUTH PLAIN")
			}
			w("250 8BITMIME")
		case "STARTTLS":
			w("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, r, secure = tc, bufio.NewReader(tc), true
			s.mu.Lock()
			s.tlsUsed = true
			s.mu.Unlock()
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !secure || !strings.EqualFold(mech, "PLAIN") {
				w("538 encryption required")
				continue
			}
			dec, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(dec), "\x00")
			if len(parts) != 3 || parts[1] != s.user || parts[2] != s.password {
				w("535 authentication failed")
				continue
			}
			authed = true
			s.mu.Lock()
			s.authOK = true
			s.mu.Unlock()
			w("235 ok")
		case "MAIL":
			if !authed {
				w("530 authentication required")
				continue
			}
			s.mu.Lock()
			s.from = arg
			s.mu.Unlock()
			w("250 ok")
		case "RCPT":
			s.mu.Lock()
			s.rcpts = append(s.rcpts, arg)
			s.mu.Unlock()
			w("250 ok")
		case "DATA":
			w("354 end with .")
			var msg bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.messages = append(s.messages, msg.Bytes())
			s.mu.Unlock()
			w("250 queued")
		case "QUIT":
			w("221 bye")
			return
		default:
			w("502 unknown")
		}
	}
}

func smtpConfig(s *smtpServer, caFile string) SMTPConfiguration {
	host, port, _ := net.SplitHostPort(s.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	cfg := DefaultConfiguration().SMTP
	cfg.Host, cfg.Port, cfg.CAFile = host, p, caFile
	cfg.Username, cfg.Password = "reports", "s3cret"
	cfg.From = "telemetry@example.net"
	cfg.To = []string{"noc@example.net", "cto@example.net"}
	return cfg
}

// TestSendMailDeck delivers a real deck through STARTTLS + AUTH PLAIN and
// checks the attachment that arrives.
func TestSendMailDeck(t *testing.T) {
	srv, ca := newSMTPServer(t, "reports", "s3cret")
	cfg := smtpConfig(srv, ca)
	pwFile := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	cfg.Password, cfg.PasswordFile = "", pwFile

	var deckBuf bytes.Buffer
	d := emptyData()
	if err := pptx.Write(&deckBuf, Build(d)); err != nil {
		t.Fatal(err)
	}
	subjectSent := "Weekly report " + sampleWeek.String() + " — ✓"
	if err := SendMail(context.Background(), cfg, subjectSent, emailBody(d), FileName(sampleWeek), deckBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !srv.tlsUsed || !srv.authOK {
		t.Fatalf("tls %v auth %v", srv.tlsUsed, srv.authOK)
	}
	if !strings.HasPrefix(srv.from, "FROM:<telemetry@example.net>") || len(srv.rcpts) != 2 {
		t.Errorf("envelope from %q rcpts %q", srv.from, srv.rcpts)
	}
	if len(srv.messages) != 1 {
		t.Fatalf("%d messages", len(srv.messages))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(srv.messages[0]))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != subjectSent {
		t.Errorf("subject %q", subject)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var gotText, gotDeck bool
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			gotText = strings.Contains(string(body), sampleWeek.String())
		case pptx.ContentType:
			if p.FileName() != "telemetry-report-"+sampleWeek.String()+".pptx" {
				t.Errorf("attachment name %q", p.FileName())
			}
			if !bytes.Equal(body, deckBuf.Bytes()) {
				t.Errorf("attachment differs from the deck (%d vs %d bytes)", len(body), deckBuf.Len())
			}
			if err := ooxmlcheck.Check(body); err != nil {
				t.Errorf("attached deck invalid: %v", err)
			}
			gotDeck = true
		}
	}
	if !gotText || !gotDeck {
		t.Errorf("text part %v, deck attachment %v", gotText, gotDeck)
	}
}

func TestSendMailErrors(t *testing.T) {
	srv, ca := newSMTPServer(t, "reports", "s3cret")
	cfg := smtpConfig(srv, ca)
	cfg.Password = "wrong"
	err := SendMail(context.Background(), cfg, "s", "b", "f.pptx", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("wrong password: %v", err)
	}
	cfg = smtpConfig(srv, "") // system roots do not trust the test CA
	if err := SendMail(context.Background(), cfg, "s", "b", "f.pptx", []byte("x")); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func emptyData() *Data {
	d := &Data{Week: sampleWeek, Location: time.UTC, Start: sampleWeek.Start(time.UTC), End: sampleWeek.End(time.UTC),
		Generated: sampleNow, Scope: "All sites", Threshold: 0.8}
	nan := nans(1)[0]
	d.This = Summary{Availability: nan, UtilAvg: nan, UtilP95: nan, Loss: nan, LatencyAvg: nan, LatencyP95: nan}
	d.Last = d.This
	d.Trend = Trend{UtilAvg: nans(d.Hours()), UtilP95: nans(d.Hours()), LastUtilAvg: nans(d.Hours()), RTTAvg: nans(d.Hours()), LastRTTAvg: nans(d.Hours())}
	d.Notes = notes(d)
	return d
}
