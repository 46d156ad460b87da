// Package pptx writes a deck.Deck as a PowerPoint (PresentationML, ECMA-376)
// file with the standard library only: one slide master and layout, a
// theme, one part per slide, DrawingML tables, and native line and bar
// charts (chart parts with cached values and an embedded workbook holding
// the same data, so "Edit Data" works in PowerPoint).
package pptx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/reports/deck"
)

// Namespaces and types.
const (
	nsA   = "http://schemas.openxmlformats.org/drawingml/2006/main"
	nsR   = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsP   = "http://schemas.openxmlformats.org/presentationml/2006/main"
	nsC   = "http://schemas.openxmlformats.org/drawingml/2006/chart"
	nsRel = "http://schemas.openxmlformats.org/package/2006/relationships"
	nsCT  = "http://schemas.openxmlformats.org/package/2006/content-types"

	relOffice = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

	ctPresentation = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
	ctSlide        = "application/vnd.openxmlformats-officedocument.presentationml.slide+xml"
	ctLayout       = "application/vnd.openxmlformats-officedocument.presentationml.slideLayout+xml"
	ctMaster       = "application/vnd.openxmlformats-officedocument.presentationml.slideMaster+xml"
	ctTheme        = "application/vnd.openxmlformats-officedocument.theme+xml"
	ctPresProps    = "application/vnd.openxmlformats-officedocument.presentationml.presProps+xml"
	ctViewProps    = "application/vnd.openxmlformats-officedocument.presentationml.viewProps+xml"
	ctTableStyles  = "application/vnd.openxmlformats-officedocument.presentationml.tableStyles+xml"
	ctChart        = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
	ctCore         = "application/vnd.openxmlformats-package.core-properties+xml"
	ctApp          = "application/vnd.openxmlformats-officedocument.extended-properties+xml"
	ctRels         = "application/vnd.openxmlformats-package.relationships+xml"
	ctXlsx         = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

	// ContentType is the MIME type of a .pptx file.
	ContentType = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

const emuPerInch = 914400

func emu(in float64) int64 { return int64(math.Round(in * emuPerInch)) }

// Writer writes decks as .pptx. The zero value is ready to use.
type Writer struct{}

// Name implements the reports writer interface.
func (Writer) Name() string { return "pptx" }

// Write writes d to w as a .pptx file.
func (Writer) Write(w io.Writer, d *deck.Deck) error {
	return Write(w, d)
}

type part struct {
	name string // without leading slash
	ct   string // content type override; empty uses the extension default
	data []byte
}

type rel struct {
	id, typ, target string
}

// Write writes d to w as a .pptx file.
func Write(w io.Writer, d *deck.Deck) error {
	if len(d.Slides) == 0 {
		return fmt.Errorf("pptx: deck has no slides")
	}
	var parts []part
	add := func(name, ct string, data []byte) { parts = append(parts, part{name, ct, data}) }

	created := d.Created
	if created.IsZero() {
		created = time.Now()
	}
	add("_rels/.rels", "", relsXML([]rel{
		{"rId1", relOffice + "officeDocument", "ppt/presentation.xml"},
		{"rId2", "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties", "docProps/core.xml"},
		{"rId3", relOffice + "extended-properties", "docProps/app.xml"},
	}))
	add("docProps/core.xml", ctCore, coreXML(d, created))
	add("docProps/app.xml", ctApp, appXML(d))

	presRels := []rel{
		{"rId1", relOffice + "slideMaster", "slideMasters/slideMaster1.xml"},
		{"rId2", relOffice + "theme", "theme/theme1.xml"},
		{"rId3", relOffice + "presProps", "presProps.xml"},
		{"rId4", relOffice + "viewProps", "viewProps.xml"},
		{"rId5", relOffice + "tableStyles", "tableStyles.xml"},
	}
	var sldIDs strings.Builder
	chartN := 0
	for i := range d.Slides {
		rid := fmt.Sprintf("rId%d", 6+i)
		presRels = append(presRels, rel{rid, relOffice + "slide", fmt.Sprintf("slides/slide%d.xml", i+1)})
		fmt.Fprintf(&sldIDs, `<p:sldId id="%d" r:id="%s"/>`, 256+i, rid)

		sw := &slideWriter{nextID: 2}
		slideRels := []rel{{"rId1", relOffice + "slideLayout", "../slideLayouts/slideLayout1.xml"}}
		body := sw.slide(&d.Slides[i], i+1, len(d.Slides), func(c *deck.Chart) string {
			chartN++
			rid := fmt.Sprintf("rId%d", len(slideRels)+1)
			slideRels = append(slideRels, rel{rid, relOffice + "chart", fmt.Sprintf("../charts/chart%d.xml", chartN)})
			xlsxName := fmt.Sprintf("ppt/embeddings/Microsoft_Excel_Worksheet%d.xlsx", chartN)
			add(fmt.Sprintf("ppt/charts/chart%d.xml", chartN), ctChart, chartXML(c))
			add(fmt.Sprintf("ppt/charts/_rels/chart%d.xml.rels", chartN), "", relsXML([]rel{
				{"rId1", relOffice + "package", "../embeddings/" + strings.TrimPrefix(xlsxName, "ppt/embeddings/")},
			}))
			add(xlsxName, "", chartWorkbook(c))
			return rid
		})
		add(fmt.Sprintf("ppt/slides/slide%d.xml", i+1), ctSlide, body)
		add(fmt.Sprintf("ppt/slides/_rels/slide%d.xml.rels", i+1), "", relsXML(slideRels))
	}
	add("ppt/presentation.xml", ctPresentation, []byte(xml.Header+
		`<p:presentation xmlns:a="`+nsA+`" xmlns:r="`+nsR+`" xmlns:p="`+nsP+`" saveSubsetFonts="1">`+
		`<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>`+
		`<p:sldIdLst>`+sldIDs.String()+`</p:sldIdLst>`+
		fmt.Sprintf(`<p:sldSz cx="%d" cy="%d"/>`, emu(deck.Width), emu(deck.Height))+
		`<p:notesSz cx="6858000" cy="9144000"/>`+
		`<p:defaultTextStyle>`+levelStyles(1800, false)+`</p:defaultTextStyle>`+
		`</p:presentation>`))
	add("ppt/_rels/presentation.xml.rels", "", relsXML(presRels))
	add("ppt/presProps.xml", ctPresProps, []byte(xml.Header+`<p:presentationPr xmlns:a="`+nsA+`" xmlns:r="`+nsR+`" xmlns:p="`+nsP+`"/>`))
	add("ppt/viewProps.xml", ctViewProps, []byte(xml.Header+`<p:viewPr xmlns:a="`+nsA+`" xmlns:r="`+nsR+`" xmlns:p="`+nsP+`">`+
		`<p:normalViewPr><p:restoredLeft sz="15620"/><p:restoredTop sz="94660"/></p:normalViewPr><p:gridSpacing cx="76200" cy="76200"/></p:viewPr>`))
	add("ppt/tableStyles.xml", ctTableStyles, []byte(xml.Header+`<a:tblStyleLst xmlns:a="`+nsA+`" def="{5C22544A-7EE6-4342-B048-85BDC9FD1C3A}"/>`))
	add("ppt/theme/theme1.xml", ctTheme, []byte(themeXML))
	add("ppt/slideMasters/slideMaster1.xml", ctMaster, masterXML())
	add("ppt/slideMasters/_rels/slideMaster1.xml.rels", "", relsXML([]rel{
		{"rId1", relOffice + "slideLayout", "../slideLayouts/slideLayout1.xml"},
		{"rId2", relOffice + "theme", "../theme/theme1.xml"},
	}))
	add("ppt/slideLayouts/slideLayout1.xml", ctLayout, layoutXML())
	add("ppt/slideLayouts/_rels/slideLayout1.xml.rels", "", relsXML([]rel{
		{"rId1", relOffice + "slideMaster", "../slideMasters/slideMaster1.xml"},
	}))

	// [Content_Types].xml first, as Office does.
	var ct strings.Builder
	ct.WriteString(xml.Header + `<Types xmlns="` + nsCT + `">`)
	ct.WriteString(`<Default Extension="rels" ContentType="` + ctRels + `"/>`)
	ct.WriteString(`<Default Extension="xml" ContentType="application/xml"/>`)
	ct.WriteString(`<Default Extension="xlsx" ContentType="` + ctXlsx + `"/>`)
	for _, p := range parts {
		if p.ct != "" {
			ct.WriteString(`<Override PartName="/` + p.name + `" ContentType="` + p.ct + `"/>`)
		}
	}
	ct.WriteString(`</Types>`)

	zw := zip.NewWriter(w)
	write := func(name string, data []byte) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: created})
		if err != nil {
			return fmt.Errorf("pptx: %s: %w", name, err)
		}
		if _, err := f.Write(data); err != nil {
			return fmt.Errorf("pptx: %s: %w", name, err)
		}
		return nil
	}
	if err := write("[Content_Types].xml", []byte(ct.String())); err != nil {
		return err
	}
	for _, p := range parts {
		if err := write(p.name, p.data); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pptx: %w", err)
	}
	return nil
}

