package pptx

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/reports/deck"
	"github.com/meshtelemetry/telemetry/reports/internal/office"
	"github.com/meshtelemetry/telemetry/reports/internal/ooxmlcheck"
)

func sample() *deck.Deck {
	good, badNews := true, false
	cats := make([]string, 48)
	a, b := make([]float64, 48), make([]float64, 48)
	for i := range cats {
		cats[i] = time.Date(2026, 11, 16, i, 0, 0, 0, time.UTC).Format("Mon 15h")
		a[i] = 0.3 + 0.2*math.Sin(float64(i)/4)
		b[i] = a[i] + 0.15
	}
	a[10] = math.NaN()
	return &deck.Deck{
		Title:   "Sample & <escaped> deck",
		Created: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC),
		Slides: []deck.Slide{
			{Title: "Weekly report", Footer: "scope: all sites", Elements: []deck.Element{
				&deck.Text{Rect: deck.Rect{X: 0.5, Y: 2, W: 12, H: 2}, Paragraphs: []deck.Paragraph{deck.P("Hello & <world>"), deck.Bullet("a bullet"), {Runs: []deck.Run{{Text: "bold red", Bold: true, Color: deck.ColorRed}}}}},
			}},
			{Title: "Tiles and table", Elements: []deck.Element{
				&deck.Tile{Rect: deck.Rect{X: 0.5, Y: 1.5, W: 3, H: 1.6}, Label: "Availability", Value: "99.95%", Delta: "+0.02 pp", Trend: deck.Up, Good: &good},
				&deck.Tile{Rect: deck.Rect{X: 3.7, Y: 1.5, W: 3, H: 1.6}, Label: "Loss", Value: "0.10%", Delta: "+0.05 pp", Trend: deck.Up, Good: &badNews},
				&deck.Table{Rect: deck.Rect{X: 0.5, Y: 3.5, W: 12, H: 3}, Header: []string{"Site", "Value"}, ColAlign: []deck.Align{deck.Left, deck.Right},
					Rows: [][]deck.Cell{{{Text: "fra"}, {Text: "1"}}, {{Text: "par"}, {Text: "2", Color: deck.ColorRed}}}},
			}},
			{Title: "Charts", Elements: []deck.Element{
				&deck.Chart{Rect: deck.Rect{X: 0.5, Y: 1.4, W: 6, H: 5.5}, Kind: deck.Line, Title: "Utilization", Categories: cats, LabelEvery: 12, ValueFormat: "0%",
					Series: []deck.Series{{Name: "avg", Values: a}, {Name: "p95", Values: b}}},
				&deck.Chart{Rect: deck.Rect{X: 6.8, Y: 1.4, W: 6, H: 5.5}, Kind: deck.Bar, Title: "Events", Categories: []string{"Mon", "Tue", "Wed"},
					Series: []deck.Series{{Name: "events", Values: []float64{3, 0, 7}}}},
			}},
		},
	}
}

func TestWriteValidPackage(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	if err := ooxmlcheck.Check(buf.Bytes()); err != nil {
		t.Fatalf("invalid package:\n%v", err)
	}
	p, _ := ooxmlcheck.Open(buf.Bytes())
	for _, want := range []string{"ppt/charts/chart1.xml", "ppt/charts/chart2.xml", "ppt/embeddings/Microsoft_Excel_Worksheet1.xlsx", "ppt/slides/slide3.xml"} {
		if _, ok := p.Parts[want]; !ok {
			t.Errorf("part %s missing", want)
		}
	}
	if !strings.Contains(string(p.Parts["ppt/charts/chart1.xml"]), "<c:lineChart>") || !strings.Contains(string(p.Parts["ppt/charts/chart2.xml"]), "<c:barChart>") {
		t.Error("charts are not native line/bar charts")
	}
	// The embedded workbook is itself a valid package.
	if _, err := ooxmlcheck.Open(p.Parts["ppt/embeddings/Microsoft_Excel_Worksheet1.xlsx"]); err != nil {
		t.Errorf("embedded workbook: %v", err)
	}
}

func TestNoSlides(t *testing.T) {
	if err := Write(&bytes.Buffer{}, &deck.Deck{}); err == nil {
		t.Fatal("empty deck accepted")
	}
}

func TestLibreOfficeRenders(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "sample.pptx")
	var buf bytes.Buffer
	if err := Write(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pdf := office.ToPDF(t, src, dir)
	if n := office.Pages(t, pdf); n != 3 {
		t.Fatalf("PDF has %d pages, want 3", n)
	}
	text := office.Text(t, pdf)
	for _, want := range []string{"Hello & <world>", "99.95%", "Utilization", "par"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if out := os.Getenv("PPTX_SAMPLE_PNG"); out != "" {
		office.PNGs(t, pdf, out, 1280)
	}
}
