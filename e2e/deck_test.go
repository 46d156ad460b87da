package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/demo"
	"github.com/meshtelemetry/telemetry/reports"
)

// deckScenario: 5 % loss on one uplink for 10 s. The interface-loss rule
// fires after 5 s, its webhook is delivered, and the loss ends by itself:
// the event resolves with no person involved.
const deckScenario = `faults:
  - type: loss
    start: 3s
    duration: 10s
    device: site1-sw1
    interface: Ethernet1
    ratio: 0.05
`

// TestDeckFromRealRun runs the pipeline with a fault that resolves by
// itself after its webhook, renders the weekly deck of the run's week from
// what the sink stored, and reads the remediation figures and the trend
// charts back from the .pptx: the events are counted as resolved
// automatically, and the trends' points (one hour of data) are visible.
func TestDeckFromRealRun(t *testing.T) {
	testenv.Long(t)
	chAddr := testenv.ClickHouse(t)
	cfg := testConfig(t, chAddr, "deck")
	scenario := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(scenario, []byte(deckScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	sum, err := demo.Run(ctx, cfg, slog.New(slog.DiscardHandler), demo.Options{
		Duration:       30 * time.Second,
		Scenario:       scenario,
		ClickHouse:     chAddr,
		Window:         time.Second,
		SampleInterval: 250 * time.Millisecond,
		Progress:       10 * time.Second,
	}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	sum.Print(&out)
	t.Log(out.String())
	if sum.Fired == 0 || sum.Resolved == 0 {
		t.Fatalf("the fault fired or resolved no event:\n%s", out.String())
	}

	conn, err := openCH(ctx, cfg, chAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	week := reports.WeekOf(start)
	from, to := week.Start(time.UTC), week.End(time.UTC)
	// What the pipeline recorded, read straight from the table: one row per
	// event of the week with its transitions.
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT event_id, groupArray(state) FROM %s.remediation_events FINAL
		WHERE fired_at >= toDateTime(%d) AND fired_at < toDateTime(%d) GROUP BY event_id`, cfg.ClickHouse.Database, from.Unix(), to.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	var events, auto int
	for rows.Next() {
		var id string
		var states []string
		if err := rows.Scan(&id, &states); err != nil {
			t.Fatal(err)
		}
		has := func(s ...string) bool {
			for _, st := range states {
				for _, x := range s {
					if st == x {
						return true
					}
				}
			}
			return false
		}
		events++
		if has("resolved") && has("dispatched", "acknowledged") && !has("escalated", "failed") {
			auto++
		}
		t.Logf("event %s: %v", id, states)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if events == 0 || auto == 0 {
		t.Fatalf("recorded %d events, %d resolved automatically: the scenario's fault must resolve by itself after its webhook", events, auto)
	}

	rcfg := reports.DefaultConfiguration()
	rcfg.OutDir = t.TempDir()
	c, err := reports.New(rcfg, reports.Dependencies{Conn: conn, Database: cfg.ClickHouse.Database,
		Registerer: prometheus.NewRegistry(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(rcfg.OutDir, reports.FileName(week))
	if _, err := c.WriteFile(ctx, week, path); err != nil {
		t.Fatal(err)
	}
	parts := readParts(t, path)
	summary := strings.Join(slideText(t, parts, "Executive summary"), "\n")
	want := fmt.Sprintf("%d remediation events", events)
	share := fmt.Sprintf("Of these, %d resolved automatically (%.0f%%)", auto, 100*float64(auto)/float64(events))
	if !strings.Contains(summary, want) || !strings.Contains(summary, share) {
		t.Errorf("executive summary does not say %q and %q:\n%s", want, share, summary)
	}
	remed := strings.Join(slideText(t, parts, "Remediation summary"), "\n")
	if tile := fmt.Sprintf("Resolved automatically\n%.0f%%", 100*float64(auto)/float64(events)); !strings.Contains(remed, tile) {
		t.Errorf("remediation slide lacks the tile %q:\n%s", tile, remed)
	}

	// Trends: every series has its points marked (the run's data fills one
	// or two hourly points, which a bare line does not draw).
	var lines int
	for name, b := range parts {
		x := string(b)
		if !strings.HasPrefix(name, "ppt/charts/chart") || !strings.Contains(x, "<c:lineChart>") {
			continue
		}
		lines++
		ser, marked := strings.Count(x, "<c:ser>"), strings.Count(x, `<c:marker><c:symbol val="circle"/>`)
		if ser == 0 || marked < ser {
			t.Errorf("%s: %d series, %d with markers: a series of one point draws nothing without one", name, ser, marked)
		}
	}
	if lines == 0 {
		t.Error("no trend chart in the deck")
	}
}

// readParts returns the parts of a .pptx by name.
func readParts(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	parts := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		parts[f.Name] = b
	}
	return parts
}

// slideText returns the text runs of the first slide whose runs include
// title, one paragraph per line.
func slideText(t *testing.T, parts map[string][]byte, title string) []string {
	t.Helper()
	var names []string
	for name := range parts {
		if strings.HasPrefix(name, "ppt/slides/slide") && strings.HasSuffix(name, ".xml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var paras []string
		var cur strings.Builder
		d := xml.NewDecoder(bytes.NewReader(parts[name]))
		inT := false
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			switch tk := tok.(type) {
			case xml.StartElement:
				inT = tk.Name.Local == "t"
			case xml.EndElement:
				inT = false
				if tk.Name.Local == "p" {
					paras = append(paras, cur.String())
					cur.Reset()
				}
			case xml.CharData:
				if inT {
					cur.Write(tk)
				}
			}
		}
		for _, p := range paras {
			if p == title {
				return paras
			}
		}
	}
	t.Fatalf("no slide titled %q", title)
	return nil
}
