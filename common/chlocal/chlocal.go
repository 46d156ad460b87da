// Package chlocal starts a throw-away ClickHouse server from the
// `clickhouse-server` or `clickhouse` binary on PATH, in a temporary
// directory, listening on loopback only. The demo uses it when no
// --clickhouse address is given; tests use it to stop and restart a server
// of their own.
package chlocal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoBinary means neither clickhouse-server nor clickhouse is on PATH.
var ErrNoBinary = errors.New("no ClickHouse server binary on PATH: install one (Debian/Ubuntu: " +
	"`sudo apt-get install clickhouse-server`; elsewhere see https://clickhouse.com/docs/install) " +
	"or pass --clickhouse HOST:PORT")

// Server is a running local ClickHouse server.
type Server struct {
	dir      string
	bin      string
	args     []string
	TCPAddr  string // native protocol, 127.0.0.1:port
	HTTPAddr string // HTTP interface, 127.0.0.1:port
	// SecureTCPAddr is the native protocol over TLS (127.0.0.1:port), set
	// only when Options.CertFile is given.
	SecureTCPAddr string
	opts          Options
	cmd           *exec.Cmd
	done          chan error
}

// FindBinary returns the path of a ClickHouse server binary and the
// arguments that select the server mode.
func FindBinary() (string, []string, error) {
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil, nil
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return p, []string{"server"}, nil
	}
	return "", nil, ErrNoBinary
}

// Options harden a local server; the zero value is what Start uses (user
// default without a password, no TLS).
type Options struct {
	// Password of the user "default" ("" : none). users.xml keeps only its
	// SHA-256 (password_sha256_hex), never the password itself.
	Password string
	// CertFile and KeyFile (PEM paths) enable the native protocol over TLS
	// (tcp_port_secure, openSSL.server) on Server.SecureTCPAddr. The plain
	// native port stays open on loopback.
	CertFile string
	KeyFile  string
}

// Start starts a server with its data under dir (created if needed; reuse the
// same dir to restart a server with its data) on free loopback ports, or on
// the ports of a previous Server when prev is not nil.
func Start(ctx context.Context, dir string, prev *Server) (*Server, error) {
	var o Options
	if prev != nil {
		o = prev.opts
	}
	return StartWith(ctx, dir, prev, o)
}

// StartWith is Start with Options (password, TLS). When prev is not nil its
// ports, the secure one included, are reused.
func StartWith(ctx context.Context, dir string, prev *Server, o Options) (*Server, error) {
	bin, pre, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("chlocal: CertFile and KeyFile go together")
	}
	tcpPort, httpPort, securePort := 0, 0, 0
	if prev != nil {
		tcpPort, _ = portOf(prev.TCPAddr)
		httpPort, _ = portOf(prev.HTTPAddr)
		if prev.SecureTCPAddr != "" {
			securePort, _ = portOf(prev.SecureTCPAddr)
		}
	} else {
		if tcpPort, err = freePort(); err != nil {
			return nil, err
		}
		if httpPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if o.CertFile != "" && securePort == 0 {
		if securePort, err = freePort(); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("clickhouse dir: %w", err)
		}
	}
	cfg := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(cfg, []byte(configXMLWith(dir, tcpPort, httpPort, securePort, o)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(usersXMLWith(o.Password)), 0o600); err != nil {
		return nil, err
	}
	s := &Server{
		dir: dir, bin: bin, args: append(pre, "--config-file="+cfg),
		TCPAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)),
		HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		opts:     o,
		done:     make(chan error, 1),
	}
	if securePort != 0 {
		s.SecureTCPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(securePort))
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- s.cmd.Wait(); logf.Close() }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		_ = s.Kill()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			tail, _ := os.ReadFile(filepath.Join(s.dir, "log", "error.log"))
			return fmt.Errorf("clickhouse exited at start (%v): %s", err, lastLines(string(tail), 5))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get("http://" + s.HTTPAddr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("clickhouse did not answer on %s within %s", s.HTTPAddr, limit)
}

// Stop stops the server gracefully (SIGTERM, then SIGKILL after 20 s).
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(20 * time.Second):
		return s.Kill()
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		return errors.New("clickhouse did not exit after SIGKILL")
	}
	return nil
}

// Dir is the server's data directory.
func (s *Server) Dir() string { return s.dir }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// configXMLWith adds the secure native port and the openSSL server section
// to configXML when o names a certificate.
func configXMLWith(dir string, tcp, http, secure int, o Options) string {
	c := configXML(dir, tcp, http)
	if o.CertFile == "" {
		return c
	}
	tlsXML := fmt.Sprintf(`  <tcp_port_secure>%d</tcp_port_secure>
  <openSSL><server>
    <certificateFile>%s</certificateFile><privateKeyFile>%s</privateKeyFile>
    <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile>
    <cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
    <preferServerCiphers>true</preferServerCiphers>
  </server></openSSL>
`, secure, xmlEscape(o.CertFile), xmlEscape(o.KeyFile))
	return strings.Replace(c, "</yandex>\n", tlsXML+"</yandex>\n", 1)
}

// usersXMLWith is usersXML with the default user's password given as its
// SHA-256 (ClickHouse 18.16 and later accept password_sha256_hex).
func usersXMLWith(password string) string {
	if password == "" {
		return usersXML
	}
	sum := sha256.Sum256([]byte(password))
	return strings.Replace(usersXML, "<password></password>",
		"<password_sha256_hex>"+hex.EncodeToString(sum[:])+"</password_sha256_hex>", 1)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func configXML(dir string, tcp, http int) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/error.log</errorlog><size>10M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
`, dir, tcp, http)
}

const usersXML = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`
