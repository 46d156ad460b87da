package simulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

func TestRebootWithDuration(t *testing.T) {
	sc := writeScenario(t, "- {type: counter_reset, device: site2-sw2, start: 2s, duration: 2s}\n")
	f, c := startFabric(t, func(cfg *Configuration) { cfg.Scenario = sc }, scaledClock(5))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	sub := func() grpc.BidiStreamingClient[gpb.SubscribeRequest, gpb.SubscribeResponse] {
		s, err := c.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(subReq("site2-sw2", gpb.SubscriptionList_STREAM, &gpb.Subscription{
			Path: path("interfaces", "interface[name=Ethernet4]", "state"), Mode: gpb.SubscriptionMode_SAMPLE,
			SampleInterval: uint64(20 * time.Millisecond),
		})); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := sub()
	recvUntilSync(t, s)
	for {
		_, err := s.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want Unavailable (reboot)", err)
			}
			break
		}
	}
	rebootAt := f.Epoch().Add(2 * time.Second)
	if st, _ := f.Truth().OperStatus("site2-sw2", "Ethernet4", rebootAt.Add(time.Second)); st != "DOWN" {
		t.Fatalf("oper-status during reboot %s", st)
	}
	// Reconnect until the device is back.
	var r *gpb.SubscribeResponse
	testenv.Eventually(t, 8*time.Second, "site2-sw2 back from its reboot", func() bool {
		s = sub()
		var err error
		r, err = s.Recv()
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Fatal(err)
		}
		return err == nil
	})
	n := r.GetUpdate()
	cs := counters(n)
	if cs["last-clear"] != uint64(rebootAt.UnixNano()) {
		t.Fatalf("last-clear %d, want reboot time %d", cs["last-clear"], rebootAt.UnixNano())
	}
	// Counters restarted at zero and were frozen while down: at most
	// ~the time since the device came back worth of traffic.
	up := time.Unix(0, n.GetTimestamp()).Sub(rebootAt.Add(2 * time.Second)).Seconds()
	if maxOctets := (up + 0.1) * 10e9 / 8; float64(cs["in-octets"]) > maxOctets {
		t.Fatalf("in-octets %d after reboot, more than %g", cs["in-octets"], maxOctets)
	}
	want, _ := f.Truth().Counters("site2-sw2", "Ethernet4", time.Unix(0, n.GetTimestamp()))
	if want.InOctets != cs["in-octets"] {
		t.Fatalf("served %d, truth %d", cs["in-octets"], want.InOctets)
	}
}

