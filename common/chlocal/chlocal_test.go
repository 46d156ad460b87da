package chlocal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func query(t *testing.T, s *Server, q string) string {
	t.Helper()
	resp, err := http.Post("http://"+s.HTTPAddr+"/", "text/plain", strings.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", q, b)
	}
	return strings.TrimSpace(string(b))
}

func TestStartKillRestartKeepsData(t *testing.T) {
	if _, _, err := FindBinary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Start(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	query(t, s, "CREATE TABLE default.t (x UInt8) ENGINE = MergeTree ORDER BY x")
	query(t, s, "INSERT INTO default.t VALUES (7)")
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	s2, err := Start(ctx, dir, s)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if s2.TCPAddr != s.TCPAddr {
		t.Fatalf("restart moved ports: %s -> %s", s.TCPAddr, s2.TCPAddr)
	}
	if got := query(t, s2, "SELECT sum(x) FROM default.t"); got != "7" {
		t.Fatalf("data after restart = %q", got)
	}
}

func TestStartWithPasswordAndTLS(t *testing.T) {
	if _, _, err := FindBinary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	const password = "chlocal-test-pw"
	s, err := StartWith(context.Background(), filepath.Join(dir, "ch"), nil,
		Options{Password: password, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	users, _ := os.ReadFile(filepath.Join(s.Dir(), "users.xml"))
	if strings.Contains(string(users), password) || !strings.Contains(string(users), "password_sha256_hex") {
		t.Fatalf("users.xml should hold only the password's SHA-256:\n%s", users)
	}
	post := func(q, pw string) int {
		req, _ := http.NewRequest("POST", "http://"+s.HTTPAddr+"/?user=default&password="+pw, strings.NewReader(q))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("SELECT 1", ""); code == 200 {
		t.Fatal("query without the password succeeded")
	}
	if code := post("SELECT 1", password); code != 200 {
		t.Fatalf("query with the password: HTTP %d", code)
	}
	// The secure native port completes a TLS handshake with the certificate.
	c, err := tls.Dial("tcp", s.SecureTCPAddr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // handshake check only
	if err != nil {
		t.Fatalf("TLS handshake on %s: %v", s.SecureTCPAddr, err)
	}
	c.Close()
}

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
