// Package office converts decks with LibreOffice for tests: .pptx → PDF
// (soffice --headless), page count (pdfinfo), PNG pages (pdftoppm), and
// the pixels of a colour in a region of a rendered slide.
// When the tools are missing a test skips, but fails when CI is set (CI
// must install libreoffice-impress and poppler-utils).
package office

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/reports/deck"
)

func need(t testing.TB, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found but CI is set: install %s (apt-get install -y %s)", tool, pkg, pkg)
	}
	t.Skipf("%s not found: install %s to run this test", tool, pkg)
	return ""
}

// ToPDF converts the .pptx at src to a PDF in dir and returns its path.
func ToPDF(t testing.TB, src, dir string) string {
	t.Helper()
	soffice := need(t, "soffice", "libreoffice-impress")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	profile := filepath.Join(t.TempDir(), "lo-profile")
	cmd := exec.CommandContext(ctx, soffice, "-env:UserInstallation=file://"+profile,
		"--headless", "--norestore", "--convert-to", "pdf", "--outdir", dir, src)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("soffice --convert-to pdf: %v\n%s", err, out)
	}
	pdf := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".pdf")
	if _, err := os.Stat(pdf); err != nil {
		t.Fatalf("soffice wrote no PDF (%v):\n%s", err, out)
	}
	return pdf
}

var pagesRE = regexp.MustCompile(`(?m)^Pages:\s+(\d+)`)

// Pages returns the number of pages of a PDF.
func Pages(t testing.TB, pdf string) int {
	t.Helper()
	pdfinfo := need(t, "pdfinfo", "poppler-utils")
	out, err := exec.Command(pdfinfo, pdf).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	m := pagesRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("pdfinfo printed no page count:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// Text returns the text of a PDF (pdftotext -layout).
func Text(t testing.TB, pdf string) string {
	t.Helper()
	tool := need(t, "pdftotext", "poppler-utils")
	out, err := exec.Command(tool, "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

// PNGs renders every page of a PDF as prefix-N.png (width px) and returns the files.
func PNGs(t testing.TB, pdf, prefix string, width int) []string {
	t.Helper()
	tool := need(t, "pdftoppm", "poppler-utils")
	if out, err := exec.Command(tool, "-png", "-scale-to-x", fmt.Sprint(width), "-scale-to-y", "-1", pdf, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(prefix + "-*.png")
	return files
}

// ColourPixels counts the pixels of the rendered slide pngPath (a page of
// PNGs) close to colour (hex RGB) inside r (inches on the slide).
func ColourPixels(t testing.TB, pngPath string, r deck.Rect, colour string) int {
	t.Helper()
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", pngPath, err)
	}
	var want [3]int
	for i := range want {
		v, err := strconv.ParseUint(colour[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatalf("colour %q: %v", colour, err)
		}
		want[i] = int(v)
	}
	b := img.Bounds()
	scale := float64(b.Dx()) / deck.Width
	n := 0
	for py := b.Min.Y + int(r.Y*scale); py < b.Min.Y+int((r.Y+r.H)*scale) && py < b.Max.Y; py++ {
		for px := b.Min.X + int(r.X*scale); px < b.Min.X+int((r.X+r.W)*scale) && px < b.Max.X; px++ {
			cr, cg, cb, _ := img.At(px, py).RGBA()
			if absInt(int(cr>>8)-want[0])+absInt(int(cg>>8)-want[1])+absInt(int(cb>>8)-want[2]) < 60 {
				n++
			}
		}
	}
	return n
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
