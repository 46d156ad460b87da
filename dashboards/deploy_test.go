package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployUpToDate checks deploy/grafana holds exactly the generated
// dashboards and provisions data sources with the uids they reference.
// Regenerate with: go test ./dashboards -run TestDeployUpToDate -update
// (same as: telemetry dashboards generate --out deploy/grafana/dashboards).
func TestDeployUpToDate(t *testing.T) {
	deploy := filepath.Join("..", "deploy", "grafana")
	ds, err := Build(DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if _, err := Generate(DefaultConfiguration(), filepath.Join(deploy, "dashboards")); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(deploy, "dashboards", "*.json"))
	if len(files) != len(ds) {
		t.Errorf("%d files in deploy/grafana/dashboards, want %d", len(files), len(ds))
	}
	for _, d := range ds {
		want, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(deploy, "dashboards", d.FileName()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("deploy/grafana/dashboards/%s is stale (%v): regenerate it", d.FileName(), err)
		}
	}
	cfg := DefaultConfiguration()
	for file, want := range map[string][2]string{
		"clickhouse.yaml": {ClickHousePluginID, cfg.ClickHouseDatasourceUID},
		"prometheus.yaml": {"prometheus", cfg.PrometheusDatasourceUID},
	} {
		var p struct {
			Datasources []struct{ UID, Type string } `yaml:"datasources"`
		}
		b, err := os.ReadFile(filepath.Join(deploy, "datasources", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &p); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(p.Datasources) != 1 || p.Datasources[0].Type != want[0] || p.Datasources[0].UID != want[1] {
			t.Errorf("%s: %+v, want type %s uid %s", file, p.Datasources, want[0], want[1])
		}
	}
	var prov struct {
		Providers []struct {
			FolderUID string `yaml:"folderUid"`
			Options   struct{ Path string }
		} `yaml:"providers"`
	}
	b, err := os.ReadFile(filepath.Join(deploy, "dashboards.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Providers) != 1 || prov.Providers[0].FolderUID != cfg.FolderUID || prov.Providers[0].Options.Path == "" {
		t.Errorf("dashboards.yaml: %+v", prov)
	}
}
