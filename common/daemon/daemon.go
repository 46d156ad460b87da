// Package daemon is the plumbing every long-running subcommand shares: the
// logger, and the HTTP endpoint serving /metrics, /healthz and /readyz.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Configuration is the http and log section.
type Configuration struct {
	// Listen is the address of /metrics, /healthz and /readyz. Default
	// 127.0.0.1:9464 (loopback only); "" disables the endpoint.
	Listen string `yaml:"listen"`
	// LogFormat: "auto" (text on a terminal, JSON otherwise), "json" or "text".
	LogFormat string `yaml:"log-format"`
	// LogLevel: debug, info, warn or error.
	LogLevel string `yaml:"log-level"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{Listen: "127.0.0.1:9464", LogFormat: "auto", LogLevel: "info"}
}

// Validate checks the section.
func (c *Configuration) Validate() error {
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		return fmt.Errorf("log-format: %q is not auto, json or text", c.LogFormat)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("listen: %q is not host:port", c.Listen)
		}
	}
	return nil
}

// NewLogger builds the process logger writing to w.
func (c *Configuration) NewLogger(w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: l}
	format := c.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Check reports whether a component is ready; nil means ready.
type Check func(ctx context.Context) error

// Daemon serves the process's metrics and health.
type Daemon struct {
	cfg      Configuration
	log      *slog.Logger
	Registry *prometheus.Registry

	mu     sync.Mutex
	checks map[string]Check
	srv    *http.Server
	ln     net.Listener
}

// New builds a daemon with its own Prometheus registry (Go and process
// collectors included).
func New(cfg Configuration, log *slog.Logger) *Daemon {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Daemon{cfg: cfg, log: log, Registry: reg, checks: map[string]Check{}}
}

// AddReadiness registers a readiness check under name.
func (d *Daemon) AddReadiness(name string, c Check) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checks[name] = c
}

// Handler returns the HTTP handler (exposed for tests and embedding).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return mux
}

// Ready runs every readiness check; the error lists those that failed.
func (d *Daemon) Ready(ctx context.Context) error {
	d.mu.Lock()
	names := make([]string, 0, len(d.checks))
	for n := range d.checks {
		names = append(names, n)
	}
	checks := d.checks
	d.mu.Unlock()
	sort.Strings(names)
	var failed []string
	for _, n := range names {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := checks[n](cctx); err != nil {
			failed = append(failed, n+": "+err.Error())
		}
		cancel()
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// Start listens and serves in the background. It returns once the listener
// is bound, so a bad address fails here.
func (d *Daemon) Start() error {
	if d.cfg.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", d.cfg.Listen, err)
	}
	d.ln = ln
	d.srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	d.log.Info("serving metrics and health", "addr", ln.Addr().String())
	if !IsLoopback(ln.Addr().String()) {
		d.log.Warn("metrics and health endpoint is reachable beyond this host and has no authentication; "+
			"keep http.listen on 127.0.0.1 unless a firewall or proxy protects it", "addr", ln.Addr().String())
	}
	return nil
}

// IsLoopback reports whether addr (host:port, or a host) names only this
// host: a loopback IP or "localhost". An empty host (":9464") or 0.0.0.0
// listens on every interface and is not loopback.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr is the bound address ("" before Start or when disabled).
func (d *Daemon) Addr() string {
	if d.ln == nil {
		return ""
	}
	return d.ln.Addr().String()
}

// Stop shuts the HTTP server down.
func (d *Daemon) Stop() error {
	if d.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.srv.Shutdown(ctx)
}
