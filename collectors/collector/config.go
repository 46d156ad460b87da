// Package collector dials gNMI targets, subscribes, and turns notifications into samples on Kafka.
//
// One Collector owns the targets that rendezvous hashing assigns to its
// instance name (see hrw.go); each target gets one session that dials,
// subscribes, decodes notifications into wire.Sample records (see
// decode.go) and hands them to one bounded, idempotent Kafka producer (see
// producer.go). Targets come from the configuration, the command line and a
// watched targets file, and can change without a restart.
package collector

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/wasm"

	"github.com/meshtelemetry/telemetry/common/names"
	"github.com/meshtelemetry/telemetry/common/tenant"
)

// Configuration is the collect section of the configuration file.
type Configuration struct {
	// Instance names this collector in samples and in the member list.
	// Default: the host name.
	Instance string `yaml:"instance"`
	// Members lists every collector instance sharing the targets; each
	// target goes to one member by rendezvous hashing of its name. Empty:
	// this instance collects every target.
	Members []string `yaml:"members"`
	// MemberCount, instead of Members, derives the member list from this
	// instance's ordinal suffix (a Kubernetes StatefulSet's pod names): an
	// instance named "collector-2" with member-count 3 shares the targets
	// with collector-0, collector-1 and collector-2. 0: not used.
	MemberCount int `yaml:"member-count"`
	// Targets are the gNMI targets listed in the configuration.
	Targets []TargetConfig `yaml:"targets"`
	// TargetDefaults fills what a target leaves unset (credentials, TLS,
	// insecure); command-line targets take everything from it.
	TargetDefaults TargetConfig `yaml:"target-defaults"`
	// TargetsFile is a YAML file with `targets:` (and optionally
	// `members:`) watched for changes: targets are added and removed, and
	// the member list rebalanced, without a restart.
	TargetsFile string `yaml:"targets-file"`
	// TargetsFileInterval is how often the targets file is checked.
	TargetsFileInterval time.Duration `yaml:"targets-file-interval"`
	// CredentialsDir is where a password-file named by the targets file
	// must lie (symbolic links resolved). Default: the targets file's own
	// directory. See fileCredentials for the whole rule.
	CredentialsDir string `yaml:"credentials-dir"`
	// Subscriptions every target gets (unless it names a subset).
	Subscriptions []Subscription `yaml:"subscriptions"`
	// Mappings is the path → sample field table. Empty: DefaultMappings.
	Mappings []Mapping `yaml:"mappings"`
	// Backoff between reconnections.
	Backoff Backoff `yaml:"backoff"`
	// Buffer bounds what waits for Kafka.
	Buffer Buffer `yaml:"buffer"`
	// InventoryInterval is how often a target's Device record is
	// re-emitted, in every state (it is also emitted on every state
	// change): the processor believes a device's state for a bounded time.
	InventoryInterval time.Duration `yaml:"inventory-interval"`
	// StallTimeout: a session that receives nothing for this long is torn
	// down and reconnected (cause "stalled"). 0 disables.
	StallTimeout time.Duration `yaml:"stall-timeout"`
	// DialTimeout bounds connecting to a target and getting its first response.
	DialTimeout time.Duration `yaml:"dial-timeout"`
	// MaxMessageSize bounds one gNMI message (bytes); bigger ones end the
	// session with cause "message_too_large".
	MaxMessageSize int `yaml:"max-message-size"`
	// MaxUpdatesPerNotification: updates beyond it are dropped and counted
	// (reason "too_many_updates").
	MaxUpdatesPerNotification int `yaml:"max-updates-per-notification"`
	// MaxUpdatesPerSecond caps what one target may send (token bucket over
	// one second): notifications past it are dropped and counted (reason
	// "flood"), so one runaway device cannot fill the shared buffer.
	// 0: no cap.
	MaxUpdatesPerSecond int `yaml:"max-updates-per-second"`
	// Linger is how long the producer waits to fill a batch.
	Linger time.Duration `yaml:"linger"`
	// Compression of produced batches: lz4, zstd, snappy, gzip or none.
	Compression string `yaml:"compression"`
	// DeliveryTimeout: a record not acknowledged by Kafka within it is
	// dropped and counted (reason "unconfirmed": a hung broker may still
	// store it). 0: retry forever (the buffer bound still holds).
	DeliveryTimeout time.Duration `yaml:"delivery-timeout"`
	// FlushTimeout bounds flushing the producer on Stop.
	FlushTimeout time.Duration `yaml:"flush-timeout"`
	// Wasm lists the WebAssembly modules of the collect hook, run in order
	// on the samples before Kafka (docs/wasm.md). Empty: none.
	Wasm []wasm.ModuleConfig `yaml:"wasm"`
	// MetricsMaxTargets is how many targets get per-target series of their
	// own (updates, samples, decode errors, session errors, state, last
	// update), in the order they start; the others share the series of
	// target="(other targets)", so the size of /metrics stays bounded
	// however many targets there are. Targets() and the devices table still
	// tell every target's state. 0: no target has series of its own.
	MetricsMaxTargets int `yaml:"metrics-max-targets"`
}

