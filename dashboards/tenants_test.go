package dashboards

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// orgGrafana implements the part of Grafana's HTTP API that PushTenants
// and Push use, with organizations: the token acts in organization 1 (the
// provider's); the server administrator (basic auth) creates organizations
// and acts in the one X-Grafana-Org-Id names, and only there; folders,
// dashboards and data sources belong to one organization.
type orgGrafana struct {
	token, admin, password string

	mu   sync.Mutex
	orgs map[int]*grafanaOrg
}

type grafanaOrg struct {
	name        string
	folders     map[string]string
	dashboards  map[string]storedDashboard
	datasources map[string]map[string]any
}

func newOrg(name string) *grafanaOrg {
	return &grafanaOrg{name: name, folders: map[string]string{}, dashboards: map[string]storedDashboard{}, datasources: map[string]map[string]any{}}
}

func (g *orgGrafana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	org := 0
	admin := false
	if u, p, ok := r.BasicAuth(); ok {
		if u != g.admin || p != g.password {
			reply(w, http.StatusUnauthorized, map[string]string{"message": "invalid username or password"})
			return
		}
		admin, org = true, 1
		if h := r.Header.Get("X-Grafana-Org-Id"); h != "" {
			org, _ = strconv.Atoi(h)
		}
	} else if r.Header.Get("Authorization") == "Bearer "+g.token {
		org = 1
		if r.Header.Get("X-Grafana-Org-Id") != "" {
			reply(w, http.StatusUnauthorized, map[string]string{"message": "a token cannot switch organization"})
			return
		}
	} else {
		reply(w, http.StatusUnauthorized, map[string]string{"message": "invalid API key"})
		return
	}
	o := g.orgs[org]
	if o == nil {
		reply(w, http.StatusUnauthorized, map[string]string{"message": "not a member of the organization"})
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/orgs/name/") && admin:
		name := strings.TrimPrefix(path, "/api/orgs/name/")
		for id, o := range g.orgs {
			if o.name == name {
				reply(w, http.StatusOK, map[string]any{"id": id, "name": name})
				return
			}
		}
		reply(w, http.StatusNotFound, map[string]string{"message": "organization not found"})
	case r.Method == http.MethodPost && path == "/api/orgs" && admin:
		var in struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		for _, o := range g.orgs {
			if o.name == in.Name {
				reply(w, http.StatusConflict, map[string]string{"message": "organization name taken"})
				return
			}
		}
		id := len(g.orgs) + 1
		g.orgs[id] = newOrg(in.Name)
		reply(w, http.StatusOK, map[string]any{"orgId": id, "message": "Organization created"})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/datasources/uid/"):
		if _, ok := o.datasources[strings.TrimPrefix(path, "/api/datasources/uid/")]; !ok {
			reply(w, http.StatusNotFound, map[string]string{"message": "data source not found"})
			return
		}
		reply(w, http.StatusOK, map[string]any{})
	case (r.Method == http.MethodPost && path == "/api/datasources") || (r.Method == http.MethodPut && strings.HasPrefix(path, "/api/datasources/uid/")):
		var ds map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ds)
		uid, _ := ds["uid"].(string)
		if _, ok := o.datasources[uid]; ok == (r.Method == http.MethodPost) {
			reply(w, http.StatusConflict, map[string]string{"message": "data source exists / not found"})
			return
		}
		o.datasources[uid] = ds
		reply(w, http.StatusOK, map[string]any{"message": "Datasource added"})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/folders/"):
		uid := strings.TrimPrefix(path, "/api/folders/")
		if _, ok := o.folders[uid]; !ok {
			reply(w, http.StatusNotFound, map[string]string{"message": "folder not found"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"uid": uid})
	case r.Method == http.MethodPost && path == "/api/folders":
		var f struct{ UID, Title string }
		_ = json.NewDecoder(r.Body).Decode(&f)
		o.folders[f.UID] = f.Title
		reply(w, http.StatusOK, map[string]any{"uid": f.UID})
	case r.Method == http.MethodPost && path == "/api/dashboards/db":
		var req struct {
			Dashboard map[string]any `json:"dashboard"`
			FolderUID string         `json:"folderUid"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		uid, _ := req.Dashboard["uid"].(string)
		if _, ok := o.folders[req.FolderUID]; !ok || uid == "" {
			reply(w, http.StatusBadRequest, map[string]string{"message": "folder not found"})
			return
		}
		old := o.dashboards[uid]
		o.dashboards[uid] = storedDashboard{folder: req.FolderUID, version: old.version + 1, model: req.Dashboard}
		reply(w, http.StatusOK, map[string]any{"uid": uid, "status": "success", "version": old.version + 1})
	default:
		reply(w, http.StatusNotFound, map[string]string{"message": "not found"})
	}
}

// datasourceUIDs collects every data source uid a dashboard model names.
func datasourceUIDs(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if ds, ok := x["datasource"].(map[string]any); ok {
			if uid, ok := ds["uid"].(string); ok {
				out[uid] = true
			}
		}
		for _, e := range x {
			datasourceUIDs(e, out)
		}
	case []any:
		for _, e := range x {
			datasourceUIDs(e, out)
		}
	}
}

// TestPushTenants: two tenants and the provider over real HTTP (loopback):
// each tenant gets an organization named by its display name holding one
// ClickHouse data source (the dashboards' uid) that logs in as the
// tenant's ClickHouse user with its password and database and sends no
// setting, and the ClickHouse dashboards exactly as the provider's (same
// definitions), whose every panel and variable names that data source
// only; the provider's organization keeps every dashboard. A second run
// creates nothing new; the token cannot reach a tenant's organization.
func TestPushTenants(t *testing.T) {
	g := &orgGrafana{token: "tok", admin: "admin", password: "adminpw", orgs: map[int]*grafanaOrg{1: newOrg("Main Org.")}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tc := DefaultTenantGrafana()
	tc.AdminPasswordFile = write("admin", "adminpw")
	tc.ClickHousePasswordDir = filepath.Join(dir, "ch")
	if err := os.Mkdir(tc.ClickHousePasswordDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write("ch/acme", "acme-secret")
	write("ch/globex", "globex-secret")
	tenants := []Tenant{{ID: "acme", Name: "ACME Corp"}, {ID: "globex"}}

	cfg := DefaultConfiguration()
	ds, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := testPusher(t, srv.URL, "tok", prometheus.NewRegistry())
	ctx := context.Background()
	for run := 1; run <= 2; run++ {
		if _, err := p.Push(ctx, ds); err != nil {
			t.Fatal(err)
		}
		res, err := p.PushTenants(ctx, tc, tenants, ds)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || len(g.orgs) != 3 {
			t.Fatalf("run %d: %d results, %d organizations, want 2 and 3", run, len(res), len(g.orgs))
		}
	}
	provider := g.orgs[1]
	if len(provider.dashboards) != len(ds) || len(provider.datasources) != 0 {
		t.Errorf("provider's organization: %d dashboards (want %d), %d data sources", len(provider.dashboards), len(ds), len(provider.datasources))
	}
	want := TenantDashboards(cfg, ds)
	if len(want) == 0 || len(want) == len(ds) {
		t.Fatalf("%d of %d dashboards for tenants", len(want), len(ds))
	}
	for _, tn := range tenants {
		var o *grafanaOrg
		name := tn.Name
		if name == "" {
			name = tn.ID
		}
		for _, x := range g.orgs {
			if x.name == name {
				o = x
			}
		}
		if o == nil {
			t.Fatalf("no organization %q", name)
		}
		src := o.datasources[cfg.ClickHouseDatasourceUID]
		jd, _ := src["jsonData"].(map[string]any)
		sj, _ := src["secureJsonData"].(map[string]any)
		if len(o.datasources) != 1 || jd["username"] != "tenant_"+tn.ID || jd["defaultDatabase"] != "telemetry_tenant_"+tn.ID ||
			sj["password"] != tn.ID+"-secret" || src["type"] != ClickHousePluginID {
			t.Errorf("%s: data sources %v", tn.ID, o.datasources)
		}
		if _, ok := jd["customSettings"]; ok {
			t.Errorf("%s: the data source sends settings (its user is readonly = 1): %v", tn.ID, jd)
		}
		if len(o.dashboards) != len(want) {
			t.Errorf("%s: %d dashboards, want %d", tn.ID, len(o.dashboards), len(want))
		}
		for _, d := range want {
			got, ok := o.dashboards[d.UID]
			if !ok || got.version != 2 {
				t.Errorf("%s: dashboard %s missing or at version %d", tn.ID, d.UID, got.version)
				continue
			}
			if !reflect.DeepEqual(got.model, provider.dashboards[d.UID].model) {
				t.Errorf("%s: dashboard %s differs from the provider's", tn.ID, d.UID)
			}
			uids := map[string]bool{}
			datasourceUIDs(got.model, uids)
			for uid := range uids {
				if uid != cfg.ClickHouseDatasourceUID && !strings.HasPrefix(uid, "$") && uid != "-- Grafana --" && uid != "grafana" {
					t.Errorf("%s: dashboard %s names data source %q", tn.ID, d.UID, uid)
				}
			}
		}
	}
	// The token never reaches a tenant's organization.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/folders/telemetry", nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("X-Grafana-Org-Id", "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token in organization 2: HTTP %d", resp.StatusCode)
	}
	// A tenant without a password file is an error naming the key.
	if _, err := p.PushTenants(ctx, tc, []Tenant{{ID: "initech"}}, ds); err == nil || !strings.Contains(err.Error(), "tenants.clickhouse-password-dir") {
		t.Errorf("tenant without a password: %v", err)
	}
}
