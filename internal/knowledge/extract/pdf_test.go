package extract

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExtractPDFReadsPagesLinesAndParagraphs(t *testing.T) {
	t.Parallel()
	pages := []string{
		"Refund policy\n\nCustomers may ask for a refund within\n30 days of purchase.\n\n- Contact support\n- Keep the receipt",
		"Second page (with parentheses) and a back\\slash.\n\nCafé prices: 5 €.",
	}
	want := Document{Blocks: []Block{
		p("Refund policy"),
		p("Customers may ask for a refund within 30 days of purchase."),
		li("Contact support"),
		li("Keep the receipt"),
		p("Second page (with parentheses) and a back\\slash."),
		p("Café prices: 5 €."),
	}}
	tests := []struct {
		name string
		pdf  []byte
		want Document
	}{
		{"flate-compressed content streams", MinimalPDF(pages...), want},
		{"uncompressed content streams", buildPDF(pdfFixture{pages: pages}), want},
		{"info title", buildPDF(pdfFixture{pages: []string{"Body"}, title: "Annual Report", compress: true}), Document{Title: "Annual Report", Blocks: []Block{p("Body")}}},
		{"long lines wrap and rejoin", MinimalPDF(strings.Repeat("word ", 60)), Document{Blocks: []Block{p(strings.TrimSpace(strings.Repeat("word ", 60)))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Extract(KindPDF, tt.pdf)
			if err != nil {
				t.Fatalf("Extract() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Extract() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// toUnicodeCMap maps the two-byte codes 0x0001.. to the given text.
func toUnicodeCMap(text string) string {
	var b strings.Builder
	b.WriteString("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n1 begincodespacerange <0000> <FFFF> endcodespacerange\n")
	runes := []rune(text)
	fmt.Fprintf(&b, "%d beginbfchar\n", len(runes))
	for i, r := range runes {
		fmt.Fprintf(&b, "<%04X> <%04X>\n", i+1, r)
	}
	b.WriteString("endbfchar\n1 beginbfrange <0100> <0102> <0041> endbfrange\nendcmap CMapName currentdict /CMap defineresource pop end end\n")
	return b.String()
}

func TestExtractPDFDecodesFontsAndTextOperators(t *testing.T) {
	t.Parallel()
	got, err := Extract(KindPDF, fontsPDF())
	if err != nil {
		t.Fatalf("Extract() error = %v", err)
	}
	want := Document{Blocks: []Block{
		p("Héll wo Simple font: AB next line quoted"),
		p("ABC"),
		p("From the form"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Extract() mismatch (-want +got):\n%s", diff)
	}
}

func TestExtractPDFReadsObjectStreamsAndIncrementalUpdates(t *testing.T) {
	t.Parallel()
	got, err := Extract(KindPDF, objectStreamPDF())
	if err != nil {
		t.Fatalf("Extract() error = %v", err)
	}
	if diff := cmp.Diff(Document{Blocks: []Block{p("New text")}}, got); diff != "" {
		t.Errorf("Extract() mismatch (-want +got):\n%s", diff)
	}
}

func TestExtractPDFExplainsWhatIsWrong(t *testing.T) {
	t.Parallel()
	pdfWith := func(stream []byte) []byte {
		return assemblePDF([]string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
			fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", len(stream), stream),
		}, "/Root 1 0 R")
	}
	var bomb bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&bomb, zlib.BestSpeed)
	zw.Write(bytes.Repeat([]byte("BT ET "), 3<<20/6))
	zw.Close()
	scanned := assemblePDF([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
		pdfStreamObject("", []byte("q 612 0 0 792 0 0 cm /Im1 Do Q"), true),
		"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /Filter /DCTDecode /Length 2 >>\nstream\n\xff\xd8\nendstream",
	}, "/Root 1 0 R")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"encrypted", buildPDF(pdfFixture{pages: []string{"secret"}, encrypt: true}), "pdf: the file is encrypted; upload an unencrypted copy"},
		{"scanned image", scanned, "pdf: no text found (a scanned image needs OCR first)"},
		{"blank pages", MinimalPDF("", " "), "pdf: no text found (a scanned image needs OCR first)"},
		{"no header", []byte("hello"), "pdf: the file has no PDF header"},
		{"header only", []byte("%PDF-1.7\n%%EOF"), "pdf: no PDF objects found; the file is damaged or truncated"},
		{"inflation bomb", pdfWith(bomb.Bytes()), "pdf: the content inflates more than 100-fold; the file looks like a decompression bomb"},
		{"too much content", pdfWith(storedZlib(maxStreamBytes + 1)), "pdf: the content inflates to more than 50 MiB; split the file into smaller parts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Extract(KindPDF, tt.data)
			if !errors.Is(err, ErrMalformed) || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("Extract() error = %v, want ErrMalformed ending in %q", err, tt.want)
			}
		})
	}
}

func TestExtractPDFSurvivesDamage(t *testing.T) {
	t.Parallel()
	good := MinimalPDF("Alpha paragraph.", "Beta paragraph.")
	tests := []struct {
		name string
		data []byte
	}{
		{"truncated in the middle", good[:len(good)*3/4]},
		{"garbage xref", bytes.Replace(good, []byte("xref"), []byte("xxxx"), 1)},
		{"wrong stream length", bytes.Replace(good, []byte("/Length "), []byte("/Length 9"), -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Extract(KindPDF, tt.data)
			if err != nil {
				t.Fatalf("Extract() error = %v", err)
			}
			if len(doc.Blocks) == 0 || doc.Blocks[0].Text != "Alpha paragraph." {
				t.Errorf("Extract() blocks = %+v, want the first page's text first", doc.Blocks)
			}
		})
	}
}

func TestPDFTextStringDecodesTitles(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Plain", "Plain"},
		{"\xfe\xff\x00H\x00\xe9\x00!", "Hé!"},
		{"\xef\xbb\xbfUTF-8 ✓", "UTF-8 ✓"},
		{"Caf\xe9 \x84 \x80", "Café — •"},
	}
	for _, tt := range tests {
		if got := pdfTextString(tt.in); got != tt.want {
			t.Errorf("pdfTextString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodingTablesAreComplete(t *testing.T) {
	t.Parallel()
	for name, n := range map[string]int{"pdfDocHigh": len(pdfDocHigh), "cp1252High": len(cp1252High), "macRomanHigh": len(macRomanHigh)} {
		want := 32
		if name == "macRomanHigh" {
			want = 128
		}
		if n != want {
			t.Errorf("len(%s) = %d, want %d", name, n, want)
		}
	}
	if len(asciiGlyphNames) != 0x7F-0x20 || len(latin1GlyphNames) != 0x100-0xA0 {
		t.Errorf("glyph name lists: %d ASCII, %d Latin-1", len(asciiGlyphNames), len(latin1GlyphNames))
	}
	for name, want := range map[string]string{"eacute": "é", "quoteright": "’", "uni20AC": "€", "u1F600": "😀", "f_i": "fi", "a.sc": "a", "g123": ""} {
		if got := glyphText(name); got != want {
			t.Errorf("glyphText(%q) = %q, want %q", name, got, want)
		}
	}
}

// fontsPDF builds a PDF that exercises the text machinery.
func fontsPDF() []byte {
	// A Type0 font with Identity-H codes mapped by a ToUnicode CMap, a
	// simple font with /Differences, TJ arrays with word gaps, hex strings,
	// the ' and " operators, Tm positioning and a form XObject.
	content := strings.Join([]string{
		"BT /F1 12 Tf 14 TL 72 700 Td",
		"<0001000200030004> Tj",                    // "Héll" via the CMap
		"[<0005> -300 <00060007>] TJ",              // " " gap then "wo"
		"/F2 12 Tf T* [(Simple) -250 (font:) ] TJ", // a new line in the simple font
		"( \\101\\102) Tj",                         // same line: " AB" through Differences
		"(next line) '",                            // ' moves to the next line
		"2 1 (quoted) \"",                          // " too
		"ET",
		"BT /F1 12 Tf 1 0 0 1 72 600 Tm <010001010102> Tj ET", // bfrange: ABC, a paragraph gap above
		"q 1 0 0 1 0 -100 cm /Fm1 Do Q",
		"BI /W 1 /H 1 /BPC 8 /CS /G ID \x00\xffTj EI",
	}, "\n")
	form := "BT /F2 12 Tf 72 600 Td (From the form) Tj ET"
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 5 0 R /F2 8 0 R >> /XObject << /Fm1 9 0 R >> >> /Contents 4 0 R >>",
		pdfStreamObject("", []byte(content), true),
		"<< /Type /Font /Subtype /Type0 /BaseFont /ABC /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
		"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABC /DW 500 /W [1 [600 500 250 250] 5 7 300] >>",
		pdfStreamObject("", []byte(toUnicodeCMap("Héll wo")), true),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 32 /Widths [278] /Encoding << /BaseEncoding /WinAnsiEncoding /Differences [65 /A /B] >> >>",
		pdfStreamObject(" /Type /XObject /Subtype /Form /BBox [0 0 612 792]", []byte(form), false),
	}
	return assemblePDF(objects, "/Root 1 0 R")
}

// objectStreamPDF keeps its page tree in an object stream and updates its
// content incrementally.
func objectStreamPDF() []byte {
	// The page tree and font live in an object stream, as modern writers
	// store them; a later update replaces the content stream.
	packed := []string{
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var header, body strings.Builder
	for i, obj := range packed {
		num := []int{2, 3, 5}[i]
		fmt.Fprintf(&header, "%d %d ", num, body.Len())
		body.WriteString(obj + "\n")
	}
	objStm := pdfStreamObject(fmt.Sprintf(" /Type /ObjStm /N %d /First %d", len(packed), header.Len()), []byte(header.String()+body.String()), true)
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [] /Count 0 >>", // replaced by the object stream's version? no: the direct one is older
		"null",
		pdfStreamObject("", []byte("BT /F1 12 Tf 72 700 Td (Old text) Tj ET"), true),
		"null",
		objStm,
	}
	data := assemblePDF(objects, "/Root 1 0 R")
	// An incremental update appends a new version of object 4.
	update := "4 0 obj\n" + pdfStreamObject("", []byte("BT /F1 12 Tf 72 700 Td (New text) Tj ET"), true) + "\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
	data = append(data, update...)
	return data
}

// storedZlib writes n bytes of content as a zlib stream of stored
// (uncompressed) blocks: a file large enough that the absolute decode
// limit, not the ratio, applies. It is built by hand because compressing
// 50 MiB, even at level 0, is slow under the race detector; the checksum
// is left zero, which the extractor tolerates as it does other damage.
func storedZlib(n int) []byte {
	var b bytes.Buffer
	b.Grow(n + n/65535*5 + 16)
	b.Write([]byte{0x78, 0x01})
	block := bytes.Repeat([]byte("BT ET "), 65535/6+1)[:65535]
	for n > 0 {
		size := min(n, len(block))
		n -= size
		final := byte(0)
		if n == 0 {
			final = 1
		}
		b.Write([]byte{final, byte(size), byte(size >> 8), ^byte(size), ^byte(size >> 8)})
		b.Write(block[:size])
	}
	b.Write([]byte{0, 0, 0, 0})
	return b.Bytes()
}

func TestPDFLexerRejectsNonFiniteNumbers(t *testing.T) {
	t.Parallel()
	for _, word := range []string{"+Inf", "-Infinity", "NaN", "1e999"} {
		l := pdfLexer{data: []byte(word)}
		if tok := l.next(); tok.kind == tokNumber && !finite(tok.num) {
			t.Errorf("lexing %q gave the number %v", word, tok.num)
		}
	}
}

func TestObjectStreamWithHostileOffsetsIsSkipped(t *testing.T) {
	t.Parallel()
	header := "2 1e300 3 -5 4 99999999999 "
	objStm := pdfStreamObject(fmt.Sprintf(" /Type /ObjStm /N 3 /First %d", len(header)), []byte(header+"<< /A 1 >>"), false)
	data := assemblePDF([]string{"<< /Type /Catalog >>", objStm}, "/Root 1 0 R")
	if _, err := Extract(KindPDF, data); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Extract() error = %v, want ErrMalformed", err)
	}
}

func TestExtractPDFParsesASharedCMapOnce(t *testing.T) {
	t.Parallel()
	// 300 pages, each with its own inline font dictionary, all sharing a
	// CMap of 256k mappings: parsing it per page would take seconds.
	var cmap strings.Builder
	cmap.WriteString("1 begincodespacerange <0000> <FFFF> endcodespacerange\n1024 beginbfrange\n")
	for i := range 1024 {
		fmt.Fprintf(&cmap, "<%02X00> <%02XFF> <4E00>\n", i%256, i%256) // CJK ideographs: all letters
	}
	cmap.WriteString("endbfrange\n")
	objects := []string{"<< /Type /Catalog /Pages 2 0 R >>", "", pdfStreamObject("", []byte(cmap.String()), true)}
	var kids []string
	for i := range 300 {
		n := len(objects) + 1
		kids = append(kids, fmt.Sprintf("%d 0 R", n))
		objects = append(objects,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 << /Subtype /Type0 /ToUnicode 3 0 R >> >> >> /Contents %d 0 R >>", n+1),
			pdfStreamObject("", []byte(fmt.Sprintf("BT /F1 12 Tf 72 700 Td <%04X> Tj ET", i)), false))
	}
	objects[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))
	start := time.Now()
	doc, err := Extract(KindPDF, assemblePDF(objects, "/Root 1 0 R"))
	if err != nil {
		t.Fatalf("Extract() error = %v", err)
	}
	if len(doc.Blocks) != 300 {
		t.Errorf("Extract() gave %d blocks, want one per page", len(doc.Blocks))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Extract() took %v", d)
	}
}
