// Package ooxmlcheck checks a .pptx package against the Open Packaging
// Conventions and the PresentationML rules that make PowerPoint refuse or
// "repair" a file: content types, relationships, slide lists and ids.
// Tests use it on every deck the writers produce.
package ooxmlcheck

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
)

const (
	nsR      = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	relBase  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
	ctPrefix = "application/vnd.openxmlformats-officedocument.presentationml."
)

// Relationship is one entry of a .rels part, with its target resolved to a part name.
type Relationship struct {
	ID, Type, Target, TargetMode string
	Part                         string // resolved, without leading slash
}

// Package is an opened .pptx: parts, content types and relationships.
type Package struct {
	Parts        map[string][]byte
	ContentTypes map[string]string         // part name → content type
	Rels         map[string][]Relationship // source part ("" for the package) → relationships
}

// Open reads a package and resolves content types and relationships.
func Open(data []byte) (*Package, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not a zip: %w", err)
	}
	p := &Package{Parts: map[string][]byte{}, ContentTypes: map[string]string{}, Rels: map[string][]Relationship{}}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		if _, dup := p.Parts[f.Name]; dup {
			return nil, fmt.Errorf("duplicate zip entry %s", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		p.Parts[f.Name] = b
	}
	return p, nil
}

// Check opens data and returns every rule it breaks, joined; nil when valid.
func Check(data []byte) error {
	p, err := Open(data)
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	// Content types.
	ctData, ok := p.Parts["[Content_Types].xml"]
	if !ok {
		return errors.New("[Content_Types].xml missing")
	}
	var types struct {
		Defaults []struct {
			Extension   string `xml:"Extension,attr"`
			ContentType string `xml:"ContentType,attr"`
		} `xml:"Default"`
		Overrides []struct {
			PartName    string `xml:"PartName,attr"`
			ContentType string `xml:"ContentType,attr"`
		} `xml:"Override"`
	}
	if err := xml.Unmarshal(ctData, &types); err != nil {
		return fmt.Errorf("[Content_Types].xml: %w", err)
	}
	defaults := map[string]string{}
	for _, d := range types.Defaults {
		defaults[strings.ToLower(d.Extension)] = d.ContentType
	}
	overrides := map[string]string{}
	for _, o := range types.Overrides {
		name := strings.TrimPrefix(o.PartName, "/")
		if _, exists := p.Parts[name]; !exists {
			bad("content type override for missing part %s", o.PartName)
		}
		overrides[strings.ToLower(name)] = o.ContentType
	}
	for name := range p.Parts {
		if name == "[Content_Types].xml" {
			continue
		}
		ct := overrides[strings.ToLower(name)]
		if ct == "" {
			ct = defaults[strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))]
		}
		if ct == "" {
			bad("part %s has no content type", name)
		}
		p.ContentTypes[name] = ct
		if strings.HasSuffix(name, ".xml") || strings.HasSuffix(name, ".rels") {
			if err := wellFormed(p.Parts[name]); err != nil {
				bad("part %s is not well-formed XML: %v", name, err)
			}
		}
	}

	// Relationships.
	for name, data := range p.Parts {
		if !strings.HasSuffix(name, ".rels") {
			continue
		}
		dir, file := path.Split(name)
		if path.Base(dir) != "_rels" {
			bad("relationship part %s is not in a _rels folder", name)
			continue
		}
		srcDir := strings.TrimSuffix(strings.TrimSuffix(dir, "/"), "_rels")
		source := srcDir + strings.TrimSuffix(file, ".rels")
		if source != "" {
			if _, ok := p.Parts[source]; !ok {
				bad("relationship part %s belongs to missing part %s", name, source)
			}
		}
		var rels struct {
			Rel []Relationship `xml:"Relationship"`
		}
		var raw struct {
			Rel []struct {
				ID         string `xml:"Id,attr"`
				Type       string `xml:"Type,attr"`
				Target     string `xml:"Target,attr"`
				TargetMode string `xml:"TargetMode,attr"`
			} `xml:"Relationship"`
		}
		if err := xml.Unmarshal(data, &raw); err != nil {
			continue
		}
		ids := map[string]bool{}
		for _, r := range raw.Rel {
			if ids[r.ID] {
				bad("%s: duplicate relationship id %s", name, r.ID)
			}
			ids[r.ID] = true
			rel := Relationship{ID: r.ID, Type: r.Type, Target: r.Target, TargetMode: r.TargetMode}
			if r.TargetMode != "External" {
				if strings.HasPrefix(r.Target, "/") {
					rel.Part = strings.TrimPrefix(path.Clean(r.Target), "/")
				} else {
					rel.Part = strings.TrimPrefix(path.Clean(path.Join("/"+srcDir, r.Target)), "/")
				}
				if _, ok := p.Parts[rel.Part]; !ok {
					bad("%s: relationship %s targets missing part %s", name, r.ID, r.Target)
				}
			}
			rels.Rel = append(rels.Rel, rel)
		}
		p.Rels[source] = rels.Rel
	}

	// Every r:id used in a part exists in its relationships.
	for name, data := range p.Parts {
		if !strings.HasSuffix(name, ".xml") {
			continue
		}
		for _, id := range relIDs(data) {
			if p.Rel(name, id) == nil {
				bad("%s references relationship %s that %s does not define", name, id, relsName(name))
			}
		}
	}

	// Package → presentation.
	var pres string
	for _, r := range p.Rels[""] {
		if r.Type == relBase+"officeDocument" {
			pres = r.Part
		}
	}
	if pres == "" {
		bad("_rels/.rels has no officeDocument relationship")
		return errors.Join(errs...)
	}
	if ct := p.ContentTypes[pres]; ct != ctPrefix+"presentation.main+xml" {
		bad("%s has content type %q, want the presentation main type", pres, ct)
	}

	type idRef struct {
		ID  uint64
		RID string
	}
	var doc struct {
		Masters, NotesMasters, Slides []idRef
		Size                          struct{ CX, CY int64 }
	}
	for _, e := range elements(p.Parts[pres]) {
		ref := idRef{RID: e.attrs["r:id"]}
		if v, ok := e.attrs["id"]; ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				bad("%s: %s id %q is not an unsigned 32-bit integer", pres, e.name, v)
			}
			ref.ID = n
		}
		switch e.name {
		case "sldMasterId":
			doc.Masters = append(doc.Masters, ref)
		case "notesMasterId":
			doc.NotesMasters = append(doc.NotesMasters, ref)
		case "sldId":
			doc.Slides = append(doc.Slides, ref)
		case "sldSz":
			doc.Size.CX, _ = strconv.ParseInt(e.attrs["cx"], 10, 64)
			doc.Size.CY, _ = strconv.ParseInt(e.attrs["cy"], 10, 64)
		}
	}
	if doc.Size.CX < 914400 || doc.Size.CY < 914400 || doc.Size.CX > 51206400 || doc.Size.CY > 51206400 {
		bad("%s: slide size %dx%d out of range", pres, doc.Size.CX, doc.Size.CY)
	}
	if len(doc.Masters) == 0 {
		bad("%s lists no slide master", pres)
	}
	seenIDs := map[uint64]bool{}
	listed := map[string]bool{}
	for _, s := range doc.Slides {
		if s.ID < 256 || s.ID >= 2147483648 {
			bad("%s: slide id %d out of range [256, 2147483648)", pres, s.ID)
		}
		if seenIDs[s.ID] {
			bad("%s: duplicate slide id %d", pres, s.ID)
		}
		seenIDs[s.ID] = true
		r := p.Rel(pres, s.RID)
		if r == nil || r.Type != relBase+"slide" {
			bad("%s: slide id %d uses %s which is not a slide relationship", pres, s.ID, s.RID)
			continue
		}
		listed[r.Part] = true
	}
	layoutIDs := map[uint64]bool{}
	for _, m := range doc.Masters {
		if m.ID < 2147483648 {
			bad("%s: slide master id %d below 2147483648", pres, m.ID)
		}
		layoutIDs[m.ID] = true
		r := p.Rel(pres, m.RID)
		if r == nil || r.Type != relBase+"slideMaster" {
			bad("%s: slide master uses %s which is not a slideMaster relationship", pres, m.RID)
			continue
		}
		errs = append(errs, p.checkMaster(r.Part, layoutIDs)...)
	}
	for _, r := range p.Rels[pres] {
		if r.Type == relBase+"slide" && !listed[r.Part] {
			bad("%s: slide %s is related but not listed in sldIdLst", pres, r.Part)
		}
	}
	notesMasters := map[string]bool{}
	for _, nm := range doc.NotesMasters {
		r := p.Rel(pres, nm.RID)
		if r == nil || r.Type != relBase+"notesMaster" {
			bad("%s: notesMasterId uses %s which is not a notesMaster relationship", pres, nm.RID)
			continue
		}
		notesMasters[r.Part] = true
		if p.relOfType(r.Part, "theme") == nil {
			bad("notes master %s has no theme", r.Part)
		}
	}
	for name, ct := range p.ContentTypes {
		switch ct {
		case ctPrefix + "slide+xml":
			if !listed[name] {
				bad("slide part %s is not listed in the presentation", name)
			}
			if r := p.relOfType(name, "slideLayout"); r == nil {
				bad("slide %s has no slideLayout relationship", name)
			}
			errs = append(errs, shapeIDs(name, p.Parts[name])...)
		case ctPrefix + "notesMaster+xml":
			if !notesMasters[name] {
				bad("notes master %s is not listed in notesMasterIdLst", name)
			}
		case ctPrefix + "notesSlide+xml":
			if r := p.relOfType(name, "notesMaster"); r == nil || !notesMasters[r.Part] {
				bad("notes slide %s does not reference a listed notes master", name)
			}
		}
	}
	// Relationship types match their targets' content types.
	want := map[string]string{
		"slide":       ctPrefix + "slide+xml",
		"slideLayout": ctPrefix + "slideLayout+xml",
		"slideMaster": ctPrefix + "slideMaster+xml",
		"notesMaster": ctPrefix + "notesMaster+xml",
		"theme":       "application/vnd.openxmlformats-officedocument.theme+xml",
		"chart":       "application/vnd.openxmlformats-officedocument.drawingml.chart+xml",
	}
	for src, rels := range p.Rels {
		for _, r := range rels {
			if ct, ok := want[strings.TrimPrefix(r.Type, relBase)]; ok && r.Part != "" && p.ContentTypes[r.Part] != ct {
				bad("%s: %s relationship to %s whose content type is %q", relsName(src), strings.TrimPrefix(r.Type, relBase), r.Part, p.ContentTypes[r.Part])
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

func (p *Package) checkMaster(master string, ids map[uint64]bool) []error {
	var errs []error
	if p.relOfType(master, "theme") == nil {
		errs = append(errs, fmt.Errorf("slide master %s has no theme", master))
	}
	var m struct {
		Layouts []struct {
			ID  uint64
			RID string
		}
	}
	for _, e := range elements(p.Parts[master]) {
		if e.name == "sldLayoutId" {
			n, _ := strconv.ParseUint(e.attrs["id"], 10, 32)
			m.Layouts = append(m.Layouts, struct {
				ID  uint64
				RID string
			}{n, e.attrs["r:id"]})
		}
	}
	listed := map[string]bool{}
	for _, l := range m.Layouts {
		if l.ID < 2147483648 || ids[l.ID] {
			errs = append(errs, fmt.Errorf("%s: layout id %d below 2147483648 or not unique", master, l.ID))
		}
		ids[l.ID] = true
		r := p.Rel(master, l.RID)
		if r == nil || r.Type != relBase+"slideLayout" {
			errs = append(errs, fmt.Errorf("%s: layout uses %s which is not a slideLayout relationship", master, l.RID))
			continue
		}
		listed[r.Part] = true
		if mr := p.relOfType(r.Part, "slideMaster"); mr == nil || mr.Part != master {
			errs = append(errs, fmt.Errorf("layout %s does not point back to master %s", r.Part, master))
		}
	}
	for _, r := range p.Rels[master] {
		if r.Type == relBase+"slideLayout" && !listed[r.Part] {
			errs = append(errs, fmt.Errorf("%s: layout %s related but not in sldLayoutIdLst", master, r.Part))
		}
	}
	return errs
}

// Rel returns the relationship id of part source, or nil.
func (p *Package) Rel(source, id string) *Relationship {
	for i, r := range p.Rels[source] {
		if r.ID == id {
			return &p.Rels[source][i]
		}
	}
	return nil
}

func (p *Package) relOfType(source, typ string) *Relationship {
	for i, r := range p.Rels[source] {
		if r.Type == relBase+typ {
			return &p.Rels[source][i]
		}
	}
	return nil
}

func relsName(part string) string {
	dir, file := path.Split(part)
	return dir + "_rels/" + file + ".rels"
}

type element struct {
	name  string
	attrs map[string]string // r:* attributes are keyed "r:name"
}

// elements lists every element of an XML part with its attributes.
func elements(data []byte) []element {
	var out []element
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		if se, ok := tok.(xml.StartElement); ok {
			e := element{name: se.Name.Local, attrs: map[string]string{}}
			for _, a := range se.Attr {
				k := a.Name.Local
				if a.Name.Space == nsR {
					k = "r:" + k
				}
				e.attrs[k] = a.Value
			}
			out = append(out, e)
		}
	}
}

func wellFormed(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// relIDs lists the values of r:* attributes (id, embed, link, pict…).
func relIDs(data []byte) []string {
	var out []string
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == nsR {
					out = append(out, a.Value)
				}
			}
		}
	}
}

// shapeIDs checks that cNvPr ids are unique within a slide.
func shapeIDs(name string, data []byte) []error {
	var errs []error
	seen := map[string]bool{}
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return errs
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "cNvPr" {
			for _, a := range se.Attr {
				if a.Name.Local == "id" {
					if _, err := strconv.ParseUint(a.Value, 10, 32); err != nil || seen[a.Value] {
						errs = append(errs, fmt.Errorf("%s: shape id %q invalid or not unique", name, a.Value))
					}
					seen[a.Value] = true
				}
			}
		}
	}
}