// TargetConfig is one gNMI target.
type TargetConfig struct {
	// Name is the gNMI target name (the `target` of the path prefix) and
	// the device name in samples.
	Name string `yaml:"name"`
	// Address is host:port of the gNMI server.
	Address string `yaml:"address"`
	// Site defaults to the name up to its first "-" ("site1-sw1" → "site1").
	Site string `yaml:"site"`
	// Tenant owns the target (docs/tenancy.md): a declared tenant, which
	// must agree with the tenancy section when that section owns the
	// target or its site. Empty: the tenancy section says (target, then
	// site ownership, then the default tenant).
	Tenant string `yaml:"tenant"`
	// Username and password are sent as gRPC metadata.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile holds the password (preferred over Password). In the
	// targets file it is relative to the file's directory and must lie in
	// credentials-dir.
	PasswordFile string `yaml:"password-file"`
	// PasswordEnv names an environment variable holding the password. In
	// the targets file it must start with GNMIEnvPrefix.
	PasswordEnv string `yaml:"password-env"`
	// Insecure dials in plaintext. It must be asked for: the default is TLS.
	Insecure bool `yaml:"insecure"`
	// CleartextCredentials lets a username and password travel over an
	// insecure (plaintext) connection; without it that combination is
	// refused. For a lab, never over a network someone else can read.
	CleartextCredentials bool `yaml:"cleartext-credentials"`
	// TLS (and mTLS with cert-file/key-file) settings.
	TLS TargetTLS `yaml:"tls"`
	// Subscriptions names the subscriptions this target gets; empty: all.
	Subscriptions []string `yaml:"subscriptions"`

	// credDir is the credentials directory a password-file named by the
	// targets file must still lie in when it is read (symbolic links
	// resolved then); "" for targets of the configuration.
	credDir string
}

// TargetTLS configures TLS towards a target.
type TargetTLS struct {
	CAFile   string `yaml:"ca-file"`
	CertFile string `yaml:"cert-file"`
	KeyFile  string `yaml:"key-file"`
	// ServerName overrides the name verified in the server certificate.
	ServerName string `yaml:"server-name"`
	// SkipVerify disables certificate verification; only when asked.
	SkipVerify bool `yaml:"skip-verify"`
}

// Subscription is one gNMI subscription.
type Subscription struct {
	Name  string   `yaml:"name"`
	Paths []string `yaml:"paths"`
	// Mode: stream, once or poll.
	Mode string `yaml:"mode"`
	// StreamMode (for mode stream): sample, on_change or target_defined.
	StreamMode string `yaml:"stream-mode"`
	// SampleInterval for sample stream mode, and the poll period for mode poll.
	SampleInterval    time.Duration `yaml:"sample-interval"`
	HeartbeatInterval time.Duration `yaml:"heartbeat-interval"`
	SuppressRedundant bool          `yaml:"suppress-redundant"`
	// Encoding: proto, json, json_ietf, ascii or bytes.
	Encoding string `yaml:"encoding"`
}

// Backoff is a jittered exponential back-off.
type Backoff struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
	// Factor multiplies the delay after each failure (≥ 1).
	Factor float64 `yaml:"factor"`
}

// Buffer bounds the records waiting for Kafka. When it is full a session
// waits up to MaxBlock (so a slow Kafka slows the reads down); past that it
// drops and counts (reason "buffer_full").
type Buffer struct {
	MaxRecords int           `yaml:"max-records"`
	MaxBytes   int           `yaml:"max-bytes"`
	MaxBlock   time.Duration `yaml:"max-block"`
}