// esc escapes text for XML character data and attribute values, and drops
// characters XML 1.0 cannot carry.
func esc(s string) string {
	var b bytes.Buffer
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r != 0xFFFE && r != 0xFFFF) {
			return r
		}
		return -1
	}, s)
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func relsXML(rels []rel) []byte {
	var b strings.Builder
	b.WriteString(xml.Header + `<Relationships xmlns="` + nsRel + `">`)
	for _, r := range rels {
		fmt.Fprintf(&b, `<Relationship Id="%s" Type="%s" Target="%s"/>`, r.id, r.typ, esc(r.target))
	}
	b.WriteString(`</Relationships>`)
	return []byte(b.String())
}

func coreXML(d *deck.Deck, created time.Time) []byte {
	ts := created.UTC().Format(time.RFC3339)
	return []byte(xml.Header + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" ` +
		`xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" ` +
		`xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<dc:title>` + esc(d.Title) + `</dc:title>` +
		`<dc:subject>` + esc(d.Subject) + `</dc:subject>` +
		`<dc:creator>` + esc(d.Author) + `</dc:creator>` +
		`<dcterms:created xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:created>` +
		`<dcterms:modified xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:modified>` +
		`</cp:coreProperties>`)
}

func appXML(d *deck.Deck) []byte {
	return []byte(xml.Header + `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" ` +
		`xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">` +
		`<Application>telemetry report</Application><PresentationFormat>Widescreen</PresentationFormat>` +
		fmt.Sprintf(`<Slides>%d</Slides>`, len(d.Slides)) + `</Properties>`)
}

