// Package deck is the small, writer-independent model of a slide deck:
// a deck holds slides, a slide holds positioned elements (text boxes, KPI
// tiles, tables and charts). Writers (reports/pptx, and reports/unioffice
// behind a build tag) turn a Deck into a file.
//
// Positions and sizes are in inches on a 16:9 slide of Width × Height.
package deck

import "time"

// Slide size in inches (16:9, PowerPoint's default widescreen).
const (
	Width  = 13.333
	Height = 7.5
)

// Colors are RGB hex strings without '#', e.g. "1F4E79".
const (
	ColorNavy   = "1F3A5F"
	ColorBlue   = "2E75B6"
	ColorOrange = "ED7D31"
	ColorGreen  = "2E7D32"
	ColorRed    = "C62828"
	ColorGrey   = "595959"
	ColorLight  = "F2F4F7"
	ColorWhite  = "FFFFFF"
	ColorAmber  = "B7791F"
	ColorBlack  = "1A1A1A"
)

// Deck is a presentation.
type Deck struct {
	Title   string
	Subject string
	Author  string
	Created time.Time
	Slides  []Slide
}

// Slide is one page: a title and positioned elements, drawn in order.
type Slide struct {
	Title    string
	Elements []Element
	// Notes is shown in the footer's left corner (e.g. the data scope).
	Footer string
}

// Rect positions an element, in inches from the slide's top-left corner.
type Rect struct {
	X, Y, W, H float64
}

// Element is one of *Text, *Tile, *Table, *Chart.
type Element interface {
	Bounds() Rect
}

// Align is a horizontal text alignment.
type Align int

// Alignments.
const (
	Left Align = iota
	Center
	Right
)

// Run is a piece of text with one style. Zero values inherit the
// paragraph's or element's defaults.
type Run struct {
	Text  string
	Bold  bool
	Color string
	Size  float64 // points
}

// Paragraph is a line (or wrapped block) of runs.
type Paragraph struct {
	Runs   []Run
	Bullet bool
	Level  int
	Align  Align
}

// P builds a one-run paragraph.
func P(text string) Paragraph { return Paragraph{Runs: []Run{{Text: text}}} }

// Bullet builds a one-run bulleted paragraph.
func Bullet(text string) Paragraph { return Paragraph{Runs: []Run{{Text: text}}, Bullet: true} }

// Text is a text box.
type Text struct {
	Rect
	Paragraphs []Paragraph
	Size       float64 // default points for runs; 0 means 16
	Color      string  // default run color
	Fill       string  // background; empty is transparent
	Middle     bool    // anchor text vertically in the middle
}

// Bounds implements Element.
func (t *Text) Bounds() Rect { return t.Rect }

// Trend is the direction of a change, drawn as an arrow.
type Trend int

// Trends.
const (
	Flat Trend = iota
	Up
	Down
	Unknown
)

// Tile is a KPI tile: a label, a big value and a change against a reference.
type Tile struct {
	Rect
	Label string
	Value string
	// Delta is the change, e.g. "+0.4 pp vs last week"; Trend draws the arrow.
	Delta string
	Trend Trend
	// Good says whether the change is good news (green) or bad (red);
	// nil draws it neutral (grey).
	Good *bool
}

// Bounds implements Element.
func (t *Tile) Bounds() Rect { return t.Rect }

// Cell is a table cell.
type Cell struct {
	Text  string
	Color string // text color
	Fill  string // background
	Bold  bool
	Align Align
}

// Table is a grid with a header row.
type Table struct {
	Rect
	Header []string
	// ColWidths are relative weights; nil means equal widths.
	ColWidths []float64
	// Align per column (header and cells); missing columns are Left.
	ColAlign []Align
	Rows     [][]Cell
	Size     float64 // points; 0 means 12
}

// Bounds implements Element.
func (t *Table) Bounds() Rect { return t.Rect }

// ChartKind is line or bar.
type ChartKind int

// Chart kinds.
const (
	Line ChartKind = iota
	Bar
)

// Series is one named series of values, one per category. NaN is a gap.
type Series struct {
	Name   string
	Values []float64
	Color  string
}

// Chart is a native chart with its data.
type Chart struct {
	Rect
	Kind       ChartKind
	Title      string
	Categories []string
	Series     []Series
	// ValueFormat is an Excel number format for the value axis, e.g. "0%".
	ValueFormat string
	// LabelEvery shows one category label out of n (0 or 1: all).
	LabelEvery int
}

// Bounds implements Element.
func (c *Chart) Bounds() Rect { return c.Rect }