// DefaultStateHeartbeat is the heartbeat of the default on-change
// subscriptions (oper-status, last-clear, speed).
const DefaultStateHeartbeat = 5 * time.Minute

// DefaultSubscriptions are the OpenConfig subscriptions every target gets
// by default.
func DefaultSubscriptions() []Subscription {
	return []Subscription{
		{Name: "counters", Paths: []string{"/interfaces/interface/state/counters"}, Mode: "stream",
			StreamMode: "sample", SampleInterval: time.Second, Encoding: "proto"},
		// The on-change state is re-sent every heartbeat, so a processor that
		// takes a series over (rebalance, crash) learns the speed and status
		// within one heartbeat: keep it below process.state-horizon (15m).
		{Name: "state", Paths: []string{"/interfaces/interface/state/oper-status", "/interfaces/interface/state/counters/last-clear"},
			Mode: "stream", StreamMode: "on_change", HeartbeatInterval: DefaultStateHeartbeat, Encoding: "proto"},
		{Name: "speed", Paths: []string{"/interfaces/interface/ethernet/state/port-speed"},
			Mode: "stream", StreamMode: "on_change", HeartbeatInterval: DefaultStateHeartbeat, Encoding: "proto"},
		{Name: "probes", Paths: []string{"/probes/probe/tests/test/results/state"}, Mode: "stream",
			StreamMode: "sample", SampleInterval: 5 * time.Second, Encoding: "proto"},
	}
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	host, _ := os.Hostname()
	if host == "" {
		host = "collector"
	}
	return Configuration{
		Instance:                  host,
		TargetsFileInterval:       2 * time.Second,
		Subscriptions:             DefaultSubscriptions(),
		Backoff:                   Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Factor: 2},
		Buffer:                    Buffer{MaxRecords: 100000, MaxBytes: 64 << 20, MaxBlock: time.Second},
		InventoryInterval:         30 * time.Second,
		StallTimeout:              time.Minute,
		DialTimeout:               10 * time.Second,
		MaxMessageSize:            16 << 20,
		MaxUpdatesPerNotification: 10000,
		Linger:                    5 * time.Millisecond,
		Compression:               "lz4",
		DeliveryTimeout:           2 * time.Minute,
		FlushTimeout:              10 * time.Second,
		MetricsMaxTargets:         1000,
	}
}

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error {
	if c.Instance == "" {
		return errors.New("instance: must not be empty")
	}
	if c.MemberCount < 0 {
		return errors.New("member-count: must not be negative")
	}
	if c.MemberCount > 0 {
		if len(c.Members) > 0 {
			return errors.New("member-count: give members or member-count, not both")
		}
		if _, err := OrdinalMembers(c.Instance, c.MemberCount); err != nil {
			return fmt.Errorf("member-count: %w", err)
		}
	}
	if len(c.Members) > 0 {
		found := false
		seen := map[string]bool{}
		for _, m := range c.Members {
			if m == "" {
				return errors.New("members: empty member name")
			}
			if seen[m] {
				return fmt.Errorf("members: %q listed twice", m)
			}
			seen[m] = true
			found = found || m == c.Instance
		}
		if !found {
			return fmt.Errorf("members: must include this instance %q", c.Instance)
		}
	}
	if err := validateTargets(c.Targets, c.TargetDefaults, "targets"); err != nil {
		return err
	}
	if c.TargetsFile != "" && c.TargetsFileInterval <= 0 {
		return errors.New("targets-file-interval: must be positive")
	}
	if len(c.Subscriptions) == 0 {
		return errors.New("subscriptions: at least one is needed")
	}
	if d := c.TargetDefaults; d.Name != "" || d.Address != "" || d.Site != "" || d.Tenant != "" {
		return errors.New("target-defaults: name, address, site and tenant are per target")
	}
	if c.MetricsMaxTargets < 0 {
		return errors.New("metrics-max-targets: must not be negative")
	}
	if c.MaxUpdatesPerSecond < 0 {
		return errors.New("max-updates-per-second: must not be negative")
	}
	names := map[string]bool{}
	for i := range c.Subscriptions {
		s := &c.Subscriptions[i]
		s.normalize()
		if err := s.validate(); err != nil {
			return fmt.Errorf("subscriptions[%d].%w", i, err)
		}
		if names[s.Name] {
			return fmt.Errorf("subscriptions[%d].name: %q used twice", i, s.Name)
		}
		names[s.Name] = true
	}
	for i, t := range c.Targets {
		for _, n := range t.Subscriptions {
			if !names[n] {
				return fmt.Errorf("targets[%d].subscriptions: unknown subscription %q", i, n)
			}
		}
	}
	if _, err := compileMappings(c.mappings()); err != nil {
		return fmt.Errorf("mappings%w", err)
	}
	if c.Backoff.Min <= 0 {
		return errors.New("backoff.min: must be positive")
	}
	if c.Backoff.Max < c.Backoff.Min {
		return errors.New("backoff.max: must be at least backoff.min")
	}
	if c.Backoff.Factor < 1 {
		return errors.New("backoff.factor: must be at least 1")
	}
	if c.Buffer.MaxRecords < 1 {
		return errors.New("buffer.max-records: must be at least 1")
	}
	if c.Buffer.MaxBytes < 1<<10 {
		return errors.New("buffer.max-bytes: must be at least 1024")
	}
	if c.Buffer.MaxBlock < 0 {
		return errors.New("buffer.max-block: must not be negative")
	}
	if c.InventoryInterval <= 0 {
		return errors.New("inventory-interval: must be positive")
	}
	if c.StallTimeout < 0 {
		return errors.New("stall-timeout: must not be negative")
	}
	if c.DialTimeout <= 0 {
		return errors.New("dial-timeout: must be positive")
	}
	if c.MaxMessageSize < 1<<10 {
		return errors.New("max-message-size: must be at least 1024")
	}
	if c.MaxUpdatesPerNotification < 1 {
		return errors.New("max-updates-per-notification: must be at least 1")
	}
	if c.Linger < 0 {
		return errors.New("linger: must not be negative")
	}
	switch c.Compression {
	case "lz4", "zstd", "snappy", "gzip", "none":
	default:
		return fmt.Errorf("compression: %q is not lz4, zstd, snappy, gzip or none", c.Compression)
	}
	if c.DeliveryTimeout < 0 {
		return errors.New("delivery-timeout: must not be negative")
	}
	if c.FlushTimeout <= 0 {
		return errors.New("flush-timeout: must be positive")
	}
	if err := wasm.Validate(wasm.HookCollect, c.Wasm); err != nil {
		return err
	}
	return nil
}