// levelStyles is a:lvl1pPr..lvl3pPr with a default size (hundredths of a point).
func levelStyles(sz int, bullets bool) string {
	var b strings.Builder
	for l := 1; l <= 3; l++ {
		mar := (l - 1) * 342900
		bu := `<a:buNone/>`
		if bullets {
			mar = l * 285750
			bu = `<a:buFont typeface="Arial"/><a:buChar char="•"/>`
		}
		fmt.Fprintf(&b, `<a:lvl%dpPr marL="%d" indent="%d" algn="l" defTabSz="914400"><a:spcBef><a:spcPts val="400"/></a:spcBef>%s`+
			`<a:defRPr sz="%d" kern="1200"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill><a:latin typeface="+mn-lt"/><a:ea typeface="+mn-ea"/><a:cs typeface="+mn-cs"/></a:defRPr></a:lvl%dpPr>`,
			l, mar, map[bool]int{true: -285750, false: 0}[bullets], bu, sz-(l-1)*200, l)
	}
	return b.String()
}

const spTreeHead = `<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>` +
	`<p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/><a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>`

// Title area, shared by master, layout and slides.
var titleRect = deck.Rect{X: 0.5, Y: 0.3, W: deck.Width - 1.0, H: 0.8}

func xfrm(r deck.Rect) string {
	return fmt.Sprintf(`<a:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></a:xfrm>`, emu(r.X), emu(r.Y), emu(r.W), emu(r.H))
}

