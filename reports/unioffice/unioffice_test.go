//go:build unioffice

package unioffice

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/unidoc/unioffice/presentation"

	"github.com/meshtelemetry/telemetry/reports/deck"
)

func TestNoKeyFailsWithTheFix(t *testing.T) {
	d := &deck.Deck{Slides: []deck.Slide{{Title: "t", Elements: []deck.Element{&deck.Text{Paragraphs: []deck.Paragraph{deck.P("x")}}}}}}
	var buf bytes.Buffer
	err := Writer{}.Write(&buf, d)
	if !errors.Is(err, ErrNoLicense) {
		t.Fatalf("error %v, want ErrNoLicense", err)
	}
	for _, want := range []string{EnvKey, "build without -tags unioffice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the fix %q", err, want)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written despite the error", buf.Len())
	}
}

// TestUniofficeItselfRefusesWithoutLicense documents why this writer is not
// the default: unioffice's own Save fails without a license.
func TestUniofficeItselfRefusesWithoutLicense(t *testing.T) {
	ppt := presentation.New()
	defer ppt.Close()
	ppt.AddSlide()
	var buf bytes.Buffer
	err := ppt.Save(&buf)
	if err == nil {
		t.Fatal("unioffice saved without a license")
	}
	t.Logf("unioffice without a key: %v (%d bytes)", err, buf.Len())
}