// configuredMembers is the member list of the configuration: members, or
// the list member-count derives from the instance name (Validate checked it).
func (c *Configuration) configuredMembers() []string {
	if c.MemberCount > 0 {
		if m, err := OrdinalMembers(c.Instance, c.MemberCount); err == nil {
			return m
		}
	}
	return c.Members
}

// OrdinalMembers returns the member list of n instances named like
// instance, a stem and an ordinal ("collector-2"): stem-0 … stem-(n-1). The
// instance's ordinal must be below n, so the list includes it.
func OrdinalMembers(instance string, n int) ([]string, error) {
	i := strings.LastIndexByte(instance, '-')
	if i <= 0 || i == len(instance)-1 {
		return nil, fmt.Errorf("instance %q does not end in -<ordinal>", instance)
	}
	stem, suffix := instance[:i], instance[i+1:]
	ord, err := strconv.Atoi(suffix)
	if err != nil || ord < 0 || strconv.Itoa(ord) != suffix {
		return nil, fmt.Errorf("instance %q does not end in -<ordinal>", instance)
	}
	if ord >= n {
		return nil, fmt.Errorf("instance %q has ordinal %d, not below member-count %d", instance, ord, n)
	}
	out := make([]string, n)
	for k := range out {
		out[k] = stem + "-" + strconv.Itoa(k)
	}
	return out, nil
}

func (c *Configuration) mappings() []Mapping {
	if len(c.Mappings) == 0 {
		return DefaultMappings()
	}
	return c.Mappings
}

// normalize fills what a subscription may leave out: mode stream,
// stream-mode sample when a sample-interval is given (on_change
// otherwise), encoding proto.
func (s *Subscription) normalize() {
	if s.Mode == "" {
		s.Mode = "stream"
	}
	if s.Mode == "stream" && s.StreamMode == "" {
		s.StreamMode = "on_change"
		if s.SampleInterval > 0 {
			s.StreamMode = "sample"
		}
	}
	if s.Encoding == "" {
		s.Encoding = "proto"
	}
}