func masterXML() []byte {
	band := deck.Rect{X: 0, Y: deck.Height - 0.35, W: deck.Width, H: 0.35}
	accent := deck.Rect{X: 0.5, Y: 1.2, W: 1.2, H: 0.06}
	return []byte(xml.Header + `<p:sldMaster xmlns:a="` + nsA + `" xmlns:r="` + nsR + `" xmlns:p="` + nsP + `">` +
		`<p:cSld><p:bg><p:bgPr><a:solidFill><a:srgbClr val="FFFFFF"/></a:solidFill><a:effectLst/></p:bgPr></p:bg><p:spTree>` + spTreeHead +
		`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title Placeholder 1"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>` +
		`<p:spPr>` + xfrm(titleRect) + `<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr>` +
		`<p:txBody><a:bodyPr vert="horz" lIns="0" tIns="0" rIns="0" bIns="0" anchor="b"><a:normAutofit/></a:bodyPr><a:lstStyle/><a:p><a:r><a:rPr lang="en-US"/><a:t>Title</a:t></a:r></a:p></p:txBody></p:sp>` +
		`<p:sp><p:nvSpPr><p:cNvPr id="3" name="Footer band"/><p:cNvSpPr/><p:nvPr userDrawn="1"/></p:nvSpPr>` +
		`<p:spPr>` + xfrm(band) + `<a:prstGeom prst="rect"><a:avLst/></a:prstGeom><a:solidFill><a:srgbClr val="` + deck.ColorNavy + `"/></a:solidFill><a:ln><a:noFill/></a:ln></p:spPr>` +
		`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:endParaRPr lang="en-US"/></a:p></p:txBody></p:sp>` +
		`<p:sp><p:nvSpPr><p:cNvPr id="4" name="Title accent"/><p:cNvSpPr/><p:nvPr userDrawn="1"/></p:nvSpPr>` +
		`<p:spPr>` + xfrm(accent) + `<a:prstGeom prst="rect"><a:avLst/></a:prstGeom><a:solidFill><a:srgbClr val="` + deck.ColorOrange + `"/></a:solidFill><a:ln><a:noFill/></a:ln></p:spPr>` +
		`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:endParaRPr lang="en-US"/></a:p></p:txBody></p:sp>` +
		`</p:spTree></p:cSld>` +
		`<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" folHlink="folHlink"/>` +
		`<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst>` +
		`<p:txStyles>` +
		`<p:titleStyle><a:lvl1pPr algn="l"><a:defRPr sz="2800" b="1" kern="1200"><a:solidFill><a:srgbClr val="` + deck.ColorNavy + `"/></a:solidFill><a:latin typeface="+mj-lt"/><a:ea typeface="+mj-ea"/><a:cs typeface="+mj-cs"/></a:defRPr></a:lvl1pPr></p:titleStyle>` +
		`<p:bodyStyle>` + levelStyles(1800, true) + `</p:bodyStyle>` +
		`<p:otherStyle>` + levelStyles(1800, false) + `</p:otherStyle>` +
		`</p:txStyles></p:sldMaster>`)
}

func layoutXML() []byte {
	return []byte(xml.Header + `<p:sldLayout xmlns:a="` + nsA + `" xmlns:r="` + nsR + `" xmlns:p="` + nsP + `" type="titleOnly" preserve="1">` +
		`<p:cSld name="Title Only"><p:spTree>` + spTreeHead +
		`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title 1"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>` +
		`<p:spPr/><p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="en-US"/><a:t>Title</a:t></a:r></a:p></p:txBody></p:sp>` +
		`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>`)
}

// slideWriter renders one slide; nextID numbers the shapes (cNvPr ids are
// unique within a slide).
type slideWriter struct {
	b      strings.Builder
	nextID int
}

func (s *slideWriter) id() int { s.nextID++; return s.nextID - 1 }

func (s *slideWriter) slide(sl *deck.Slide, n, total int, chart func(*deck.Chart) string) []byte {
	s.b.WriteString(xml.Header + `<p:sld xmlns:a="` + nsA + `" xmlns:r="` + nsR + `" xmlns:p="` + nsP + `"><p:cSld><p:spTree>` + spTreeHead)
	id := s.id()
	fmt.Fprintf(&s.b, `<p:sp><p:nvSpPr><p:cNvPr id="%d" name="Title %d"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>`, id, id)
	s.b.WriteString(`<p:spPr>` + xfrm(titleRect) + `</p:spPr><p:txBody><a:bodyPr vert="horz" lIns="0" tIns="0" rIns="0" bIns="0" anchor="b"><a:normAutofit/></a:bodyPr><a:lstStyle/>`)
	s.b.WriteString(`<a:p><a:r><a:rPr lang="en-US" dirty="0"/><a:t>` + esc(sl.Title) + `</a:t></a:r></a:p></p:txBody></p:sp>`)
	for _, e := range sl.Elements {
		switch e := e.(type) {
		case *deck.Text:
			s.text(e)
		case *deck.Tile:
			s.tile(e)
		case *deck.Table:
			s.table(e)
		case *deck.Chart:
			s.chart(e, chart(e))
		}
	}
	// Footer: scope on the left, page number on the right, on the master's band.
	foot := deck.Rect{X: 0.5, Y: deck.Height - 0.35, W: deck.Width - 2.5, H: 0.35}
	s.text(&deck.Text{Rect: foot, Paragraphs: []deck.Paragraph{deck.P(sl.Footer)}, Size: 10, Color: deck.ColorWhite, Middle: true})
	num := deck.Rect{X: deck.Width - 2.0, Y: deck.Height - 0.35, W: 1.5, H: 0.35}
	s.text(&deck.Text{Rect: num, Paragraphs: []deck.Paragraph{{Runs: []deck.Run{{Text: fmt.Sprintf("%d / %d", n, total)}}, Align: deck.Right}}, Size: 10, Color: deck.ColorWhite, Middle: true})
	s.b.WriteString(`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>`)
	return []byte(s.b.String())
}

