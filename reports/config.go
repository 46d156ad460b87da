// Package reports builds the weekly executive slide deck (.pptx) from
// ClickHouse: it queries one ISO week (and the week before, for trends),
// turns the aggregates into a deck model (reports/deck) and writes it with
// a Writer (reports/pptx by default; reports/unioffice when built with
// -tags unioffice and a UniDoc license key is set). With a schedule it runs
// as a component: every week at the configured time it writes the deck to
// a directory and e-mails it.
package reports

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// SMTPConfiguration is where the weekly deck is e-mailed (report.smtp).
type SMTPConfiguration struct {
	// Host and Port of the SMTP server (submission port 587 by default).
	// Mail is sent only when Host and To are set.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// Username and Password (or PasswordFile, preferred) for AUTH PLAIN.
	// Empty Username sends without authentication.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password-file"`
	// From is the sender address; To the recipients.
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// StartTLS upgrades the connection with STARTTLS before AUTH and fails
	// when the server does not offer it (default true).
	StartTLS bool `yaml:"starttls"`
	// CAFile is a PEM bundle to verify the server's certificate (default:
	// the system roots).
	CAFile string `yaml:"ca-file"`
	// Timeout bounds one delivery (connect to QUIT).
	Timeout time.Duration `yaml:"timeout"`
}

// Configuration is the report section of the configuration file.
type Configuration struct {
	// Timezone (IANA name) in which weeks start (Monday 00:00) and the
	// schedule is read. Default "UTC".
	Timezone string `yaml:"timezone"`
	// OutDir is where scheduled decks are written, as telemetry-report-<week>.pptx.
	OutDir string `yaml:"out-dir"`
	// Schedule is when the scheduled mode writes last week's deck:
	// "<weekday> HH:MM", e.g. "Mon 07:00" (the default).
	Schedule string `yaml:"schedule"`
	// TopN is the number of rows in the top-congested-interfaces and
	// worst-links tables. Default 10.
	TopN int `yaml:"top-n"`
	// CongestionThreshold is the utilization (0..1) above which an
	// interface-window counts as congested. Default 0.8.
	CongestionThreshold float64 `yaml:"congestion-threshold"`
	// Scope names what the report covers, on the title slide. Default "All sites".
	Scope string `yaml:"scope"`
	// ExpectedSites are sites that must appear in the report; a site listed
	// here (or in the devices inventory) without data is reported missing.
	ExpectedSites []string `yaml:"expected-sites"`
	// Dedup chooses how rows of a replayed batch that ClickHouse has not
	// merged yet are counted once:
	//   auto  (default) a cheap check (count() against uniqExact of the
	//         natural key's hash, per table, over the two weeks) decides:
	//         reads are plain when no table holds a duplicate, with FINAL
	//         otherwise; exact either way;
	//   final always read with FINAL (exact; on 18.16 FINAL is
	//         single-threaded, about 5× slower for a 1,000-interface week);
	//   none  read rows as stored (fastest; a replayed batch not merged yet
	//         would count twice).
	// The appendix says which mode was used.
	Dedup string `yaml:"dedup"`
	// QueryTimeout bounds the ClickHouse queries of one deck. Default 2m.
	QueryTimeout time.Duration     `yaml:"query-timeout"`
	SMTP         SMTPConfiguration `yaml:"smtp"`
	// Tenants are the tenants that get a weekly deck of their own
	// (ForTenant; docs/tenancy.md). None: only the provider's deck.
	Tenants []TenantReport `yaml:"tenants"`
	// TenantPasswordDir holds one file per tenant id with the password of
	// its read-only ClickHouse user, which a tenant's deck is built as.
	TenantPasswordDir string `yaml:"tenant-password-dir"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		Timezone:            "UTC",
		OutDir:              "reports",
		Schedule:            "Mon 07:00",
		TopN:                10,
		CongestionThreshold: 0.8,
		Scope:               "All sites",
		Dedup:               DedupAuto,
		QueryTimeout:        2 * time.Minute,
		SMTP: SMTPConfiguration{
			Port:     587,
			StartTLS: true,
			Timeout:  time.Minute,
		},
	}
}

// Dedup modes (see Configuration.Dedup).
const (
	DedupAuto  = "auto"
	DedupFinal = "final"
	DedupNone  = "none"
)

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error {
	switch c.Dedup {
	case DedupAuto, DedupFinal, DedupNone:
	default:
		return fmt.Errorf("dedup: %q is not auto, final or none", c.Dedup)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return fmt.Errorf("timezone: unknown time zone %q", c.Timezone)
	}
	if _, err := ParseSchedule(c.Schedule); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if c.TopN < 1 || c.TopN > 50 {
		return fmt.Errorf("top-n: must be between 1 and 50, got %d", c.TopN)
	}
	if c.CongestionThreshold <= 0 || c.CongestionThreshold > 1 {
		return fmt.Errorf("congestion-threshold: must be in (0, 1], got %g", c.CongestionThreshold)
	}
	if c.QueryTimeout <= 0 {
		return errors.New("query-timeout: must be positive")
	}
	if err := c.SMTP.validate(); err != nil {
		return fmt.Errorf("smtp.%w", err)
	}
	seen := map[string]bool{}
	for i, t := range c.Tenants {
		if err := t.validate(); err != nil {
			return fmt.Errorf("tenants[%d].%w", i, err)
		}
		if len(t.To) > 0 && c.SMTP.Host == "" {
			return fmt.Errorf("tenants[%d].to: needs smtp.host", i)
		}
		if seen[t.ID] {
			return fmt.Errorf("tenants[%d].id: %q listed twice", i, t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

func (s *SMTPConfiguration) validate() error {
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("port: must be 1..65535, got %d", s.Port)
	}
	if s.Password != "" && s.PasswordFile != "" {
		return errors.New("password: set password or password-file, not both")
	}
	if s.Timeout <= 0 {
		return errors.New("timeout: must be positive")
	}
	if !s.Enabled() {
		if s.Host == "" && len(s.To) > 0 {
			return errors.New("host: required when to is set")
		}
		return nil
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("from: not an e-mail address: %q", s.From)
	}
	for _, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("to: not an e-mail address: %q", to)
		}
	}
	if strings.ContainsAny(s.Host, " /") {
		return fmt.Errorf("host: not a host name: %q", s.Host)
	}
	return nil
}

// Enabled says whether scheduled decks are e-mailed.
func (s *SMTPConfiguration) Enabled() bool { return s.Host != "" && len(s.To) > 0 }

// Location is the configured time zone (UTC if invalid; Validate reports that).
func (c *Configuration) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}
