package collector

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (PEM) into dir.
func testPKI(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(k)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kd)
	}
	ca = write("ca.crt", "CERTIFICATE", caDER)
	srvCert, srvKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return
}

// TestMTLSAndCredentials: the simulator requires TLS, a client certificate
// and username/password; the collector presents them (password from a
// file) and collects. A wrong password is counted as cause "auth".
func TestMTLSAndCredentials(t *testing.T) {
	dir := t.TempDir()
	ca, sc, sk, cc, ck := testPKI(t, dir)
	scfg := simulator.DefaultConfiguration()
	scfg.Listen = "127.0.0.1:0"
	scfg.Sites, scfg.SwitchesPerSite, scfg.InterfacesPerSwitch = 2, 1, 2
	scfg.TLS = simulator.TLSConfiguration{CertFile: sc, KeyFile: sk, ClientCAFile: ca}
	scfg.Username, scfg.Password = "admin", "s3cret"
	sim, err := simulator.New(scfg, simulator.Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sim.Stop()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_COLLECTOR_BAD_PW", "wrong")

	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	cfg := testConfig("c1")
	cfg.TargetDefaults = TargetConfig{Username: "admin", PasswordFile: pwFile,
		TLS: TargetTLS{CAFile: ca, CertFile: cc, KeyFile: ck}}
	cfg.Targets = []TargetConfig{
		{Name: "site1-sw1", Address: sim.Addr()},
		{Name: "site2-sw1", Address: sim.Addr(), PasswordEnv: "TEST_COLLECTOR_BAD_PW"},
	}
	c := startCollector(t, cfg, kc)
	testenv.Eventually(t, 10*time.Second, "samples over mTLS, and the bad password counted", func() bool {
		var bad uint64
		for _, ts := range c.Targets() {
			if ts.Name == "site2-sw1" {
				bad = ts.Errors["auth"]
			}
		}
		for _, s := range got.snapshot() {
			if s.Device == "site1-sw1" && s.GetInterface() != nil {
				return bad > 0
			}
		}
		return false
	})
	if s := stateOf(c, "site1-sw1"); s != StateUp {
		t.Errorf("site1-sw1 %s", s)
	}
	if s := stateOf(c, "site2-sw1"); s == StateUp {
		t.Errorf("site2-sw1 up with a wrong password")
	}
}

// TestOnceAndPollModes: ONCE gets everything once per connection; POLL
// gets it at every poll.
func TestOnceAndPollModes(t *testing.T) {
	sim := simtest.Start(t, 2, 1, 2)
	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	cfg := testConfig("c1")
	cfg.Subscriptions = []Subscription{
		{Name: "speed-once", Paths: []string{"/interfaces/interface/ethernet/state/port-speed"}, Mode: "once", Encoding: "proto"},
		{Name: "counters-poll", Paths: []string{"/interfaces/interface/state/counters"}, Mode: "poll",
			SampleInterval: 100 * time.Millisecond, Encoding: "json_ietf"},
	}
	cfg.Targets = simTargets(sim)[:1]
	startCollector(t, cfg, kc)
	testenv.Eventually(t, 10*time.Second, "once and several polls", func() bool {
		speed, polls := 0, 0
		for _, s := range got.snapshot() {
			st := s.GetInterface()
			if st == nil {
				continue
			}
			if st.SpeedBps == 10e9 {
				speed++
			}
			if len(st.Counters) > 0 {
				polls++
			}
		}
		return speed >= 2 && polls >= 8
	})
	for _, s := range got.snapshot() {
		if st := s.GetInterface(); st != nil && st.SpeedBps != 0 && len(st.Counters) > 0 {
			t.Fatalf("once and poll results mixed in one sample: %v", st)
		}
	}
}
