package security

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/chlocal"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

func TestDefaultsAreLoopback(t *testing.T) {
	if l := daemon.DefaultConfiguration().Listen; !daemon.IsLoopback(l) || l != "127.0.0.1:9464" {
		t.Fatalf("daemon default listen = %q, want 127.0.0.1:9464", l)
	}
	for _, b := range kafka.DefaultConfiguration().Brokers {
		if !daemon.IsLoopback(b) {
			t.Errorf("kafka default broker %q is not loopback", b)
		}
	}
	for _, a := range chsink.DefaultConfiguration().Addresses {
		if !daemon.IsLoopback(a) {
			t.Errorf("clickhouse default address %q is not loopback", a)
		}
	}
}

// listeners returns the local addresses of the TCP sockets pid listens on
// (its socket inodes matched against /proc/<pid>/net/tcp and tcp6).
func listeners(t *testing.T, pid int) []net.TCPAddr {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("list fds: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []net.TCPAddr
	for _, file := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			hostHex, portHex, _ := strings.Cut(fields[1], ":")
			raw, err := hex.DecodeString(hostHex)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+4 <= len(raw); i += 4 { // each 32-bit word is little-endian
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			port, _ := strconv.ParseUint(portHex, 16, 16)
			out = append(out, net.TCPAddr{IP: net.IP(raw), Port: int(port)})
		}
		f.Close()
	}
	return out
}

// TestSubcommandsListenOnLoopbackOnly runs every long-running subcommand
// with the built-in defaults (no config file; only the Kafka brokers and
// the ClickHouse address it connects to are set) and
// checks every TCP socket it listens on is bound to loopback, the
// /metrics endpoint on 127.0.0.1:9464. The subcommands run one after the
// other since they share that default port; when something else on the
// machine holds it, the bind error must still name 127.0.0.1:9464.
func TestSubcommandsListenOnLoopbackOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testenv.Binary(t)
	simAddr := freeAddr(t)
	// Where the subcommands connect to (not what they listen on): a
	// plaintext kfake broker and a throw-away ClickHouse server, so that
	// each one runs instead of exiting on a refused connection.
	brokers := startKfake(t)
	ch := startClickHouse(t, chlocal.Options{})
	env := baseEnv("TELEMETRY_KAFKA_BROKERS="+brokers[0], "TELEMETRY_CLICKHOUSE_ADDRESSES="+ch.TCPAddr)
	const serving = "serving metrics and health"
	cases := []struct {
		name   string
		args   []string
		marker string // printed once every listener is up
	}{
		{"simulate", []string{"simulate"}, "simulator running"}, // gNMI default 127.0.0.1:57400
		{"simulate-free-port", []string{"simulate", "--listen", simAddr}, "simulator running"},
		{"collect", []string{"collect", "--insecure", "--target", "site1-sw1=" + simAddr}, serving},
		{"process", []string{"process"}, serving},
		{"remediate", []string{"remediate"}, serving},
		{"sink", []string{"sink"}, serving},
		// demo: embedded Kafka, simulator, webhook receiver, /metrics.
		{"demo", []string{"demo", "--duration", "5s", "--window", "1s", "--clickhouse", ch.TCPAddr}, "running for"},
	}
	for _, c := range cases {
		start := time.Now()
		pr := startProc(t, bin, c.name, c.args, env)
		var ls []net.TCPAddr
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if pr.cmd.ProcessState != nil || exited(pr) {
				break
			}
			if strings.Contains(pr.out.String(), c.marker) {
				time.Sleep(300 * time.Millisecond) // let the components bind their listeners
				if !exited(pr) {
					ls = listeners(t, pr.cmd.Process.Pid)
				}
				break
			}
		}
		pr.stop()
		out := pr.out.String()
		switch {
		case strings.Contains(out, "address already in use"):
			if !strings.Contains(out, "127.0.0.1:") {
				t.Errorf("%s: bind error does not name a loopback address:\n%s", c.name, tail(out, 1000))
			}
			t.Logf("%s: a default port is busy on this machine: %s", c.name, lastLine(out))
			continue
		case !strings.Contains(out, `"addr":"127.0.0.1:9464"`):
			t.Errorf("%s: /metrics not served on 127.0.0.1:9464 by default:\n%s", c.name, tail(out, 1500))
		}
		if len(ls) == 0 {
			t.Errorf("%s: found no listening socket", c.name)
		}
		for _, a := range ls {
			if !a.IP.IsLoopback() {
				t.Errorf("%s listens on %s, beyond loopback", c.name, a.String())
			}
		}
		t.Logf("%s listens on %v (ran %s)", c.name, ls, time.Since(start).Round(time.Millisecond))
	}
}

// exited reports whether pr's process has ended (without waiting).
func exited(pr *proc) bool {
	select {
	case err := <-pr.done:
		pr.done <- err // keep it for stop
		return true
	default:
		return false
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