func (s *Subscription) validate() error {
	if s.Name == "" {
		return errors.New("name: must not be empty")
	}
	if len(s.Paths) == 0 {
		return errors.New("paths: at least one path")
	}
	for _, p := range s.Paths {
		if _, err := parsePath(p); err != nil {
			return fmt.Errorf("paths: %q: %w", p, err)
		}
	}
	switch s.Mode {
	case "stream", "once":
	case "poll":
		if s.SampleInterval <= 0 {
			return errors.New("sample-interval: must be positive for mode poll (the poll period)")
		}
	default:
		return fmt.Errorf("mode: %q is not stream, once or poll", s.Mode)
	}
	if s.Mode == "stream" {
		switch s.StreamMode {
		case "sample":
			if s.SampleInterval <= 0 {
				return errors.New("sample-interval: must be positive for stream-mode sample")
			}
		case "on_change", "target_defined":
		default:
			return fmt.Errorf("stream-mode: %q is not sample, on_change or target_defined", s.StreamMode)
		}
	}
	if s.SampleInterval < 0 || s.HeartbeatInterval < 0 {
		return errors.New("sample-interval: must not be negative")
	}
	if _, ok := encodings[s.Encoding]; !ok {
		return fmt.Errorf("encoding: %q is not proto, json, json_ietf, ascii or bytes", s.Encoding)
	}
	return nil
}

