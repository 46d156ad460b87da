package pptx

import (
	"bytes"
	"encoding/xml"
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
		// fixed date: category labels of a writer test; nothing here meets a server's clock
		cats[i] = time.Date(2026, 11, 16, i, 0, 0, 0, time.UTC).Format("Mon 15h")
		a[i] = 0.3 + 0.2*math.Sin(float64(i)/4)
		b[i] = a[i] + 0.15
	}
	a[10] = math.NaN()
	return &deck.Deck{
		Title:   "Sample & <escaped> deck",
		Created: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), // fixed date: the deck's creation property, written and never compared with a clock
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

// sparseDeck has two hourly line charts of a week in one colour: a series
// of one point, and a dense series with one isolated point.
func sparseDeck() (*deck.Deck, []*deck.Chart) {
	n := 168
	cats := make([]string, n)
	one, dense := make([]float64, n), make([]float64, n)
	for i := range one {
		one[i], dense[i] = math.NaN(), math.NaN()
		if i < 100 {
			dense[i] = 0.1
		}
	}
	one[50] = 0.9    // the only point
	dense[150] = 0.9 // between two gaps
	charts := []*deck.Chart{
		{Rect: deck.Rect{X: 0.4, Y: 1.4, W: 6.2, H: 5.5}, Kind: deck.Line, Title: "One point", Categories: cats,
			Series: []deck.Series{{Name: "one", Values: one, Color: markerColor}}},
		{Rect: deck.Rect{X: 6.75, Y: 1.4, W: 6.2, H: 5.5}, Kind: deck.Line, Title: "Isolated point", Categories: cats,
			Series: []deck.Series{{Name: "dense", Values: dense, Color: markerColor}}},
	}
	return &deck.Deck{Slides: []deck.Slide{{Title: "Sparse series", Elements: []deck.Element{charts[0], charts[1]}}}}, charts
}

// markerColor is used by nothing else in the deck.
const markerColor = "C000C0"

// chartSeries decodes what a line chart's XML says about its series' markers.
type chartSeries struct {
	Ser []struct {
		Marker struct {
			Symbol struct {
				Val string `xml:"val,attr"`
			} `xml:"symbol"`
		} `xml:"marker"`
		DPt []struct {
			Idx struct {
				Val int `xml:"val,attr"`
			} `xml:"idx"`
			Marker struct {
				Symbol struct {
					Val string `xml:"val,attr"`
				} `xml:"symbol"`
			} `xml:"marker"`
		} `xml:"dPt"`
		Val struct {
			Pts []struct {
				Idx int `xml:"idx,attr"`
			} `xml:"numRef>numCache>pt"`
		} `xml:"val"`
	} `xml:"chart>plotArea>lineChart>ser"`
}

// TestSparseSeriesHaveMarkers: a line series of one point, or a point
// between gaps, is drawn as a marker (a line alone draws nothing there).
func TestSparseSeriesHaveMarkers(t *testing.T) {
	dk, _ := sparseDeck()
	var buf bytes.Buffer
	if err := Write(&buf, dk); err != nil {
		t.Fatal(err)
	}
	if err := ooxmlcheck.Check(buf.Bytes()); err != nil {
		t.Fatalf("invalid package:\n%v", err)
	}
	p, _ := ooxmlcheck.Open(buf.Bytes())
	var one, dense chartSeries
	for part, dst := range map[string]*chartSeries{"ppt/charts/chart1.xml": &one, "ppt/charts/chart2.xml": &dense} {
		if err := xml.Unmarshal(p.Parts[part], dst); err != nil || len(dst.Ser) != 1 {
			t.Fatalf("%s: %v (%d series)", part, err, len(dst.Ser))
		}
	}
	if s := one.Ser[0]; s.Marker.Symbol.Val != "circle" || len(s.Val.Pts) != 1 || s.Val.Pts[0].Idx != 50 {
		t.Errorf("one-point series: marker %q, points %+v; want a circle on point 50", s.Marker.Symbol.Val, s.Val.Pts)
	}
	s := dense.Ser[0]
	if s.Marker.Symbol.Val != "none" || len(s.DPt) != 1 || s.DPt[0].Idx.Val != 150 || s.DPt[0].Marker.Symbol.Val != "circle" {
		t.Errorf("dense series: series marker %q, data points %+v; want no marker but a circle on point 150", s.Marker.Symbol.Val, s.DPt)
	}

	// A series of a few points marks every point; a dense one does not.
	for _, tc := range []struct {
		values   []float64
		all      bool
		isolated []int
	}{
		{[]float64{math.NaN(), 1, math.NaN()}, true, nil},
		{[]float64{1, 2, 3}, true, nil},
		{[]float64{math.NaN(), math.NaN()}, false, nil},
		{append(make([]float64, 30), math.NaN(), 1), false, []int{31}},
		{append([]float64{1, math.NaN()}, make([]float64, 30)...), false, []int{0}},
	} {
		all, iso := lineMarkers(tc.values, len(tc.values))
		if all != tc.all || len(iso) != len(tc.isolated) || (len(iso) > 0 && iso[0] != tc.isolated[0]) {
			t.Errorf("%v: all %v isolated %v, want %v %v", tc.values, all, iso, tc.all, tc.isolated)
		}
	}
}

// TestLibreOfficeDrawsSparsePoints renders the sparse charts and finds
// the points' colour in the upper half of each chart, where only the
// markers can be (the dense series' line is at 0.1, the legend below).
func TestLibreOfficeDrawsSparsePoints(t *testing.T) {
	dk, charts := sparseDeck()
	dir := t.TempDir()
	src := filepath.Join(dir, "sparse.pptx")
	var buf bytes.Buffer
	if err := Write(&buf, dk); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pdf := office.ToPDF(t, src, dir)
	pngs := office.PNGs(t, pdf, filepath.Join(dir, "page"), 1280)
	if len(pngs) != 1 {
		t.Fatalf("%d pages rendered, want 1", len(pngs))
	}
	for _, c := range charts {
		if n := office.ColourPixels(t, pngs[0], deck.Rect{X: c.Rect.X, Y: c.Rect.Y, W: c.Rect.W, H: c.Rect.H / 2}, markerColor); n < 20 {
			t.Errorf("chart %q: %d pixels of the series colour in its upper half, want a visible marker", c.Title, n)
		}
	}
}
