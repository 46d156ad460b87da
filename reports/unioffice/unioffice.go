//go:build unioffice

// Package unioffice writes decks with UniDoc's unioffice, for organizations
// that hold a UniDoc license (unioffice is commercial: without a key its
// Save fails with "unioffice license required"). It is built only with
// -tags unioffice and chosen by reports.DefaultWriter when
// UNIDOC_LICENSE_API_KEY is set. unioffice cannot create native charts in
// presentations, so charts are written as their data in text; the built-in
// writer (reports/pptx) draws them natively.
package unioffice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/unidoc/unioffice/color"
	"github.com/unidoc/unioffice/common/license"
	"github.com/unidoc/unioffice/measurement"
	"github.com/unidoc/unioffice/presentation"

	"github.com/meshtelemetry/telemetry/reports/deck"
)

// EnvKey is the environment variable holding the UniDoc metered API key.
const EnvKey = "UNIDOC_LICENSE_API_KEY"

// ErrNoLicense says how to fix a missing key.
var ErrNoLicense = errors.New("unioffice writer: no UniDoc license key: set " + EnvKey +
	" to your UniDoc metered API key, or build without -tags unioffice to use the built-in writer")

// Writer writes decks with unioffice using Key.
type Writer struct {
	Key string
}

// Name implements the reports writer interface.
func (Writer) Name() string { return "unioffice" }

// licenseOnce: unioffice keeps its license in a package variable.
var (
	licenseOnce sync.Once
	licenseErr  error
)

// Write renders d and writes it to w; nothing is written on error.
func (wr Writer) Write(w io.Writer, d *deck.Deck) error {
	if wr.Key == "" {
		return ErrNoLicense
	}
	licenseOnce.Do(func() { licenseErr = license.SetMeteredKey(wr.Key) })
	if licenseErr != nil {
		return fmt.Errorf("unioffice writer: %s rejected: %w (check %s or build without -tags unioffice)", EnvKey, licenseErr, EnvKey)
	}
	ppt := presentation.New()
	defer ppt.Close()
	for _, s := range d.Slides {
		sl := ppt.AddSlide()
		box(sl, deck.Rect{X: 0.5, Y: 0.3, W: deck.Width - 1, H: 0.8}, []line{{text: s.Title, size: 28, bold: true, color: deck.ColorNavy}})
		for _, e := range s.Elements {
			switch e := e.(type) {
			case *deck.Text:
				var ls []line
				for _, p := range e.Paragraphs {
					var t []string
					bold := false
					for _, r := range p.Runs {
						t = append(t, r.Text)
						bold = bold || r.Bold
					}
					prefix := ""
					if p.Bullet {
						prefix = "• "
					}
					ls = append(ls, line{text: prefix + strings.Join(t, ""), size: orDefault(e.Size, 16), bold: bold})
				}
				box(sl, e.Rect, ls)
			case *deck.Tile:
				box(sl, e.Rect, []line{{text: e.Label, size: 13, color: deck.ColorGrey}, {text: e.Value, size: 30, bold: true, color: deck.ColorNavy}, {text: e.Delta, size: 12}})
			case *deck.Table:
				ls := []line{{text: strings.Join(e.Header, "  |  "), size: 11, bold: true}}
				for _, r := range e.Rows {
					var cells []string
					for _, c := range r {
						cells = append(cells, c.Text)
					}
					ls = append(ls, line{text: strings.Join(cells, "  |  "), size: 11})
				}
				box(sl, e.Rect, ls)
			case *deck.Chart:
				ls := []line{{text: e.Title + " (chart data; native charts need the built-in writer)", size: 12, bold: true}}
				for _, s := range e.Series {
					ls = append(ls, line{text: fmt.Sprintf("%s: %s", s.Name, summarize(s.Values)), size: 11})
				}
				box(sl, e.Rect, ls)
			}
		}
		box(sl, deck.Rect{X: 0.5, Y: deck.Height - 0.4, W: deck.Width - 1, H: 0.35}, []line{{text: s.Footer, size: 10, color: deck.ColorGrey}})
	}
	var buf bytes.Buffer
	if err := ppt.Save(&buf); err != nil {
		return fmt.Errorf("unioffice writer: %w (set %s to a valid UniDoc key, or build without -tags unioffice)", err, EnvKey)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

type line struct {
	text  string
	size  float64
	bold  bool
	color string
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

func box(sl presentation.Slide, r deck.Rect, lines []line) {
	tb := sl.AddTextBox()
	tb.Properties().SetPosition(measurement.Distance(r.X)*measurement.Inch, measurement.Distance(r.Y)*measurement.Inch)
	tb.Properties().SetSize(measurement.Distance(r.W)*measurement.Inch, measurement.Distance(r.H)*measurement.Inch)
	for _, l := range lines {
		run := tb.AddParagraph().AddRun()
		run.SetText(l.text)
		run.Properties().SetSize(measurement.Distance(l.size) * measurement.Point)
		run.Properties().SetBold(l.bold)
		if l.color != "" {
			run.Properties().SetSolidFill(color.FromHex("#" + l.color))
		}
	}
}

func summarize(v []float64) string {
	n, sum, maxV := 0, 0.0, math.Inf(-1)
	for _, x := range v {
		if !math.IsNaN(x) {
			n++
			sum += x
			maxV = math.Max(maxV, x)
		}
	}
	if n == 0 {
		return "no data"
	}
	return fmt.Sprintf("%d points, mean %.3g, max %.3g", n, sum/float64(n), maxV)
}
