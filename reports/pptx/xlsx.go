package pptx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strings"

	"github.com/meshtelemetry/telemetry/reports/deck"
)

// chartWorkbook is a minimal SpreadsheetML workbook holding a chart's data
// (categories in column A, one column per series, names in row 1), which
// PowerPoint opens on "Edit Data".
func chartWorkbook(c *deck.Chart) []byte {
	var sheet strings.Builder
	sheet.WriteString(xml.Header + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	str := func(ref, s string) string {
		return fmt.Sprintf(`<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, ref, esc(s))
	}
	sheet.WriteString(`<row r="1">` + str("A1", ""))
	for i, s := range c.Series {
		sheet.WriteString(str(fmt.Sprintf("%s1", colName(i+1)), s.Name))
	}
	sheet.WriteString(`</row>`)
	for j, cat := range c.Categories {
		r := j + 2
		fmt.Fprintf(&sheet, `<row r="%d">`, r)
		sheet.WriteString(str(fmt.Sprintf("A%d", r), cat))
		for i, s := range c.Series {
			if j < len(s.Values) && !math.IsNaN(s.Values[j]) && !math.IsInf(s.Values[j], 0) {
				fmt.Fprintf(&sheet, `<c r="%s%d"><v>%s</v></c>`, colName(i+1), r, num(s.Values[j]))
			}
		}
		sheet.WriteString(`</row>`)
	}
	sheet.WriteString(`</sheetData></worksheet>`)

	const main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
	files := []struct{ name, data string }{
		{"[Content_Types].xml", xml.Header + `<Types xmlns="` + nsCT + `">` +
			`<Default Extension="rels" ContentType="` + ctRels + `"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="` + main + `.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="` + main + `.worksheet+xml"/></Types>`},
		{"_rels/.rels", string(relsXML([]rel{{"rId1", relOffice + "officeDocument", "xl/workbook.xml"}}))},
		{"xl/workbook.xml", xml.Header + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="` + nsR + `">` +
			`<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", string(relsXML([]rel{{"rId1", relOffice + "worksheet", "worksheets/sheet1.xml"}}))},
		{"xl/worksheets/sheet1.xml", sheet.String()},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		// Writing fixed, valid names to memory cannot fail.
		w, _ := zw.Create(f.name)
		_, _ = w.Write([]byte(f.data))
	}
	_ = zw.Close()
	return buf.Bytes()
}
