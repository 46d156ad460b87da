// Package tlsfiles builds the client side of TLS from the PEM files a
// configuration names: the CA bundle to trust and an optional client
// certificate (mutual TLS). Kafka, ClickHouse and gNMI connections share it.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Client names the files of a TLS client configuration.
type Client struct {
	// CAFile is a PEM bundle of the CAs to trust ("" = the system's).
	CAFile string
	// CertFile and KeyFile are the client certificate and key (mTLS); both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// SkipVerify accepts any server certificate; only when asked.
	SkipVerify bool
}

// Config reads the files and returns a TLS 1.2+ client configuration.
// Errors name the key (ca-file, cert-file) and the file.
func (c Client) Config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.SkipVerify} //nolint:gosec // only when asked
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca-file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert-file/key-file (client certificate): %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
