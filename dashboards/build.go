package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/barchart"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard is one generated dashboard.
type Dashboard struct {
	UID   string
	Title string
	// Model is the dashboard model as Grafana stores it.
	Model dashboard.Dashboard
}

// JSON is the dashboard model, indented, with a trailing newline: the
// bytes are the same for the same code and configuration.
func (d Dashboard) JSON() ([]byte, error) {
	b, err := d.jsonString()
	return []byte(b), err
}

var htmlUnescape = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

func (d Dashboard) jsonString() (string, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d.Model); err != nil {
		return "", fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	// The SDK's own MarshalJSON methods escape < > & inside panels; JSON
	// allows them literally, and SQL reads better that way.
	return htmlUnescape.Replace(out.String()), nil
}

// FileName is the file Generate writes the dashboard to.
func (d Dashboard) FileName() string { return d.UID + ".json" }

// Build returns the dashboards in a fixed order: fabric overview, interface
// drill-down, site-to-site links, remediation, pipeline health.
func Build(cfg Configuration) ([]Dashboard, error) {
	defs := definitions()
	out := make([]Dashboard, 0, len(defs))
	for _, d := range defs {
		b := &builder{cfg: cfg}
		m, err := b.dashboard(d)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.uid, err)
		}
		out = append(out, Dashboard{UID: d.uid, Title: d.title, Model: m})
	}
	return out, nil
}

// Generate writes every dashboard as DIR/<uid>.json and returns the paths.
func Generate(cfg Configuration, dir string) ([]string, error) {
	ds, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	var paths []string
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, d.FileName())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

type builder struct {
	cfg    Configuration
	nextID uint32
}

func (b *builder) id() uint32 {
	b.nextID++
	return b.nextID
}

func (b *builder) chRef() common.DataSourceRef {
	t := ClickHousePluginID
	uid := b.cfg.ClickHouseDatasourceUID
	return common.DataSourceRef{Type: &t, Uid: &uid}
}

func (b *builder) promRef() common.DataSourceRef {
	t := "prometheus"
	uid := b.cfg.PrometheusDatasourceUID
	return common.DataSourceRef{Type: &t, Uid: &uid}
}

func (b *builder) dashboard(d dashboardDef) (dashboard.Dashboard, error) {
	db := dashboard.NewDashboardBuilder(d.title).
		Uid(d.uid).
		Description(d.description).
		Tags(d.tags).
		Timezone("utc").
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time(d.from, "now").
		Refresh("1m")
	for _, v := range d.variables {
		db.WithVariable(b.variable(v))
	}
	for _, r := range d.rows {
		db.WithRow(dashboard.NewRowBuilder(r.title).Id(b.id()))
		for _, p := range r.panels {
			pb, err := b.panel(p)
			if err != nil {
				return dashboard.Dashboard{}, fmt.Errorf("panel %q: %w", p.title, err)
			}
			db.WithPanel(pb)
		}
	}
	return db.Build()
}

func (b *builder) variable(v variableDef) *dashboard.QueryVariableBuilder {
	q := map[string]any{
		"refId":      "var-" + v.name,
		"editorType": "sql",
		"queryType":  "table",
		"format":     int(FormatTable),
		"rawSql":     v.sql,
	}
	all := "All"
	allValue := "$__all"
	return dashboard.NewQueryVariableBuilder(v.name).
		Label(v.label).
		Datasource(b.chRef()).
		Query(dashboard.StringOrMap{Map: q}).
		Definition(v.sql).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{all}},
			Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{allValue}},
		})
}

func (b *builder) targets(p panelDef) ([]cog.Builder[variants.Dataquery], common.DataSourceRef) {
	if p.sql != "" {
		return []cog.Builder[variants.Dataquery]{
			NewClickHouseQueryBuilder(p.sql, p.format).RefID("A").Datasource(b.cfg.ClickHouseDatasourceUID),
		}, b.chRef()
	}
	var ts []cog.Builder[variants.Dataquery]
	for i, t := range p.promQL {
		ts = append(ts, prometheus.NewDataqueryBuilder().
			RefId(string(rune('A'+i))).
			Expr(t.expr).
			LegendFormat(t.legend).
			Datasource(b.promRef()))
	}
	return ts, b.promRef()
}

