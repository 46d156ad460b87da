package chlocal

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
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