func validateTargets(ts []TargetConfig, defaults TargetConfig, key string) error {
	seen := map[string]bool{}
	for i, t := range ts {
		t = t.withDefaults(defaults)
		if err := t.validate(); err != nil {
			return fmt.Errorf("%s[%d].%w", key, i, err)
		}
		if err := t.validateCleartext(); err != nil {
			return fmt.Errorf("%s[%d].%w", key, i, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("%s[%d].name: %q listed twice", key, i, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// withDefaults fills what t leaves unset from d.
func (t TargetConfig) withDefaults(d TargetConfig) TargetConfig {
	str := func(v *string, dv string) {
		if *v == "" {
			*v = dv
		}
	}
	str(&t.Username, d.Username)
	if t.Password == "" && t.PasswordFile == "" && t.PasswordEnv == "" {
		t.Password, t.PasswordFile, t.PasswordEnv, t.credDir = d.Password, d.PasswordFile, d.PasswordEnv, d.credDir
	}
	t.CleartextCredentials = t.CleartextCredentials || d.CleartextCredentials
	hasTLS := t.TLS.CAFile != "" || t.TLS.CertFile != "" || t.TLS.SkipVerify || t.TLS.ServerName != ""
	t.Insecure = t.Insecure || (d.Insecure && !hasTLS)
	str(&t.TLS.CAFile, d.TLS.CAFile)
	if t.TLS.CertFile == "" && t.TLS.KeyFile == "" {
		t.TLS.CertFile, t.TLS.KeyFile = d.TLS.CertFile, d.TLS.KeyFile
	}
	str(&t.TLS.ServerName, d.TLS.ServerName)
	t.TLS.SkipVerify = t.TLS.SkipVerify || d.TLS.SkipVerify
	if len(t.Subscriptions) == 0 {
		t.Subscriptions = d.Subscriptions
	}
	if t.Site == "" {
		t.Site = SiteOf(t.Name)
	}
	return t
}

// SiteOf derives a site from a device name: the part before the first "-"
// ("site1-sw1" → "site1"), or the whole name when it has none.
func SiteOf(name string) string {
	if i := strings.IndexByte(name, '-'); i > 0 {
		return name[:i]
	}
	return name
}

func (t *TargetConfig) validate() error {
	if t.Name == "" {
		return errors.New("name: must not be empty")
	}
	if len(t.Name) > 256 || strings.ContainsAny(t.Name, "/ \t\n") {
		return fmt.Errorf("name: %q must be at most 256 characters without '/' or spaces", t.Name)
	}
	if err := names.Check(t.Name); err != nil {
		return fmt.Errorf("name: %q %w", t.Name, err)
	}
	if err := names.Check(t.Site); err != nil {
		return fmt.Errorf("site: %q %w", t.Site, err)
	}
	if t.Tenant != "" {
		if err := tenant.CheckID(t.Tenant); err != nil {
			return fmt.Errorf("tenant: %w", err)
		}
	}
	if _, _, err := net.SplitHostPort(t.Address); err != nil {
		return fmt.Errorf("address: %q is not host:port", t.Address)
	}
	if (t.TLS.CertFile == "") != (t.TLS.KeyFile == "") {
		return errors.New("tls.cert-file: cert-file and key-file go together")
	}
	if t.Insecure && (t.TLS.CAFile != "" || t.TLS.CertFile != "" || t.TLS.SkipVerify) {
		return errors.New("insecure: plaintext excludes tls settings")
	}
	return nil
}

// password resolves the target's password: password-file, then
// password-env, then password. A password-file named by the targets file
// must still lie in the credentials directory once symbolic links are
// resolved (a link placed there cannot lead elsewhere).
func (t *TargetConfig) password() (string, error) {
	switch {
	case t.PasswordFile != "":
		if t.credDir != "" {
			if err := resolvesInside(t.credDir, t.PasswordFile); err != nil {
				return "", fmt.Errorf("password-file: %w", err)
			}
		}
		b, err := os.ReadFile(t.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case t.PasswordEnv != "":
		v, ok := os.LookupEnv(t.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password-env: %s is not set", t.PasswordEnv)
		}
		return v, nil
	}
	return t.Password, nil
}

// validateCleartext refuses credentials over a plaintext connection unless
// cleartext-credentials says so (defaults applied).
func (t *TargetConfig) validateCleartext() error {
	if t.Insecure && t.Username != "" && !t.CleartextCredentials {
		return errors.New("insecure: the username and password would travel in clear text; " +
			"configure TLS for this target, or set cleartext-credentials: true (a lab only)")
	}
	return nil
}

// GNMIEnvPrefix starts the name of every environment variable a targets
// file may name in password-env.
const GNMIEnvPrefix = "GNMI_"

// fileCredentials applies the rule for credentials named by the targets
// file to its targets, in place. The targets file is data (often written
// by an inventory tool, reloaded without a restart), not configuration, so
// it may only point at what the operator set aside for gNMI:
//
//   - password-env names a variable starting with GNMI_ (not the
//     process's own TELEMETRY_* secrets, nor anything else in its
//     environment);
//   - password-file is relative to the targets file's directory and must
//     lie in credentials-dir (default: that directory), symbolic links
//     resolved when it is read.
//
// Targets of the configuration itself (collect.targets, target-defaults,
// --target), which is as trusted as the process, are not restricted; a
// file target that names no password takes target-defaults' unrestricted.
func (c *Configuration) fileCredentials(ts []TargetConfig) error {
	abs, err := filepath.Abs(c.TargetsFile)
	if err != nil {
		return err
	}
	fileDir := filepath.Dir(abs)
	credDir := fileDir
	if c.CredentialsDir != "" {
		if credDir, err = filepath.Abs(c.CredentialsDir); err != nil {
			return fmt.Errorf("credentials-dir: %w", err)
		}
	}
	for i := range ts {
		t := &ts[i]
		if t.PasswordEnv != "" && !strings.HasPrefix(t.PasswordEnv, GNMIEnvPrefix) {
			return fmt.Errorf("targets[%d].password-env: %q: a targets file may only name variables starting with %s",
				i, t.PasswordEnv, GNMIEnvPrefix)
		}
		if t.PasswordFile == "" {
			continue
		}
		p := t.PasswordFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(fileDir, p)
		}
		p = filepath.Clean(p)
		if !inside(credDir, p) {
			return fmt.Errorf("targets[%d].password-file: %q is outside %s (collect.credentials-dir, default the targets file's directory)",
				i, t.PasswordFile, credDir)
		}
		t.PasswordFile, t.credDir = p, credDir
	}
	return nil
}

// inside reports whether path p lies in directory dir (both clean and
// absolute), without resolving links.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolvesInside checks that p, symbolic links resolved, still lies in
// dir (resolved too).
func resolvesInside(dir, p string) error {
	rd, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	rp, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	if !inside(rd, rp) {
		return fmt.Errorf("%s leads outside %s", p, dir)
	}
	return nil
}

// ParseTargetFlag parses a command-line target "name=host:port".
func ParseTargetFlag(s string) (TargetConfig, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || addr == "" {
		return TargetConfig{}, fmt.Errorf("target %q: want name=host:port", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return TargetConfig{}, fmt.Errorf("target %q: %q is not host:port", s, addr)
	}
	return TargetConfig{Name: name, Address: addr}, nil
}
