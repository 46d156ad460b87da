// Package chsink stores KPIs, samples, events and inventory in
// ClickHouse: a schema that adapts to the server it finds (capability
// probe), versioned migrations safe to run from several instances at once,
// and a batched, idempotent Kafka → ClickHouse sink that commits offsets only
// after ClickHouse confirms the insert.
package chsink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/common/tlsfiles"
)

// TLS configures TLS to the ClickHouse servers.
type TLS struct {
	Enable     bool   `yaml:"enable"`
	CAFile     string `yaml:"ca-file"`
	CertFile   string `yaml:"cert-file"`
	KeyFile    string `yaml:"key-file"`
	SkipVerify bool   `yaml:"skip-verify"`
}

// Configuration is the clickhouse section of the configuration file.
type Configuration struct {
	// Addresses of the servers (native protocol, host:port). Default 127.0.0.1:9000.
	Addresses []string `yaml:"addresses"`
	// Database holding every table. Default "telemetry".
	Database string `yaml:"database"`
	// Username and Password (or PasswordFile, preferred) to authenticate.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password-file"`
	TLS          TLS    `yaml:"tls"`
	// Compression of the native protocol: lz4 (default), zstd or none.
	Compression string `yaml:"compression"`
	// DialTimeout bounds connecting to a server.
	DialTimeout time.Duration `yaml:"dial-timeout"`
	// BatchSize is the number of rows (all tables together) that triggers a
	// flush; FlushInterval flushes a smaller batch after that long. The sink
	// holds up to three batches (one filling, two being inserted), about
	// 220 bytes per interface-KPI row.
	BatchSize     int           `yaml:"batch-size"`
	FlushInterval time.Duration `yaml:"flush-interval"`
	// RawSamples stores every raw sample (interface_counters, probe_results).
	// Device samples always feed the devices table.
	RawSamples bool `yaml:"raw-samples"`
	// RetentionDays keeps KPIs, events, dead letters and the 1-minute rollups;
	// RawRetentionDays the raw samples; RollupRetentionDays the 1-hour rollups.
	// 0 keeps forever. Modern servers use TTLs; old ones (no TTL) drop monthly
	// partitions older than that from the sink every RetentionInterval.
	RetentionDays       int           `yaml:"retention-days"`
	RawRetentionDays    int           `yaml:"raw-retention-days"`
	RollupRetentionDays int           `yaml:"rollup-retention-days"`
	RetentionInterval   time.Duration `yaml:"retention-interval"`
	// GroupID is the Kafka consumer group of the sink.
	GroupID string `yaml:"group-id"`
	// MaxRetryBackoff caps the exponential back-off between insert retries.
	MaxRetryBackoff time.Duration `yaml:"max-retry-backoff"`
	// StallAfter: a partition whose committed offset has not moved for
	// this long while it lags (ClickHouse refusing the batch, dead letters
	// not taken) is stalled, and Ready says so (/readyz 503) until its
	// commits move. Longer than flush-interval.
	StallAfter time.Duration `yaml:"stall-after"`
	// MigrationLockTimeout is how long migrate waits for another instance
	// migrating the same database before it takes over (steps are idempotent).
	MigrationLockTimeout time.Duration `yaml:"migration-lock-timeout"`
	// AllowDestructive lets migrations apply steps that delete data (a
	// shorter TTL). Without it such steps are skipped with a warning.
	AllowDestructive bool `yaml:"allow-destructive"`
	// Cluster is the name of a ClickHouse cluster (the servers'
	// <remote_servers>) to keep the schema on: each table's rows in a
	// replicated <table>_local table per shard, a Distributed table under the
	// table's own name for reads and writes (sharded by site), DDL run ON
	// CLUSTER. Empty: one server (no ZooKeeper, no replication).
	Cluster string `yaml:"cluster"`
	// ReplicationPath is the ZooKeeper path of a replicated table on a
	// cluster. The sink fills in {cluster}, {database} and {table} (the
	// local table's name); every other {macro} is the server's own (its
	// <macros>, {shard} in the default). The replica name is the server's
	// {replica} macro, which must be unique over the cluster's nodes.
	ReplicationPath string `yaml:"replication-path"`
	// DefaultTenant is the tenant of rows whose record names none, and the
	// DEFAULT of every table's tenant column (rows stored before the column
	// existed). Not a key of this section: the pipeline sets it from
	// tenancy.default-tenant. Empty: "default".
	DefaultTenant string `yaml:"-"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		Addresses:            []string{"127.0.0.1:9000"},
		Database:             "telemetry",
		Username:             "default",
		Compression:          "lz4",
		DialTimeout:          5 * time.Second,
		BatchSize:            200000,
		FlushInterval:        time.Second,
		RawSamples:           true,
		RetentionDays:        30,
		RawRetentionDays:     7,
		RollupRetentionDays:  400,
		RetentionInterval:    time.Hour,
		GroupID:              "telemetry-sink",
		MaxRetryBackoff:      30 * time.Second,
		MigrationLockTimeout: time.Minute,
		ReplicationPath:      DefaultReplicationPath,
		StallAfter:           2 * time.Minute,
		DefaultTenant:        tenant.Default,
	}
}

// DefaultReplicationPath is the default of replication-path: one ZooKeeper
// path per cluster, shard, database and table.
const DefaultReplicationPath = "/clickhouse/tables/{cluster}/{shard}/{database}/{table}"

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error {
	if len(c.Addresses) == 0 {
		return errors.New("addresses: must list at least one host:port")
	}
	for _, a := range c.Addresses {
		if !strings.Contains(a, ":") {
			return fmt.Errorf("addresses: %q is not host:port", a)
		}
	}
	if !identRe.MatchString(c.Database) {
		return fmt.Errorf("database: %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.Database)
	}
	if c.DefaultTenant != "" {
		if err := tenant.CheckID(c.DefaultTenant); err != nil {
			return fmt.Errorf("tenancy.default-tenant: %w", err)
		}
	}
	switch c.Compression {
	case "lz4", "zstd", "none", "":
	default:
		return fmt.Errorf("compression: %q is not lz4, zstd or none", c.Compression)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls.cert-file: cert-file and key-file go together")
	}
	if c.DialTimeout <= 0 {
		return errors.New("dial-timeout: must be positive")
	}
	if c.BatchSize < 1 {
		return errors.New("batch-size: must be at least 1")
	}
	if c.FlushInterval <= 0 {
		return errors.New("flush-interval: must be positive")
	}
	for k, v := range map[string]int{"retention-days": c.RetentionDays,
		"raw-retention-days": c.RawRetentionDays, "rollup-retention-days": c.RollupRetentionDays} {
		if v < 0 {
			return fmt.Errorf("%s: must be 0 (keep forever) or positive", k)
		}
	}
	if c.RetentionInterval <= 0 {
		return errors.New("retention-interval: must be positive")
	}
	if c.GroupID == "" {
		return errors.New("group-id: must not be empty")
	}
	if c.MaxRetryBackoff <= 0 {
		return errors.New("max-retry-backoff: must be positive")
	}
	if c.MigrationLockTimeout <= 0 {
		return errors.New("migration-lock-timeout: must be positive")
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if c.StallAfter <= c.FlushInterval {
		return fmt.Errorf("stall-after: %s must be longer than flush-interval (%s)", c.StallAfter, c.FlushInterval)
	}
	return nil
}

// validateCluster checks cluster and replication-path.
func (c *Configuration) validateCluster() error {
	if c.Cluster == "" {
		return nil
	}
	if !identRe.MatchString(c.Cluster) {
		return fmt.Errorf("cluster: %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.Cluster)
	}
	p := c.ReplicationPath
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("replication-path: %q must start with /", p)
	case strings.ContainsAny(p, "'\\ "):
		return fmt.Errorf("replication-path: %q must not contain quotes, backslashes or spaces", p)
	case !strings.Contains(p, "{table}") || !strings.Contains(p, "{database}"):
		return fmt.Errorf("replication-path: %q must contain {database} and {table} (each table needs a path of its own)", p)
	}
	return nil
}

// options builds the clickhouse-go options.
func (c *Configuration) options() (*clickhouse.Options, error) {
	pw := c.Password
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse password-file: %w", err)
		}
		pw = strings.TrimSpace(string(b))
	}
	o := &clickhouse.Options{
		Addr: c.Addresses,
		// The database may not exist yet (migrate creates it): connect to
		// "default" and qualify every table name.
		Auth:             clickhouse.Auth{Database: "default", Username: c.Username, Password: pw},
		DialTimeout:      c.DialTimeout,
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
	}
	if c.Cluster != "" {
		// An insert into a Distributed table returns once every shard has
		// its rows (an error otherwise, which the sink retries), instead of
		// queueing them on the receiving server's disk.
		o.Settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	switch c.Compression {
	case "lz4", "":
		o.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	case "zstd":
		o.Compression = &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	}
	if c.TLS.Enable {
		tc, err := tlsfiles.Client{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, SkipVerify: c.TLS.SkipVerify}.Config()
		if err != nil {
			return nil, fmt.Errorf("clickhouse tls %w", err)
		}
		o.TLS = tc
	}
	return o, nil
}

// Open connects to ClickHouse (native protocol) and pings it. The
// connection's default database is "default": qualify table names with
// cfg.Database. The caller closes the connection.
func Open(ctx context.Context, cfg Configuration) (driver.Conn, error) {
	o, err := cfg.options()
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(o)
	if err != nil {
		return nil, fmt.Errorf("clickhouse open %v: %w", cfg.Addresses, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse ping %v: %w", cfg.Addresses, err)
	}
	return conn, nil
}
