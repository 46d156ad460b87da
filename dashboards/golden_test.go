package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the generated dashboards")

// TestGolden compares the generated JSON with testdata/golden; run
// `go test ./dashboards -run TestGolden -update` after an intended change.
func TestGolden(t *testing.T) {
	dir := t.TempDir()
	paths, err := Generate(DefaultConfiguration(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"telemetry-fabric-overview.json", "telemetry-interface.json", "telemetry-links.json", "telemetry-remediation.json", "telemetry-pipeline.json"}
	if len(paths) != len(want) {
		t.Fatalf("generated %d files, want %d", len(paths), len(want))
	}
	golden := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("file %d is %s, want %s", i, filepath.Base(p), want[i])
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		g := filepath.Join(golden, filepath.Base(p))
		if *update {
			if err := os.WriteFile(g, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		exp, err := os.ReadFile(g)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from %s (run with -update if intended)", p, g)
		}
	}
	// Deterministic: a second run gives the same bytes.
	dir2 := t.TempDir()
	if _, err := Generate(DefaultConfiguration(), dir2); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(filepath.Join(dir2, filepath.Base(p)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", filepath.Base(p))
		}
	}
}

// TestDashboardModel checks what Grafana and the ClickHouse plugin rely on in the JSON.
func TestDashboardModel(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.ClickHouseDatasourceUID = "ch-uid"
	ds, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			UID        string `json:"uid"`
			Templating struct {
				List []struct {
					Name       string         `json:"name"`
					Type       string         `json:"type"`
					Query      map[string]any `json:"query"`
					Datasource struct{ Type, UID string }
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				Type       string `json:"type"`
				Title      string `json:"title"`
				Datasource struct {
					Type string `json:"type"`
					UID  string `json:"uid"`
				} `json:"datasource"`
				Targets []map[string]any   `json:"targets"`
				GridPos struct{ W, H int } `json:"gridPos"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.UID != d.UID {
			t.Errorf("uid %q, want %q", m.UID, d.UID)
		}
		var names []string
		for _, v := range m.Templating.List {
			names = append(names, v.Name)
			if v.Type != "query" || v.Query["rawSql"] == "" || v.Query["editorType"] != "sql" {
				t.Errorf("%s: variable %s: %+v", d.UID, v.Name, v)
			}
		}
		if strings.Join(names, ",") != "site,device,interface" {
			t.Errorf("%s: variables %v", d.UID, names)
		}
		panels := 0
		for _, p := range m.Panels {
			if p.Type == "row" {
				continue
			}
			panels++
			if p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s/%s: no size", d.UID, p.Title)
			}
			for _, tg := range p.Targets {
				ds, _ := tg["datasource"].(map[string]any)
				switch p.Datasource.Type {
				case ClickHousePluginID:
					if tg["editorType"] != "sql" || tg["rawSql"] == "" || ds["uid"] != "ch-uid" || ds["type"] != ClickHousePluginID {
						t.Errorf("%s/%s: ClickHouse target %v", d.UID, p.Title, tg)
					}
					f, _ := tg["format"].(float64)
					qt := tg["queryType"]
					if !(f == 0 && qt == "timeseries" || f == 1 && qt == "table") {
						t.Errorf("%s/%s: format %v with queryType %v", d.UID, p.Title, f, qt)
					}
				case "prometheus":
					if tg["expr"] == "" {
						t.Errorf("%s/%s: no expr", d.UID, p.Title)
					}
				default:
					t.Errorf("%s/%s: datasource %+v", d.UID, p.Title, p.Datasource)
				}
			}
		}
		if panels < 4 {
			t.Errorf("%s: only %d panels", d.UID, panels)
		}
	}
}