func algn(a deck.Align) string {
	switch a {
	case deck.Center:
		return "ctr"
	case deck.Right:
		return "r"
	}
	return "l"
}

func solid(color string) string {
	return `<a:solidFill><a:srgbClr val="` + color + `"/></a:solidFill>`
}

// runXML writes one a:r.
func runXML(r deck.Run, size float64, color string, bold bool) string {
	if r.Size > 0 {
		size = r.Size
	}
	if r.Color != "" {
		color = r.Color
	}
	b := ""
	if r.Bold || bold {
		b = ` b="1"`
	}
	fill := ""
	if color != "" {
		fill = solid(color)
	}
	return fmt.Sprintf(`<a:r><a:rPr lang="en-US" sz="%d"%s dirty="0">%s<a:latin typeface="+mn-lt"/></a:rPr><a:t>%s</a:t></a:r>`,
		int(math.Round(size*100)), b, fill, esc(r.Text))
}

func paragraphXML(p deck.Paragraph, size float64, color string) string {
	var b strings.Builder
	if p.Bullet {
		fmt.Fprintf(&b, `<a:p><a:pPr marL="%d" indent="-228600" algn="%s"><a:spcBef><a:spcPts val="600"/></a:spcBef><a:buFont typeface="Arial"/><a:buChar char="•"/></a:pPr>`,
			228600+p.Level*342900, algn(p.Align))
	} else {
		fmt.Fprintf(&b, `<a:p><a:pPr marL="%d" indent="0" algn="%s"><a:spcBef><a:spcPts val="300"/></a:spcBef><a:buNone/></a:pPr>`, p.Level*342900, algn(p.Align))
	}
	for _, r := range p.Runs {
		b.WriteString(runXML(r, size, color, false))
	}
	fmt.Fprintf(&b, `<a:endParaRPr lang="en-US" sz="%d" dirty="0"/></a:p>`, int(math.Round(size*100)))
	return b.String()
}

func (s *slideWriter) shape(name string, r deck.Rect, geom, fill, line, body string) {
	id := s.id()
	fmt.Fprintf(&s.b, `<p:sp><p:nvSpPr><p:cNvPr id="%d" name="%s %d"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr>`, id, name, id)
	s.b.WriteString(`<p:spPr>` + xfrm(r) + `<a:prstGeom prst="` + geom + `"><a:avLst/></a:prstGeom>`)
	if fill != "" {
		s.b.WriteString(solid(fill))
	} else {
		s.b.WriteString(`<a:noFill/>`)
	}
	if line != "" {
		s.b.WriteString(`<a:ln w="9525">` + solid(line) + `</a:ln>`)
	} else {
		s.b.WriteString(`<a:ln><a:noFill/></a:ln>`)
	}
	s.b.WriteString(`</p:spPr><p:txBody>` + body + `</p:txBody></p:sp>`)
}

func (s *slideWriter) text(t *deck.Text) {
	size := t.Size
	if size == 0 {
		size = 16
	}
	color := t.Color
	if color == "" {
		color = deck.ColorBlack
	}
	anchor := "t"
	if t.Middle {
		anchor = "ctr"
	}
	var b strings.Builder
	b.WriteString(`<a:bodyPr wrap="square" lIns="45720" tIns="45720" rIns="45720" bIns="45720" anchor="` + anchor + `"><a:noAutofit/></a:bodyPr><a:lstStyle/>`)
	if len(t.Paragraphs) == 0 {
		b.WriteString(`<a:p><a:endParaRPr lang="en-US"/></a:p>`)
	}
	for _, p := range t.Paragraphs {
		b.WriteString(paragraphXML(p, size, color))
	}
	s.shape("TextBox", t.Rect, "rect", t.Fill, "", b.String())
}

