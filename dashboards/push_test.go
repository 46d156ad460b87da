package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeGrafana implements the part of Grafana's HTTP API push uses, with
// Grafana's rules: Bearer token, folders by uid, dashboards upserted by uid
// (412 without overwrite, or when another uid has the same title in the folder).
type fakeGrafana struct {
	token string

	mu         sync.Mutex
	folders    map[string]string // uid -> title
	dashboards map[string]storedDashboard
	requests   []string
}

type storedDashboard struct {
	folder, title string
	version       int
	model         map[string]any
}

func newFakeGrafana(t *testing.T, token string) (*fakeGrafana, *httptest.Server) {
	g := &fakeGrafana{token: token, folders: map[string]string{}, dashboards: map[string]storedDashboard{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	return g, srv
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *fakeGrafana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		reply(w, http.StatusUnauthorized, map[string]string{"message": "invalid API key"})
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/folders/"):
		uid := strings.TrimPrefix(r.URL.Path, "/api/folders/")
		title, ok := g.folders[uid]
		if !ok {
			reply(w, http.StatusNotFound, map[string]string{"message": "folder not found"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"uid": uid, "title": title})
	case r.Method == http.MethodPost && r.URL.Path == "/api/folders":
		var f struct{ UID, Title string }
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.Title == "" {
			reply(w, http.StatusBadRequest, map[string]string{"message": "bad folder"})
			return
		}
		if _, ok := g.folders[f.UID]; ok {
			reply(w, http.StatusConflict, map[string]string{"message": "a folder with the same uid already exists"})
			return
		}
		g.folders[f.UID] = f.Title
		reply(w, http.StatusOK, map[string]any{"uid": f.UID, "title": f.Title})
	case r.Method == http.MethodPost && r.URL.Path == "/api/dashboards/db":
		var req struct {
			Dashboard map[string]any `json:"dashboard"`
			FolderUID string         `json:"folderUid"`
			Overwrite bool           `json:"overwrite"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
			return
		}
		uid, _ := req.Dashboard["uid"].(string)
		title, _ := req.Dashboard["title"].(string)
		if uid == "" || title == "" {
			reply(w, http.StatusBadRequest, map[string]string{"message": "Dashboard title cannot be empty"})
			return
		}
		if _, ok := g.folders[req.FolderUID]; !ok {
			reply(w, http.StatusBadRequest, map[string]string{"message": "folder not found"})
			return
		}
		for u, d := range g.dashboards {
			if u != uid && d.folder == req.FolderUID && d.title == title {
				reply(w, http.StatusPreconditionFailed, map[string]string{"status": "name-exists", "message": "A dashboard with the same name in the folder already exists"})
				return
			}
		}
		old, exists := g.dashboards[uid]
		if exists && !req.Overwrite {
			reply(w, http.StatusPreconditionFailed, map[string]string{"status": "version-mismatch", "message": "The dashboard has been changed by someone else"})
			return
		}
		d := storedDashboard{folder: req.FolderUID, title: title, version: old.version + 1, model: req.Dashboard}
		g.dashboards[uid] = d
		reply(w, http.StatusOK, map[string]any{"id": len(g.dashboards), "uid": uid, "url": "/d/" + uid, "status": "success", "version": d.version})
	default:
		reply(w, http.StatusNotFound, map[string]string{"message": "not found"})
	}
}

func testPusher(t *testing.T, url, token string, reg prometheus.Registerer) *Pusher {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.GrafanaURL = url
	cfg.Token = token
	p, err := NewPusher(cfg, Dependencies{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushUpsertsIdempotently(t *testing.T) {
	g, srv := newFakeGrafana(t, "s3cret")
	ds, err := Build(DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p := testPusher(t, srv.URL, "s3cret", reg)
	for round := 1; round <= 2; round++ {
		res, err := p.Push(context.Background(), ds)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(res) != len(ds) {
			t.Fatalf("round %d: %d results", round, len(res))
		}
		for i, r := range res {
			if r.UID != ds[i].UID || r.Version != round || r.Status != "success" {
				t.Errorf("round %d: result %+v", round, r)
			}
		}
	}
	if len(g.folders) != 1 || g.folders["telemetry"] != "Network telemetry" {
		t.Errorf("folders %v", g.folders)
	}
	if len(g.dashboards) != 5 {
		t.Errorf("%d dashboards stored", len(g.dashboards))
	}
	for uid, d := range g.dashboards {
		if d.folder != "telemetry" || d.model["uid"] != uid {
			t.Errorf("%s stored in %q: %v", uid, d.folder, d.model["uid"])
		}
	}
	// The folder is created once, then only looked up.
	creates := 0
	for _, r := range g.requests {
		if r == "POST /api/folders" {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("folder created %d times: %v", creates, g.requests)
	}
	if got := counterValue(t, p.pushed); got != 10 {
		t.Errorf("pushed counter %v", got)
	}
}

func TestPushUnauthorized(t *testing.T) {
	g, srv := newFakeGrafana(t, "right")
	ds, _ := Build(DefaultConfiguration())
	p := testPusher(t, srv.URL, "wrong", nil)
	_, err := p.Push(context.Background(), ds)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401 APIError", err)
	}
	if !strings.Contains(err.Error(), "token") || !strings.Contains(err.Error(), "invalid API key") {
		t.Errorf("error does not help: %v", err)
	}
	if len(g.dashboards) != 0 || len(g.folders) != 0 {
		t.Errorf("something was stored without auth")
	}
	if got := counterValue(t, p.failed.WithLabelValues("401")); got != 1 {
		t.Errorf("401 counter %v", got)
	}
}

func TestPushNameConflict(t *testing.T) {
	g, srv := newFakeGrafana(t, "tok")
	g.folders["telemetry"] = "Network telemetry"
	g.dashboards["someone-else"] = storedDashboard{folder: "telemetry", title: "Fabric overview", version: 3}
	ds, _ := Build(DefaultConfiguration())
	p := testPusher(t, srv.URL, "tok", nil)
	_, err := p.Push(context.Background(), ds)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed {
		t.Fatalf("err = %v, want a 412 APIError", err)
	}
	if !strings.Contains(err.Error(), "same title") {
		t.Errorf("error does not explain 412: %v", err)
	}
}

func TestTokenFile(t *testing.T) {
	_, srv := newFakeGrafana(t, "from-file")
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfiguration()
	cfg.GrafanaURL = srv.URL
	cfg.TokenFile = f
	p, err := NewPusher(cfg, Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := Build(cfg)
	if _, err := p.Push(context.Background(), ds[:1]); err != nil {
		t.Fatal(err)
	}
	cfg.TokenFile = ""
	if _, err := NewPusher(cfg, Dependencies{}); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token: err = %v", err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Configuration)
		want string
	}{
		{func(c *Configuration) { c.GrafanaURL = "ftp://x" }, "grafana-url:"},
		{func(c *Configuration) { c.FolderUID = "no spaces allowed" }, "folder-uid:"},
		{func(c *Configuration) { c.ClickHouseDatasourceUID = "" }, "clickhouse-datasource-uid:"},
		{func(c *Configuration) { c.FolderTitle = "" }, "folder-title:"},
		{func(c *Configuration) { c.Timeout = 0 }, "timeout:"},
	} {
		c := DefaultConfiguration()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want prefix %q", err, tc.want)
		}
	}
	c := DefaultConfiguration()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
