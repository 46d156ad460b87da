package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// ClickHousePluginID is the plugin id of Grafana's official ClickHouse data
// source (grafana-clickhouse-datasource, v4).
const ClickHousePluginID = "grafana-clickhouse-datasource"

// Format is the plugin's result shape (sqlutil.FormatQueryOption in the
// plugin's Go backend): 0 time series, 1 table, 2 logs, 3 traces.
type Format int

// Formats of the ClickHouse plugin.
const (
	FormatTimeSeries Format = 0
	FormatTable      Format = 1
	FormatLogs       Format = 2
	FormatTraces     Format = 3
)

// ClickHouseQuery is the ClickHouse plugin's SQL query model (CHSqlQuery):
// the SDK has no typed ClickHouse query, so this is our own dataquery variant.
type ClickHouseQuery struct {
	RefID      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	// EditorType is always "sql" (raw SQL editor, no query builder).
	EditorType string `json:"editorType"`
	// QueryType is "table" or "timeseries" (what the editor shows).
	QueryType string `json:"queryType"`
	RawSQL    string `json:"rawSql"`
	Format    Format `json:"format"`
}

// ImplementsDataqueryVariant marks ClickHouseQuery as a dataquery.
func (ClickHouseQuery) ImplementsDataqueryVariant() {}

// DataqueryType is the datasource plugin id.
func (ClickHouseQuery) DataqueryType() string { return ClickHousePluginID }

// Validate checks the query is complete.
func (q ClickHouseQuery) Validate() error {
	if q.RawSQL == "" {
		return fmt.Errorf("rawSql: must not be empty")
	}
	if q.QueryType != "table" && q.QueryType != "timeseries" {
		return fmt.Errorf("queryType: must be table or timeseries, not %q", q.QueryType)
	}
	return nil
}

// Equals compares two dataqueries.
func (q ClickHouseQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(ClickHouseQuery)
	if !ok {
		return false
	}
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// ClickHouseQueryVariantConfig lets cog unmarshal dashboards holding our queries.
func ClickHouseQueryVariantConfig() variants.DataqueryConfig {
	return variants.DataqueryConfig{
		Identifier: ClickHousePluginID,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			q := ClickHouseQuery{}
			if err := json.Unmarshal(raw, &q); err != nil {
				return nil, err
			}
			return q, nil
		},
	}
}

var _ cog.Builder[variants.Dataquery] = (*ClickHouseQueryBuilder)(nil)

// ClickHouseQueryBuilder builds a ClickHouseQuery.
type ClickHouseQueryBuilder struct {
	q ClickHouseQuery
}

// NewClickHouseQueryBuilder starts a raw-SQL query with the given format.
func NewClickHouseQueryBuilder(sql string, format Format) *ClickHouseQueryBuilder {
	qt := "table"
	if format == FormatTimeSeries {
		qt = "timeseries"
	}
	return &ClickHouseQueryBuilder{q: ClickHouseQuery{
		RefID: "A", EditorType: "sql", QueryType: qt, RawSQL: sql, Format: format,
	}}
}

// RefID sets the query's reference id.
func (b *ClickHouseQueryBuilder) RefID(id string) *ClickHouseQueryBuilder {
	b.q.RefID = id
	return b
}

// Datasource sets the datasource reference.
func (b *ClickHouseQueryBuilder) Datasource(uid string) *ClickHouseQueryBuilder {
	t := ClickHousePluginID
	b.q.Datasource = &common.DataSourceRef{Type: &t, Uid: &uid}
	return b
}

// Build returns the query.
func (b *ClickHouseQueryBuilder) Build() (variants.Dataquery, error) {
	if err := b.q.Validate(); err != nil {
		return nil, err
	}
	return b.q, nil
}
