package reports

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/common/tlsfiles"
	"github.com/meshtelemetry/telemetry/reports/pptx"
)

// SendMail e-mails a text body with one .pptx attachment to cfg.To, over
// SMTP with STARTTLS (when cfg.StartTLS) and AUTH PLAIN (when cfg.Username).
func SendMail(ctx context.Context, cfg SMTPConfiguration, subject, body, filename string, attachment []byte) error {
	if !cfg.Enabled() {
		return errors.New("smtp: host and to must be set")
	}
	msg, err := buildMessage(cfg.From, cfg.To, subject, body, filename, attachment)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(localName()); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", addr, err)
	}
	if cfg.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp %s: server does not offer STARTTLS (set report.smtp.starttls: false only on a trusted network)", addr)
		}
		tc, err := tlsConfig(cfg)
		if err != nil {
			return err
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w", addr, err)
		}
	}
	if cfg.Username != "" {
		password := cfg.Password
		if cfg.PasswordFile != "" {
			b, err := os.ReadFile(cfg.PasswordFile)
			if err != nil {
				return fmt.Errorf("smtp: password-file: %w", err)
			}
			password = strings.TrimRight(string(b), "\r\n")
		}
		// PlainAuth refuses to send the password over an unencrypted
		// connection except to localhost.
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, password, cfg.Host)); err != nil {
			return fmt.Errorf("smtp %s: AUTH: %w", addr, err)
		}
	}
	if err := c.Mail(cfg.From); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", addr, err)
	}
	for _, to := range cfg.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp %s: QUIT: %w", addr, err)
	}
	return nil
}

func localName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func tlsConfig(cfg SMTPConfiguration) (*tls.Config, error) {
	tc, err := tlsfiles.Client{CAFile: cfg.CAFile, ServerName: cfg.Host}.Config()
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return tc, nil
}

// buildMessage is a multipart/mixed message: the text body and the deck
// as a base64 attachment.
func buildMessage(from string, to []string, subject, body, filename string, attachment []byte) ([]byte, error) {
	var b strings.Builder
	boundary := make([]byte, 12)
	if _, err := rand.Read(boundary); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("telemetry-" + fmt.Sprintf("%x", boundary)); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	var h strings.Builder
	fmt.Fprintf(&h, "From: %s\r\n", from)
	fmt.Fprintf(&h, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&h, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&h, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&h, "Message-ID: <%x.%d@telemetry>\r\n", boundary, time.Now().UnixNano())
	h.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&h, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", mw.Boundary())

	tw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	writeBase64(tw, []byte(body))
	aw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType(pptx.ContentType, map[string]string{"name": filename})},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": filename})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	writeBase64(aw, attachment)
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return []byte(h.String() + b.String()), nil
}

// writeBase64 writes data base64-encoded in 76-character lines (RFC 2045).
func writeBase64(w interface{ Write([]byte) (int, error) }, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		_, _ = w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	_, _ = w.Write([]byte(enc + "\r\n"))
}