func thresholds(steps []step) *dashboard.ThresholdsConfigBuilder {
	ts := make([]dashboard.Threshold, len(steps))
	for i, s := range steps {
		ts[i] = dashboard.Threshold{Value: s.value, Color: s.color}
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

func mappings(m map[string][2]string) []dashboard.ValueMapping {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	opts := map[string]dashboard.ValueMappingResult{}
	for i, k := range keys {
		text, color := m[k][0], m[k][1]
		idx := int32(i)
		opts[k] = dashboard.ValueMappingResult{Text: &text, Color: &color, Index: &idx}
	}
	vm := dashboard.NewValueMap()
	vm.Options = opts
	return []dashboard.ValueMapping{{ValueMap: vm}}
}

// panel builds one panel; the SDK's generated builders share their methods
// but no interface, so each kind is set up on its own.
func (b *builder) panel(p panelDef) (cog.Builder[dashboard.Panel], error) {
	targets, ds := b.targets(p)
	if len(targets) == 0 {
		return nil, fmt.Errorf("no query")
	}
	switch p.kind {
	case kindTimeseries:
		pb := timeseries.NewPanelBuilder().Id(b.id()).Title(p.title).Description(p.description).Datasource(ds).Targets(targets).
			Span(p.w).Height(p.h).Unit(p.unit).FillOpacity(10).LineWidth(1).ShowPoints(common.VisibilityModeNever).
			Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).ShowLegend(true).Calcs([]string{"mean", "max", "lastNotNull"}))
		if p.thresholds != nil {
			pb.Thresholds(thresholds(p.thresholds)).ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
		}
		if p.min != nil {
			pb.Min(*p.min)
		}
		if p.max != nil {
			pb.Max(*p.max)
		}
		return pb, nil
	case kindTable:
		pb := table.NewPanelBuilder().Id(b.id()).Title(p.title).Description(p.description).Datasource(ds).Targets(targets).
			Span(p.w).Height(p.h)
		if p.unit != "" {
			pb.Unit(p.unit)
		}
		if p.thresholds != nil {
			pb.Thresholds(thresholds(p.thresholds))
		}
		for _, o := range p.overrides {
			props := []dashboard.DynamicConfigValue{{Id: "unit", Value: o.unit}}
			if o.steps != nil {
				tc, err := thresholds(o.steps).Build()
				if err != nil {
					return nil, err
				}
				props = append(props, dashboard.DynamicConfigValue{Id: "thresholds", Value: tc},
					dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}})
			}
			pb.OverrideByName(o.field, props)
		}
		if p.matrix != nil {
			pb.WithTransformation(dashboard.DataTransformerConfig{Id: "groupingToMatrix", Options: map[string]any{
				"rowField": p.matrix[0], "columnField": p.matrix[1], "valueField": p.matrix[2],
			}})
		}
		return pb, nil
	case kindStat:
		pb := stat.NewPanelBuilder().Id(b.id()).Title(p.title).Description(p.description).Datasource(ds).Targets(targets).
			Span(p.w).Height(p.h).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
		if p.unit != "" {
			pb.Unit(p.unit)
		}
		if p.thresholds != nil {
			pb.Thresholds(thresholds(p.thresholds))
		}
		return pb, nil
	case kindStateTimeline:
		pb := statetimeline.NewPanelBuilder().Id(b.id()).Title(p.title).Description(p.description).Datasource(ds).Targets(targets).
			Span(p.w).Height(p.h).Mappings(mappings(p.mappings)).ShowValue(common.VisibilityModeNever).MergeValues(true)
		return pb, nil
	case kindBarChart:
		pb := barchart.NewPanelBuilder().Id(b.id()).Title(p.title).Description(p.description).Datasource(ds).Targets(targets).
			Span(p.w).Height(p.h).XField(p.xField).Stacking(common.StackingModeNone)
		if p.unit != "" {
			pb.Unit(p.unit)
		}
		return pb, nil
	}
	return nil, fmt.Errorf("unknown panel kind %q", p.kind)
}