func (s *slideWriter) tile(t *deck.Tile) {
	arrow, color := "", deck.ColorGrey
	switch t.Trend {
	case deck.Up:
		arrow = "▲ "
	case deck.Down:
		arrow = "▼ "
	case deck.Flat:
		arrow = "► "
	}
	if t.Good != nil {
		if *t.Good {
			color = deck.ColorGreen
		} else {
			color = deck.ColorRed
		}
	}
	var b strings.Builder
	b.WriteString(`<a:bodyPr wrap="square" lIns="137160" tIns="91440" rIns="137160" bIns="91440" anchor="ctr"><a:noAutofit/></a:bodyPr><a:lstStyle/>`)
	b.WriteString(paragraphXML(deck.Paragraph{Runs: []deck.Run{{Text: t.Label, Color: deck.ColorGrey}}}, 13, ""))
	b.WriteString(paragraphXML(deck.Paragraph{Runs: []deck.Run{{Text: t.Value, Bold: true, Color: deck.ColorNavy}}}, 30, ""))
	b.WriteString(paragraphXML(deck.Paragraph{Runs: []deck.Run{{Text: arrow + t.Delta, Color: color}}}, 12, ""))
	s.shape("KPI", t.Rect, "roundRect", deck.ColorLight, "D0D5DD", b.String())
}

func (s *slideWriter) table(t *deck.Table) {
	size := t.Size
	if size == 0 {
		size = 12
	}
	cols := len(t.Header)
	weights := t.ColWidths
	if len(weights) != cols {
		weights = make([]float64, cols)
		for i := range weights {
			weights[i] = 1
		}
	}
	var sum float64
	for _, w := range weights {
		sum += w
	}
	total := emu(t.W)
	widths := make([]int64, cols)
	var used int64
	for i, w := range weights {
		widths[i] = int64(float64(total) * w / sum)
		used += widths[i]
	}
	widths[cols-1] += total - used
	rowH := emu(t.H / float64(len(t.Rows)+1))
	if maxH := emu(size / 72 * 2.2); rowH > maxH {
		rowH = maxH
	}
	height := rowH * int64(len(t.Rows)+1)

	id := s.id()
	fmt.Fprintf(&s.b, `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="%d" name="Table %d"/><p:cNvGraphicFramePr><a:graphicFrameLocks noGrp="1"/></p:cNvGraphicFramePr><p:nvPr/></p:nvGraphicFramePr>`, id, id)
	fmt.Fprintf(&s.b, `<p:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></p:xfrm>`, emu(t.X), emu(t.Y), total, height)
	s.b.WriteString(`<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl><a:tblPr firstRow="1" bandRow="1"/><a:tblGrid>`)
	for _, w := range widths {
		fmt.Fprintf(&s.b, `<a:gridCol w="%d"/>`, w)
	}
	s.b.WriteString(`</a:tblGrid>`)
	colAlign := func(i int) deck.Align {
		if i < len(t.ColAlign) {
			return t.ColAlign[i]
		}
		return deck.Left
	}
	cell := func(c deck.Cell, fill string) {
		if c.Fill != "" {
			fill = c.Fill
		}
		color := c.Color
		if color == "" {
			color = deck.ColorBlack
		}
		p := fmt.Sprintf(`<a:p><a:pPr algn="%s"><a:buNone/></a:pPr>%s</a:p>`, algn(c.Align), runXML(deck.Run{Text: c.Text, Bold: c.Bold}, size, color, false))
		s.b.WriteString(`<a:tc><a:txBody><a:bodyPr/><a:lstStyle/>` + p + `</a:txBody>`)
		s.b.WriteString(`<a:tcPr marL="68580" marR="68580" marT="22860" marB="22860" anchor="ctr">`)
		s.b.WriteString(`<a:lnL w="0"><a:noFill/></a:lnL><a:lnR w="0"><a:noFill/></a:lnR><a:lnT w="0"><a:noFill/></a:lnT>`)
		s.b.WriteString(`<a:lnB w="6350">` + solid("D0D5DD") + `</a:lnB>` + solid(fill) + `</a:tcPr></a:tc>`)
	}
	fmt.Fprintf(&s.b, `<a:tr h="%d">`, rowH)
	for i, h := range t.Header {
		cell(deck.Cell{Text: h, Bold: true, Color: deck.ColorWhite, Align: colAlign(i)}, deck.ColorNavy)
	}
	s.b.WriteString(`</a:tr>`)
	for r, row := range t.Rows {
		fill := deck.ColorWhite
		if r%2 == 1 {
			fill = deck.ColorLight
		}
		fmt.Fprintf(&s.b, `<a:tr h="%d">`, rowH)
		for i := 0; i < cols; i++ {
			c := deck.Cell{}
			if i < len(row) {
				c = row[i]
			}
			if c.Align == deck.Left {
				c.Align = colAlign(i)
			}
			cell(c, fill)
		}
		s.b.WriteString(`</a:tr>`)
	}
	s.b.WriteString(`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`)
}

