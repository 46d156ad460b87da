package security

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/meshtelemetry/telemetry/common/chlocal"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// startClickHouse starts a private clickhouse-server (the binary on PATH)
// with o, killed on cleanup.
func startClickHouse(t *testing.T, o chlocal.Options) *chlocal.Server {
	t.Helper()
	if _, _, err := chlocal.FindBinary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := chlocal.StartWith(ctx, filepath.Join(t.TempDir(), "ch"), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Kill() })
	return s
}

// startSecureClickHouse starts a private clickhouse-server whose default
// user has password and whose native protocol also listens over TLS with
// p's certificate.
func startSecureClickHouse(t *testing.T, p pki, password string) *chlocal.Server {
	t.Helper()
	s := startClickHouse(t, chlocal.Options{Password: password, CertFile: p.CertFile, KeyFile: p.KeyFile})
	users, err := os.ReadFile(filepath.Join(s.Dir(), "users.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(users), password) {
		t.Fatal("users.xml holds the password in clear; want password_sha256_hex only")
	}
	return s
}

func chConfig(addr string) chsink.Configuration {
	c := chsink.DefaultConfiguration()
	c.Addresses = []string{addr}
	c.Database = "telemetry_security"
	c.DialTimeout = 3 * time.Second
	return c
}

func TestClickHouseTLSAndPassword(t *testing.T) {
	p := newPKI(t, "clickhouse")
	password := randomSecret(t, "ch-pw")
	s := startSecureClickHouse(t, p, password)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cfg := chConfig(s.SecureTCPAddr)
	cfg.TLS = chsink.TLS{Enable: true, CAFile: p.CAFile}
	cfg.PasswordFile = writeSecret(t, "ch.pw", password)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := chsink.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open over TLS with password-file: %v", err)
	}
	caps, err := chsink.Migrate(ctx, conn, cfg, nil)
	if err != nil {
		t.Fatalf("migrate over TLS: %v", err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = 'telemetry_security'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("migrate over TLS created no table")
	}
	_ = conn.Close()
	t.Logf("migrated over TLS (server %s): %d tables", caps.Version, n)

	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.PasswordFile = ""
		bad.Password = password + "x"
		_, err := chsink.Open(ctx, bad)
		var ex *chgo.Exception
		if !errors.As(err, &ex) || ex.Code != 193 && ex.Code != 516 { // WRONG_PASSWORD; AUTHENTICATION_FAILED on newer servers
			t.Fatalf("want a ClickHouse wrong-password exception, got %v", err)
		}
		if strings.Contains(err.Error(), bad.Password) {
			t.Fatalf("the error contains the password: %v", err)
		}
		t.Logf("wrong password: %v", err)
	})
	t.Run("no password", func(t *testing.T) {
		bad := cfg
		bad.PasswordFile = ""
		if _, err := chsink.Open(ctx, bad); err == nil {
			t.Fatal("connected without the password")
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		bad := cfg
		bad.TLS.CAFile = newPKI(t, "other").CAFile
		_, err := chsink.Open(ctx, bad)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("want an unknown-authority error, got %v", err)
		}
		t.Logf("unknown CA: %v", err)
	})
	t.Run("password over the plain port", func(t *testing.T) {
		// The plain native port stays open on loopback; the password is
		// still required there.
		plain := chConfig(s.TCPAddr)
		plain.Password = password
		conn, err := chsink.Open(ctx, plain)
		if err != nil {
			t.Fatalf("plain port with password: %v", err)
		}
		_ = conn.Close()
		plain.Password = ""
		if _, err := chsink.Open(ctx, plain); err == nil {
			t.Fatal("plain port without password connected")
		}
	})
}
