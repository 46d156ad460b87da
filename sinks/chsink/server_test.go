package chsink

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/meshtelemetry/telemetry/common/chlocal"
)

// privateServer is a clickhouse-server of the test's own (common/chlocal,
// in t.TempDir()), so it can be killed and restarted without disturbing the
// shared one.
type privateServer struct {
	t   testing.TB
	dir string
	srv *chlocal.Server
}

// startPrivateServer starts clickhouse-server from PATH; it skips (fails in
// CI) when the binary is missing.
func startPrivateServer(t testing.TB) *privateServer {
	t.Helper()
	if _, _, err := chlocal.FindBinary(); err != nil {
		if os.Getenv("CI") != "" && errors.Is(err, chlocal.ErrNoBinary) {
			t.Fatalf("no ClickHouse server binary on PATH but CI is set (run scripts/services.sh)")
		}
		t.Skip(err)
	}
	s := &privateServer{t: t, dir: t.TempDir()}
	s.start()
	t.Cleanup(func() { _ = s.srv.Kill() })
	return s
}

// addr is the native-protocol address; it stays the same across restarts.
func (s *privateServer) addr() string { return s.srv.TCPAddr }

// start runs the server (again, on the same ports and data) and waits
// until it accepts queries.
func (s *privateServer) start() {
	s.t.Helper()
	srv, err := chlocal.Start(context.Background(), s.dir, s.srv)
	if err != nil {
		s.t.Fatalf("private clickhouse-server: %v", err)
	}
	s.srv = srv
}

// kill stops the server hard (SIGKILL, like a crash) and waits for it.
func (s *privateServer) kill() {
	if err := s.srv.Kill(); err != nil {
		s.t.Errorf("kill private clickhouse-server: %v", err)
	}
}