func (s *slideWriter) chart(c *deck.Chart, rid string) {
	id := s.id()
	fmt.Fprintf(&s.b, `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="%d" name="Chart %d"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr>`, id, id)
	fmt.Fprintf(&s.b, `<p:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></p:xfrm>`, emu(c.X), emu(c.Y), emu(c.W), emu(c.H))
	s.b.WriteString(`<a:graphic><a:graphicData uri="` + nsC + `"><c:chart xmlns:c="` + nsC + `" r:id="` + rid + `"/></a:graphicData></a:graphic></p:graphicFrame>`)
}

// colName is the spreadsheet column letter for a 0-based index.
func colName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func txPr(size int, color string) string {
	return fmt.Sprintf(`<c:txPr><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="%d">%s</a:defRPr></a:pPr><a:endParaRPr lang="en-US"/></a:p></c:txPr>`, size, solid(color))
}

var palette = []string{deck.ColorBlue, deck.ColorOrange, "7F7F7F", "FFC000", "5B9BD5", "70AD47"}

// sparsePoints is the most points a line series may have for every point
// to carry a marker. A line joins neighbouring points only: a point
// between two gaps, or a series of one point, would draw nothing at all.
const sparsePoints = 24

func drawable(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// lineMarkers says which points of a line series (of n categories) get a
// marker: all of them when the series has at most sparsePoints points,
// otherwise the isolated ones (no drawn neighbour), which the line alone
// would not show.
func lineMarkers(values []float64, n int) (all bool, isolated []int) {
	values = values[:min(len(values), n)]
	drawn := 0
	for _, v := range values {
		if drawable(v) {
			drawn++
		}
	}
	if drawn <= sparsePoints {
		return drawn > 0, nil
	}
	for j, v := range values {
		if drawable(v) && (j == 0 || !drawable(values[j-1])) && (j == len(values)-1 || !drawable(values[j+1])) {
			isolated = append(isolated, j)
		}
	}
	return false, isolated
}

// markerXML is a filled circle in the series colour.
func markerXML(color string) string {
	return `<c:marker><c:symbol val="circle"/><c:size val="7"/><c:spPr>` + solid(color) + `<a:ln w="9525">` + solid(color) + `</a:ln></c:spPr></c:marker>`
}

func chartXML(c *deck.Chart) []byte {
	var b strings.Builder
	n := len(c.Categories)
	b.WriteString(xml.Header + `<c:chartSpace xmlns:c="` + nsC + `" xmlns:a="` + nsA + `" xmlns:r="` + nsR + `">`)
	b.WriteString(`<c:date1904 val="0"/><c:lang val="en-US"/><c:roundedCorners val="0"/><c:chart>`)
	if c.Title != "" {
		b.WriteString(`<c:title><c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="1400" b="1">` + solid(deck.ColorNavy) + `</a:defRPr></a:pPr>`)
		b.WriteString(`<a:r><a:rPr lang="en-US" sz="1400" b="1">` + solid(deck.ColorNavy) + `</a:rPr><a:t>` + esc(c.Title) + `</a:t></a:r></a:p></c:rich></c:tx><c:overlay val="0"/></c:title>`)
		b.WriteString(`<c:autoTitleDeleted val="0"/>`)
	} else {
		b.WriteString(`<c:autoTitleDeleted val="1"/>`)
	}
	b.WriteString(`<c:plotArea><c:layout/>`)
	if c.Kind == deck.Bar {
		b.WriteString(`<c:barChart><c:barDir val="col"/><c:grouping val="clustered"/><c:varyColors val="0"/>`)
	} else {
		b.WriteString(`<c:lineChart><c:grouping val="standard"/><c:varyColors val="0"/>`)
	}
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		col := colName(i + 1)
		fmt.Fprintf(&b, `<c:ser><c:idx val="%d"/><c:order val="%d"/>`, i, i)
		fmt.Fprintf(&b, `<c:tx><c:strRef><c:f>Sheet1!$%s$1</c:f><c:strCache><c:ptCount val="1"/><c:pt idx="0"><c:v>%s</c:v></c:pt></c:strCache></c:strRef></c:tx>`, col, esc(s.Name))
		if c.Kind == deck.Bar {
			b.WriteString(`<c:spPr>` + solid(color) + `</c:spPr><c:invertIfNegative val="0"/>`)
		} else {
			b.WriteString(`<c:spPr><a:ln w="22225" cap="rnd">` + solid(color) + `<a:round/></a:ln></c:spPr>`)
			all, isolated := lineMarkers(s.Values, n)
			if all {
				b.WriteString(markerXML(color))
			} else {
				b.WriteString(`<c:marker><c:symbol val="none"/></c:marker>`)
				for _, j := range isolated {
					fmt.Fprintf(&b, `<c:dPt><c:idx val="%d"/>%s<c:bubble3D val="0"/></c:dPt>`, j, markerXML(color))
				}
			}
		}
		fmt.Fprintf(&b, `<c:cat><c:strRef><c:f>Sheet1!$A$2:$A$%d</c:f><c:strCache><c:ptCount val="%d"/>`, n+1, n)
		for j, cat := range c.Categories {
			fmt.Fprintf(&b, `<c:pt idx="%d"><c:v>%s</c:v></c:pt>`, j, esc(cat))
		}
		b.WriteString(`</c:strCache></c:strRef></c:cat>`)
		fmt.Fprintf(&b, `<c:val><c:numRef><c:f>Sheet1!$%s$2:$%s$%d</c:f><c:numCache><c:formatCode>General</c:formatCode><c:ptCount val="%d"/>`, col, col, n+1, n)
		for j, v := range s.Values {
			if j < n && drawable(v) {
				fmt.Fprintf(&b, `<c:pt idx="%d"><c:v>%s</c:v></c:pt>`, j, num(v))
			}
		}
		b.WriteString(`</c:numCache></c:numRef></c:val>`)
		if c.Kind == deck.Line {
			b.WriteString(`<c:smooth val="0"/>`)
		}
		b.WriteString(`</c:ser>`)
	}
	if c.Kind == deck.Bar {
		b.WriteString(`<c:gapWidth val="60"/><c:axId val="50010001"/><c:axId val="50010002"/></c:barChart>`)
	} else {
		b.WriteString(`<c:marker val="1"/><c:axId val="50010001"/><c:axId val="50010002"/></c:lineChart>`)
	}
	every := c.LabelEvery
	if every < 1 {
		every = 1
	}
	b.WriteString(`<c:catAx><c:axId val="50010001"/><c:scaling><c:orientation val="minMax"/></c:scaling><c:delete val="0"/><c:axPos val="b"/>`)
	tick := "out"
	if n > 31 {
		tick = "none" // dense categories (hourly series): ticks would be a smear
	}
	b.WriteString(`<c:numFmt formatCode="General" sourceLinked="0"/><c:majorTickMark val="` + tick + `"/><c:minorTickMark val="none"/><c:tickLblPos val="low"/>`)
	b.WriteString(`<c:spPr><a:ln w="9525">` + solid("BFBFBF") + `</a:ln></c:spPr>` + txPr(1000, deck.ColorGrey))
	fmt.Fprintf(&b, `<c:crossAx val="50010002"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/><c:lblOffset val="100"/><c:tickLblSkip val="%d"/><c:tickMarkSkip val="%d"/><c:noMultiLvlLbl val="0"/></c:catAx>`, every, every)
	vf := c.ValueFormat
	if vf == "" {
		vf = "General"
	}
	b.WriteString(`<c:valAx><c:axId val="50010002"/><c:scaling><c:orientation val="minMax"/><c:min val="0"/></c:scaling><c:delete val="0"/><c:axPos val="l"/>`)
	b.WriteString(`<c:majorGridlines><c:spPr><a:ln w="6350">` + solid("E3E6EA") + `</a:ln></c:spPr></c:majorGridlines>`)
	b.WriteString(`<c:numFmt formatCode="` + esc(vf) + `" sourceLinked="0"/><c:majorTickMark val="none"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>`)
	b.WriteString(`<c:spPr><a:ln><a:noFill/></a:ln></c:spPr>` + txPr(1000, deck.ColorGrey))
	b.WriteString(`<c:crossAx val="50010001"/><c:crosses val="autoZero"/><c:crossBetween val="between"/></c:valAx>`)
	b.WriteString(`<c:spPr><a:noFill/><a:ln><a:noFill/></a:ln></c:spPr></c:plotArea>`)
	b.WriteString(`<c:legend><c:legendPos val="b"/><c:overlay val="0"/>` + txPr(1100, deck.ColorGrey) + `</c:legend>`)
	b.WriteString(`<c:plotVisOnly val="1"/><c:dispBlanksAs val="gap"/></c:chart>`)
	b.WriteString(`<c:spPr><a:noFill/><a:ln><a:noFill/></a:ln></c:spPr>`)
	b.WriteString(`<c:externalData r:id="rId1"><c:autoUpdate val="0"/></c:externalData></c:chartSpace>`)
	return []byte(b.String())
}
