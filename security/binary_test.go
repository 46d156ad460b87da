package security

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/remediation"
)

// proc is a running telemetry subcommand with its combined output.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Logs
	done chan error
}

// baseEnv is a minimal environment: nothing of the test's own TELEMETRY_*.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"GOCOVERDIR=" + os.Getenv("GOCOVERDIR")}
	return append(env, extra...)
}

func startProc(t *testing.T, bin, name string, args []string, env []string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testenv.Logs{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop sends SIGTERM, waits up to 10 s, then kills.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// runProc runs a short subcommand to completion (bounded by limit).
func runProc(t *testing.T, bin, name string, args, env []string, limit time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// assertNoSecrets fails when any secret (or the base64 key inside a
// whsec_ secret) appears in out.
func assertNoSecrets(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		needles := []string{s}
		if k, ok := strings.CutPrefix(s, "whsec_"); ok {
			needles = append(needles, k)
		}
		for _, n := range needles {
			if i := strings.Index(out, n); i >= 0 {
				lo, hi := max(0, i-200), min(len(out), i+len(n)+50)
				t.Errorf("%s output contains a secret (%.6s…): …%s…", what, n, out[lo:hi])
			}
		}
	}
}

// TestBinaryKeepsSecretsOutOfLogs runs the real binary as a pipeline —
// simulate (gNMI TLS + password) → collect → Kafka (kfake, TLS +
// SCRAM-SHA-512) → process → remediate (signed webhooks) — plus sink,
// dashboards push and a collector with a wrong Kafka password, every one
// at log level debug with its secrets from environment variables and
// files, and greps all their output for every secret. The webhook URLs
// carry a password and a query token; one webhook is down and one echoes
// the request (URL, Authorization) in its 404 page, so their failures are
// logged, dead-lettered and recorded as failed transitions: the records
// on Kafka (dead letters' reasons, transitions' messages) are grepped
// too. So are the refusals of an invalid webhook URL holding a password
// and of a targets file naming the pipeline's own ClickHouse password
// (password-env: TELEMETRY_CLICKHOUSE_PASSWORD).
func TestBinaryKeepsSecretsOutOfLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testenv.Binary(t)
	dir := t.TempDir()
	p := newPKI(t, "pipeline")

	kafkaPW := randomSecret(t, "kafka-pw")
	gnmiPW := randomSecret(t, "gnmi-pw")
	chPW := randomSecret(t, "ch-pw")
	grafanaToken := randomSecret(t, "glsa")
	opsToken := randomSecret(t, "ops-token")
	webhookSecret := remediation.GenerateSecret()
	inlineSecret := remediation.GenerateSecret()
	urlPW := randomSecret(t, "url-pw")       // user information in a webhook URL
	urlToken := randomSecret(t, "url-token") // a query token in a webhook URL
	userToken := randomSecret(t, "url-user") // user information without a password (a token)
	secrets := []string{kafkaPW, gnmiPW, chPW, grafanaToken, opsToken, webhookSecret, inlineSecret, urlPW, urlToken, userToken}

	brokers := startKfake(t, kfake.TLS(p.serverTLS()), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "telemetry", kafkaPW),
		kfake.SeedTopics(2, kafka.TopicSamples, kafka.TopicKPIs, kafka.TopicRemediations, kafka.TopicDeadLetter))

	// Webhook endpoint: verifies Standard Webhooks signatures with the
	// secret the dispatcher got from its environment, and records the
	// Authorization header it got from ${OPS_TOKEN}.
	rcv := remediation.NewReceiver(webhookSecret, nil)
	var authMu sync.Mutex
	var auths []string
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authMu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		authMu.Unlock()
		rcv.ServeHTTP(w, r)
	})}
	go func() { _ = hookSrv.Serve(hookLn) }()
	t.Cleanup(func() { _ = hookSrv.Close() })

	// A webhook endpoint that repeats the request in its error page, as
	// many servers do for a 404: the URL (query token) and the headers.
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoSrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no hook at "+r.URL.String()+" for "+fmt.Sprint(r.Header), http.StatusNotFound)
	})}
	go func() { _ = echoSrv.Serve(echoLn) }()
	t.Cleanup(func() { _ = echoSrv.Close() })

	// Grafana stand-in for `dashboards push`: answers 401 to everything.
	var grafanaAuth string
	grafanaLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grafanaSrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authMu.Lock()
		grafanaAuth = r.Header.Get("Authorization")
		authMu.Unlock()
		http.Error(w, `{"message":"invalid API key"}`, http.StatusUnauthorized)
	})}
	go func() { _ = grafanaSrv.Serve(grafanaLn) }()
	t.Cleanup(func() { _ = grafanaSrv.Close() })

	gnmiAddr := freeAddr(t)
	config := fmt.Sprintf(`http:
  listen: 127.0.0.1:0
  log-level: debug
  log-format: json
kafka:
  brokers: [%[1]s]
  partitions: 2
  dial-timeout: 3s
  tls: {enable: true, ca-file: %[2]s}
  sasl: {mechanism: SCRAM-SHA-512, username: telemetry}
simulate:
  listen: %[3]s
  sites: 1
  switches-per-site: 1
  interfaces-per-switch: 2
  username: gnmi
  tls: {cert-file: %[4]s, key-file: %[5]s}
collect:
  target-defaults:
    username: gnmi
    tls: {ca-file: %[2]s}
process:
  window: 1s
  allowed-lateness: 500ms
remediate:
  warmup: 0s
  webhooks:
    - name: ops
      url: http://hook:%[10]s@%[6]s/webhook?token=%[11]s
      secret-env: OPS_WEBHOOK_SECRET
      headers: {Authorization: "Bearer ${OPS_TOKEN}"}
      max-attempts: 2
    - name: inline
      url: http://hook:%[10]s@127.0.0.1:1/never?token=%[11]s
      secret: %[7]s
      max-attempts: 2
      retry-initial: 100ms
    - name: echo
      url: http://%[12]s@%[13]s/hook?token=%[11]s&ref=main
      headers: {Authorization: "Bearer ${OPS_TOKEN}"}
      max-attempts: 2
  rules:
    - name: any-traffic
      kpi: interface.util_out
      threshold: {op: ">", value: 0}
      severity: info
      action: {webhook: ops}
    - name: any-traffic-unreachable
      kpi: interface.util_in
      threshold: {op: ">", value: 0}
      severity: info
      action: {webhook: inline}
    - name: any-traffic-echo
      kpi: interface.out_bps
      threshold: {op: ">", value: 0}
      severity: info
      action: {webhook: echo}
clickhouse:
  addresses: [%[8]s]
  database: telemetry_security_bin
  dial-timeout: 2s
dashboards:
  grafana-url: http://%[9]s
`, brokers[0], p.CAFile, gnmiAddr, p.CertFile, p.KeyFile, hookLn.Addr(), inlineSecret,
		chAddrOrClosed(), grafanaLn.Addr(), urlPW, urlToken, userToken, echoLn.Addr())
	cfgFile := filepath.Join(dir, "telemetry.yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	kafkaPWFile := writeSecret(t, "kafka.pw", kafkaPW)
	gnmiPWFile := writeSecret(t, "gnmi.pw", gnmiPW)
	chPWFile := writeSecret(t, "ch.pw", chPW)
	grafanaTokenFile := writeSecret(t, "grafana.token", grafanaToken)
	args := func(sub ...string) []string { return append([]string{"--config", cfgFile}, sub...) }

	procs := []*proc{
		startProc(t, bin, "simulate", args("simulate"), baseEnv("TELEMETRY_SIMULATE_PASSWORD="+gnmiPW)),
		startProc(t, bin, "collect", args("collect", "--target", "site1-sw1="+gnmiAddr),
			baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD="+kafkaPW, "TELEMETRY_COLLECT_TARGET_DEFAULTS_PASSWORD_FILE="+gnmiPWFile)),
		startProc(t, bin, "process", args("process"), baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD_FILE="+kafkaPWFile)),
		startProc(t, bin, "remediate", args("remediate"), baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD="+kafkaPW,
			"OPS_WEBHOOK_SECRET="+webhookSecret, "OPS_TOKEN="+opsToken)),
		// The sink's ClickHouse password is wrong (or the server absent):
		// it must log the failure, not the password.
		startProc(t, bin, "sink", args("sink"), baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD_FILE="+kafkaPWFile,
			"TELEMETRY_CLICKHOUSE_PASSWORD="+chPW)),
		// A collector with a wrong Kafka password must log the failure.
		startProc(t, bin, "collect-wrong-password", args("collect", "--target", "site1-sw1="+gnmiAddr),
			baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD="+kafkaPW+"-wrong", "TELEMETRY_COLLECT_TARGET_DEFAULTS_PASSWORD="+gnmiPW,
				"TELEMETRY_COLLECT_DELIVERY_TIMEOUT=2s")),
		// A collector with a wrong gNMI password: the simulator refuses it.
		startProc(t, bin, "collect-wrong-gnmi-password", args("collect", "--target", "site1-sw1="+gnmiAddr),
			baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD="+kafkaPW, "TELEMETRY_COLLECT_TARGET_DEFAULTS_PASSWORD="+gnmiPW+"-wrong")),
	}

	// The pipeline works with the secrets: KPIs reach telemetry.kpis over
	// TLS + SCRAM, and a signed delivery with the Authorization header
	// reaches the webhook.
	cfg := kafkaConfig(brokers)
	cfg.TLS.Enable, cfg.TLS.CAFile = true, p.CAFile
	cfg.SASL.Mechanism, cfg.SASL.Username, cfg.SASL.Password = "SCRAM-SHA-512", "telemetry", kafkaPW
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kafka.TopicSamples, kafka.TopicKPIs),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	counts := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (counts[kafka.TopicKPIs] == 0 || len(rcv.Deliveries()) == 0) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { counts[r.Topic]++ })
		cancel()
	}
	t.Logf("records: %v; webhook deliveries: %d (%+v)", counts, len(rcv.Deliveries()), rcv.Counts())
	if counts[kafka.TopicSamples] == 0 || counts[kafka.TopicKPIs] == 0 {
		t.Errorf("collector → Kafka (TLS+SCRAM) → processor: samples %d, KPIs %d; want both > 0",
			counts[kafka.TopicSamples], counts[kafka.TopicKPIs])
	}
	if len(rcv.Deliveries()) == 0 {
		t.Errorf("no signed webhook delivery verified with the secret from OPS_WEBHOOK_SECRET (%+v)", rcv.Counts())
	}
	authMu.Lock()
	if len(auths) > 0 && auths[0] != "Bearer "+opsToken {
		t.Errorf("webhook Authorization = %q, want the token from ${OPS_TOKEN}", auths[0])
	}
	authMu.Unlock()

	// One-shot commands: dashboards push (token from a file, Grafana
	// refuses it) and config keys (everything from the environment).
	out, err := runProc(t, bin, "dashboards push", args("dashboards", "push"),
		baseEnv("TELEMETRY_DASHBOARDS_TOKEN_FILE="+grafanaTokenFile), 20*time.Second)
	if err == nil {
		t.Errorf("dashboards push against a refusing Grafana succeeded:\n%s", out)
	}
	assertNoSecrets(t, "dashboards push", out, secrets)
	authMu.Lock()
	if grafanaAuth != "Bearer "+grafanaToken {
		t.Errorf("dashboards push sent Authorization %q, want the token from token-file", grafanaAuth)
	}
	authMu.Unlock()

	out, err = runProc(t, bin, "remediate --check", args("remediate", "--check"),
		baseEnv("OPS_WEBHOOK_SECRET="+webhookSecret, "OPS_TOKEN="+opsToken), 20*time.Second)
	if err != nil {
		t.Errorf("remediate --check: %v\n%s", err, out)
	}
	assertNoSecrets(t, "remediate --check", out, secrets)

	// migrate and report against ClickHouse with a wrong password (from
	// the environment and from a file): they fail, naming the failure only.
	for _, c := range []struct {
		name string
		args []string
		env  []string
	}{
		{"migrate", args("migrate"), baseEnv("TELEMETRY_CLICKHOUSE_PASSWORD=" + chPW)},
		{"report", args("report", "--out", filepath.Join(dir, "r.pptx")), baseEnv("TELEMETRY_CLICKHOUSE_PASSWORD_FILE="+chPWFile,
			"TELEMETRY_REPORT_SMTP_PASSWORD="+grafanaToken)},
	} {
		out, err := runProc(t, bin, c.name, c.args, c.env, 30*time.Second)
		if err == nil && chAddrOrClosed() != "127.0.0.1:1" {
			t.Errorf("%s with a wrong ClickHouse password succeeded:\n%s", c.name, out)
		}
		assertNoSecrets(t, c.name, out, secrets)
		t.Logf("%s: %s", c.name, lastLine(out))
	}

	keysEnv := baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD="+kafkaPW, "TELEMETRY_CLICKHOUSE_PASSWORD="+chPW,
		"TELEMETRY_SIMULATE_PASSWORD="+gnmiPW, "TELEMETRY_COLLECT_TARGET_DEFAULTS_PASSWORD="+gnmiPW,
		"TELEMETRY_DASHBOARDS_TOKEN="+grafanaToken, "TELEMETRY_REPORT_SMTP_PASSWORD="+chPW,
		"TELEMETRY_CLICKHOUSE_PASSWORD_FILE="+chPWFile)
	out, err = runProc(t, bin, "config keys", args("config", "keys"), keysEnv, 20*time.Second)
	if err != nil {
		t.Fatalf("config keys: %v\n%s", err, out)
	}
	assertNoSecrets(t, "config keys", out, secrets)
	for _, key := range []string{"kafka.sasl.password", "clickhouse.password", "simulate.password",
		"collect.target-defaults.password", "dashboards.token", "report.smtp.password"} {
		if !keyShows(out, key, "******") {
			t.Errorf("config keys: %s is not shown as ******", key)
		}
	}
	if !strings.Contains(out, "http://hook:xxxxx@") || !strings.Contains(out, "?token=xxxxx") ||
		!strings.Contains(out, "http://xxxxx@"+echoLn.Addr().String()+"/hook?token=xxxxx&ref=xxxxx") {
		t.Errorf("config keys: webhook URLs should show with the password, user and query values masked:\n%s", out)
	}

	// An invalid webhook URL (a space in the host) with a password and a
	// token: refused with a one-line reason naming the key, not the secrets.
	badCfg := filepath.Join(dir, "bad-webhook.yaml")
	if err := os.WriteFile(badCfg, []byte(fmt.Sprintf(`remediate:
  webhooks:
    - name: broken
      url: "http://hook:%s@bad host:8080/x?token=%s"
`, urlPW, urlToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	badOut, err := runProc(t, bin, "config check (invalid webhook URL)", []string{"--config", badCfg, "config", "check"}, baseEnv(), 20*time.Second)
	if err == nil || !strings.Contains(badOut, "webhooks[broken].url:") {
		t.Errorf("config check with an invalid webhook URL: %v, want refused naming webhooks[broken].url:\n%s", err, badOut)
	}
	assertNoSecrets(t, "config check (invalid webhook URL)", badOut, secrets)

	// A targets file naming the pipeline's own ClickHouse password as a
	// gNMI password: the collector refuses to start, naming the rule, and
	// never reads the variable.
	targetsFile := filepath.Join(dir, "targets.yaml")
	if err := os.WriteFile(targetsFile, []byte(fmt.Sprintf(`targets:
  - name: site1-sw1
    address: %s
    username: gnmi
    password-env: TELEMETRY_CLICKHOUSE_PASSWORD
    tls: {ca-file: %s}
`, gnmiAddr, p.CAFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	collectOut, err := runProc(t, bin, "collect (targets file naming TELEMETRY_CLICKHOUSE_PASSWORD)",
		args("collect", "--targets-file", targetsFile), baseEnv("TELEMETRY_KAFKA_SASL_PASSWORD="+kafkaPW,
			"TELEMETRY_CLICKHOUSE_PASSWORD="+chPW), 20*time.Second)
	if err == nil || !strings.Contains(collectOut, "may only name variables starting with GNMI_") {
		t.Errorf("collect with a targets file naming TELEMETRY_CLICKHOUSE_PASSWORD: %v, want refused:\n%s", err, collectOut)
	}
	assertNoSecrets(t, "collect (targets file naming TELEMETRY_CLICKHOUSE_PASSWORD)", collectOut, secrets)
	if !keyShows(out, "clickhouse.password-file", chPWFile) {
		t.Errorf("config keys: clickhouse.password-file should show its path %s", chPWFile)
	}

	// Give the collector with the wrong password its delivery timeout.
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if strings.Contains(procs[5].out.String(), "samples not delivered to Kafka") {
			break
		}
	}
	for _, line := range strings.Split(procs[5].out.String(), "\n") {
		if strings.Contains(line, "samples not delivered") {
			t.Logf("wrong Kafka password: %s", line)
		}
	}

	// The failed deliveries (endpoint down, endpoint echoing the request)
	// are dead-lettered and recorded as failed transitions: every record
	// on Kafka is free of secrets too.
	recs := kafkaRecords(t, opts, []string{kafka.TopicDeadLetter, kafka.TopicRemediations}, func(rs []*kgo.Record) bool {
		echo, inline := false, false
		for _, r := range rs {
			echo = echo || (r.Topic == kafka.TopicDeadLetter && strings.Contains(string(r.Value), "webhook echo: HTTP 404"))
			inline = inline || (r.Topic == kafka.TopicDeadLetter && strings.Contains(string(r.Value), "webhook inline:"))
		}
		return echo && inline
	})
	var dead, failedTr int
	for _, r := range recs {
		assertNoSecrets(t, r.Topic+" record", string(r.Value)+string(r.Key), secrets)
		if r.Topic == kafka.TopicDeadLetter {
			dead++
		} else if strings.Contains(string(r.Value), "refused, not retried") || strings.Contains(string(r.Value), "gave up after") {
			failedTr++
		}
	}
	t.Logf("%d dead letters, %d failed transitions checked", dead, failedTr)
	if dead == 0 || failedTr == 0 {
		t.Errorf("want dead letters and failed transitions from the echoing and the unreachable webhooks; got %d and %d", dead, failedTr)
	}

	// Stop the daemons and check what they logged.
	for _, pr := range procs {
		pr.stop()
	}
	for _, pr := range procs {
		o := pr.out.String()
		assertNoSecrets(t, pr.name, o, secrets)
		if !strings.Contains(o, `"level":"DEBUG"`) && !strings.Contains(o, `"level":"INFO"`) {
			t.Errorf("%s logged nothing at debug/info: %.500s", pr.name, o)
		}
	}
	// The unreachable webhook's failures are logged with the URL's
	// password masked (net/http prints user:***@).
	var failed bool
	for _, line := range strings.Split(procs[3].out.String(), "\n") {
		if strings.Contains(line, "127.0.0.1:1/never") {
			t.Logf("unreachable webhook: %s", line)
			failed = true
			break
		}
	}
	if !failed {
		t.Errorf("remediate logged no failed attempt to the unreachable webhook")
	}
	// Failures are reported: the sink exits with a one-line reason, the
	// collector with the wrong Kafka password warns that samples are not
	// delivered.
	for name, want := range map[string]string{
		"sink":                        "telemetry: sink: clickhouse ping",
		"collect-wrong-password":      "samples not delivered to Kafka",
		"collect-wrong-gnmi-password": "Unauthenticated",
	} {
		for _, pr := range procs {
			if pr.name == name && !strings.Contains(pr.out.String(), want) {
				t.Errorf("%s should report its authentication failure (%q):\n%.2000s", name, want, pr.out.String())
			}
		}
	}
	if t.Failed() {
		for _, pr := range procs {
			t.Logf("--- %s output (tail):\n%s", pr.name, tail(pr.out.String(), 3000))
		}
	}
}

// kafkaRecords reads topics from the start until enough(records) or 30 s.
func kafkaRecords(t *testing.T, opts []kgo.Opt, topics []string, enough func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !enough(out); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		out = append(out, cl.PollFetches(ctx).Records()...)
		cancel()
	}
	if !enough(out) {
		t.Errorf("records of %v: not all there after 30 s (%d read)", topics, len(out))
	}
	return out
}

// chAddrOrClosed is the live ClickHouse (whose default user has no
// password, so the sink's password is wrong) or a closed port.
func chAddrOrClosed() string {
	if a := os.Getenv("TELEMETRY_TEST_CLICKHOUSE"); a != "" {
		return a
	}
	return "127.0.0.1:1"
}

// keyShows reports whether the `config keys` line of key ends with value.
func keyShows(out, key, value string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 1 && f[0] == key {
			return len(f) == 3 && f[2] == value
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