func TestFlapTruth(t *testing.T) {
	f, _ := startFabric(t, nil, nil)
	at, err := f.Inject(Fault{Type: FaultFlap, Device: "site3-sw1", Interface: "Ethernet2", Period: time.Second, Duration: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DOWN", "UP", "DOWN", "UP", "UP"}
	for i, w := range want {
		got, _ := f.Truth().OperStatus("site3-sw1", "Ethernet2", at.Add(time.Duration(i)*time.Second+500*time.Millisecond))
		if got != w {
			t.Fatalf("second %d: %s, want %s", i, got, w)
		}
	}
	it, _ := f.Truth().Interface("site3-sw1", "Ethernet2", at, at.Add(4*time.Second))
	if it.DownSeconds != 2 {
		t.Fatalf("down seconds %g", it.DownSeconds)
	}
	// site3-sw1 Ethernet2 faces site2: those probes lose half over the window.
	lt, _ := f.Truth().Link("site3-sw1", "site2-sw1", at, at.Add(4*time.Second))
	back, _ := f.Truth().Link("site2-sw1", "site3-sw1", at, at.Add(4*time.Second))
	if lt.LossRatio != 0.5 || back.LossRatio != 0.5 {
		t.Fatalf("link loss %g / %g, want 0.5", lt.LossRatio, back.LossRatio)
	}
	fs := f.Faults()
	if len(fs) != 1 || !fs[0].From.Equal(at) || !fs[0].To.Equal(at.Add(4*time.Second)) || fs[0].Type != FaultFlap {
		t.Fatalf("Faults() = %+v", fs)
	}
	all, err := f.Truth().Interfaces(at, at.Add(4*time.Second))
	if err != nil || len(all) != 64 {
		t.Fatalf("Interfaces: %d %v", len(all), err)
	}
	for _, it := range all {
		if (it.Device == "site3-sw1" && it.Interface == "Ethernet2") != (it.DownSeconds == 2) {
			t.Fatalf("%s/%s down %g", it.Device, it.Interface, it.DownSeconds)
		}
	}
	links, err := f.Truth().Links(at, at.Add(4*time.Second))
	if err != nil || len(links) != 8*3 {
		t.Fatalf("Links: %d %v", len(links), err)
	}
	if _, err := f.Inject(Fault{Type: FaultFlap, Device: "site3-sw1", Period: 10 * time.Millisecond}); err == nil {
		t.Fatal("bad period accepted")
	}
	if _, err := f.Inject(Fault{Type: FaultLoss, Device: "nope", Ratio: 0.1}); err == nil {
		t.Fatal("unknown device accepted")
	}
}

func TestSuppressRedundantHeartbeatUpdatesOnly(t *testing.T) {
	_, c := startFabric(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := subReq("site1-sw2", gpb.SubscriptionList_STREAM, &gpb.Subscription{
		Path: path("interfaces", "interface[name=Ethernet1]", "ethernet", "state", "port-speed"), Mode: gpb.SubscriptionMode_SAMPLE,
		SampleInterval: uint64(20 * time.Millisecond), SuppressRedundant: true, HeartbeatInterval: uint64(200 * time.Millisecond),
	})
	req.GetSubscribe().UpdatesOnly = true
	if err := s.Send(req); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv()
	if err != nil || !r.GetSyncResponse() {
		t.Fatalf("updates_only: first response %v %v, want sync_response", r, err)
	}
	start := time.Now()
	var n int
	for time.Since(start) < 700*time.Millisecond {
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if v := r.GetUpdate().GetUpdate()[0].GetVal().GetStringVal(); v != "SPEED_10GB" {
			t.Fatalf("port-speed %q", v)
		}
		n++
	}
	// Unchanged value: only heartbeats (every 200 ms), not every 20 ms.
	if n < 2 || n > 5 {
		t.Fatalf("%d notifications in 700ms, want heartbeats only", n)
	}
}

// writeCert creates a certificate signed by parent (self-signed when nil).
func writeCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", true, nil, nil)
	writeCert(t, dir, "server", false, ca, caKey)
	writeCert(t, dir, "client", false, ca, caKey)
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLS = TLSConfiguration{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key"),
		ClientCAFile: filepath.Join(dir, "ca.pem"),
	}
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	get := func(withCert bool) error {
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if withCert {
			cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = gpb.NewGNMIClient(conn).Capabilities(ctx, &gpb.CapabilityRequest{})
		return err
	}
	if err := get(true); err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	if err := get(false); err == nil {
		t.Fatal("without client certificate: accepted")
	}
}

func TestMatchPath(t *testing.T) {
	full := path("interfaces", "interface[name=Ethernet1]", "state", "counters", "in-octets").GetElem()
	cases := []struct {
		p    *gpb.Path
		want bool
	}{
		{path(), true},
		{path("interfaces"), true},
		{path("interfaces", "interface[name=*]", "state"), true},
		{path("interfaces", "interface[name=Ethernet1]", "state", "counters", "in-octets"), true},
		{path("interfaces", "interface[name=Ethernet2]"), false},
		{path("interfaces", "interface", "state"), true}, // no key: any
		{path("interfaces", "*", "state", "*", "in-octets"), true},
		{path("interfaces", "...", "in-octets"), true},
		{path("...", "in-octets"), true},
		{path("...", "out-octets"), false},
		{path("interfaces", "interface[name=Ethernet1]", "state", "counters", "in-octets", "deeper"), false},
		{path("probes"), false},
	}
	for _, tc := range cases {
		if got := matchPath(tc.p.GetElem(), full); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.p.GetElem(), got, tc.want)
		}
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.TruthFile = filepath.Join(t.TempDir(), "truth.jsonl")
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := gpb.NewGNMIClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var streams []grpc.BidiStreamingClient[gpb.SubscribeRequest, gpb.SubscribeResponse]
	for _, mode := range []gpb.SubscriptionList_Mode{gpb.SubscriptionList_STREAM, gpb.SubscriptionList_POLL} {
		s, err := c.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(subReq("site1-sw1", mode, &gpb.Subscription{Path: path("interfaces"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(50 * time.Millisecond)})); err != nil {
			t.Fatal(err)
		}
		recvUntilSync(t, s)
		streams = append(streams, s)
	}
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
	}
	_ = conn.Close()
	defer func() {
		if t.Failed() {
			buf := make([]byte, 1<<16)
			t.Logf("%d goroutines after Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
	}()
	testenv.Eventually(t, 3*time.Second, "goroutines back to the count before the fabric", func() bool {
		return runtime.NumGoroutine() <= before+1
	})
}
