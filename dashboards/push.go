package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Dependencies are what the pusher needs besides its configuration.
type Dependencies struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// HTTPClient is optional (http.Client with cfg.Timeout by default).
	HTTPClient *http.Client
}

// Pusher upserts the dashboards into Grafana through its HTTP API.
type Pusher struct {
	cfg     Configuration
	base    *url.URL
	token   string
	log     *slog.Logger
	client  *http.Client
	pushed  prometheus.Counter
	failed  *prometheus.CounterVec
	folders prometheus.Counter
}

// APIError is a non-2xx answer from Grafana.
type APIError struct {
	Op      string // what we were doing ("look up folder telemetry", ...)
	Status  int
	Message string // Grafana's "message", or the body
}

func (e *APIError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized:
		hint = " (the token is missing, wrong or expired: set dashboards.token, TELEMETRY_DASHBOARDS_TOKEN or --token-file)"
	case http.StatusForbidden:
		hint = " (the token's service account lacks permission: it needs the Editor role, or edit rights on the folder)"
	case http.StatusPreconditionFailed:
		hint = " (Grafana refused the upsert: a dashboard with the same title exists in the folder under another uid, or it is provisioned/plugin-owned)"
	case http.StatusNotFound:
		hint = " (check grafana-url)"
	}
	return fmt.Sprintf("grafana: %s: HTTP %d: %s%s", e.Op, e.Status, e.Message, hint)
}

// ErrNoToken is returned when no token is configured.
var ErrNoToken = errors.New("token: no Grafana token (set dashboards.token, TELEMETRY_DASHBOARDS_TOKEN, --token or token-file)")

// ResolveToken returns the configured token: Token, else the content of TokenFile.
func (c Configuration) ResolveToken() (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("token-file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("token-file: %s is empty", c.TokenFile)
	}
	return "", ErrNoToken
}

// NewPusher builds a pusher; it does not talk to Grafana yet.
func NewPusher(cfg Configuration, deps Dependencies) (*Pusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.GrafanaURL == "" {
		return nil, errors.New("grafana-url: must be set to push")
	}
	base, err := url.Parse(strings.TrimRight(cfg.GrafanaURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("grafana-url: %w", err)
	}
	token, err := cfg.ResolveToken()
	if err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	client := deps.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	p := &Pusher{
		cfg: cfg, base: base, token: token, log: deps.Logger, client: client,
		pushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "telemetry_dashboards_pushed_total", Help: "Dashboards upserted into Grafana.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetry_dashboards_push_errors_total", Help: "Failed Grafana API calls, by reason (HTTP status or transport).",
		}, []string{"reason"}),
		folders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "telemetry_dashboards_folders_created_total", Help: "Grafana folders created.",
		}),
	}
	for _, c := range []prometheus.Collector{p.pushed, p.failed, p.folders} {
		if err := deps.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("dashboards metrics: %w", err)
		}
	}
	return p, nil
}

// PushResult is Grafana's answer for one dashboard.
type PushResult struct {
	UID     string `json:"uid"`
	URL     string `json:"url"`
	Version int    `json:"version"`
	Status  string `json:"status"`
}

// Push makes sure the folder exists (looked up by uid, created if missing),
// then upserts every dashboard into it with overwrite, keyed by uid: running
// it twice changes nothing but the dashboards' versions.
func (p *Pusher) Push(ctx context.Context, ds []Dashboard) ([]PushResult, error) {
	return p.push(ctx, session{}, ds)
}

// push is Push as s (in s's organization).
func (p *Pusher) push(ctx context.Context, s session, ds []Dashboard) ([]PushResult, error) {
	if err := p.ensureFolder(ctx, s); err != nil {
		return nil, err
	}
	out := make([]PushResult, 0, len(ds))
	for _, d := range ds {
		body := map[string]any{
			"dashboard": d.Model,
			"folderUid": p.cfg.FolderUID,
			"overwrite": true,
			"message":   "telemetry dashboards push",
		}
		var r PushResult
		if err := p.send(ctx, s, http.MethodPost, "/api/dashboards/db", body, &r, "upsert dashboard "+d.UID); err != nil {
			return out, err
		}
		p.pushed.Inc()
		p.log.Info("dashboard pushed", "uid", r.UID, "version", r.Version, "url", r.URL)
		out = append(out, r)
	}
	return out, nil
}

func (p *Pusher) ensureFolder(ctx context.Context, s session) error {
	uid := p.cfg.FolderUID
	err := p.send(ctx, s, http.MethodGet, "/api/folders/"+url.PathEscape(uid), nil, nil, "look up folder "+uid)
	var ae *APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
	default:
		return err
	}
	body := map[string]string{"uid": uid, "title": p.cfg.FolderTitle}
	if err := p.send(ctx, s, http.MethodPost, "/api/folders", body, nil, "create folder "+uid); err != nil {
		return err
	}
	p.folders.Inc()
	p.log.Info("folder created", "uid", uid, "title", p.cfg.FolderTitle)
	return nil
}

// send makes one API call as s: with the token (the provider's
// organization), or as the server administrator in organization s.org.
func (p *Pusher) send(ctx context.Context, s session, method, path string, in, out any, op string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("grafana: %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("grafana: %s: %w", op, err)
	}
	if s.user != "" {
		req.SetBasicAuth(s.user, s.password)
		if s.org != 0 {
			req.Header.Set("X-Grafana-Org-Id", fmt.Sprint(s.org))
		}
	} else {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.failed.WithLabelValues("transport").Inc()
		return fmt.Errorf("grafana: %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		p.failed.WithLabelValues("transport").Inc()
		return fmt.Errorf("grafana: %s: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A missing folder is expected on the first push: not an error to count.
		if !(resp.StatusCode == http.StatusNotFound && method == http.MethodGet) {
			p.failed.WithLabelValues(fmt.Sprint(resp.StatusCode)).Inc()
		}
		msg := strings.TrimSpace(string(b))
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) == nil && m.Message != "" {
			msg = m.Message
		}
		return &APIError{Op: op, Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("grafana: %s: bad answer: %w", op, err)
		}
	}
	return nil
}
