package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExtractDOCXReadsStylesListsAndTables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		want Document
	}{
		{
			name: "core title and body",
			data: MinimalDOCX("Employee Handbook",
				DocxParagraph{Style: "Title", Text: "Handbook"},
				DocxParagraph{Style: "Heading1", Text: "Leave"},
				DocxParagraph{Text: "Tabs\tbecome spaces and\nbreaks too."},
				DocxParagraph{Style: "ListParagraph", Text: "First item"},
				DocxParagraph{Style: "ListParagraph", Text: "Second item"},
				DocxParagraph{Style: "Heading2", Text: "Sick days & <notes>"},
				DocxParagraph{Style: "Table", Text: "Days | Pay\n1-3 | 100%"},
				DocxParagraph{Text: "   "},
			),
			want: Document{Title: "Employee Handbook", Blocks: []Block{
				h(1, "Handbook"),
				h(1, "Leave"),
				p("Tabs become spaces and breaks too."),
				li("First item"),
				li("Second item"),
				h(2, "Sick days & <notes>"),
				table("Days | Pay\n1-3 | 100%"),
			}},
		},
		{
			name: "first heading is the title without a core title",
			data: MinimalDOCX("", DocxParagraph{Text: "Intro"}, DocxParagraph{Style: "Heading1", Text: "Overview"}),
			want: Document{Title: "Overview", Blocks: []Block{p("Intro"), h(1, "Overview")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Extract(KindDOCX, tt.data)
			if err != nil {
				t.Fatalf("Extract() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Extract() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

const wordNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"`

func TestExtractDOCXHandlesWhatWordWrites(t *testing.T) {
	t.Parallel()
	// German Word: style ids are localised, the names are not. A text
	// box appears twice (mc:Choice and mc:Fallback) and must be read once;
	// deleted text (w:delText) and field codes (w:instrText) are not text;
	// a nested table reads as the text of its cell.
	styles := `<w:styles ` + wordNS + `>
<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style>
<w:style w:type="paragraph" w:styleId="Aufzhlung"><w:name w:val="List Bullet"/><w:pPr><w:numPr><w:numId w:val="3"/></w:numPr></w:pPr></w:style>
</w:styles>`
	document := `<w:document ` + wordNS + `><w:body>
<w:p><w:pPr><w:pStyle w:val="berschrift2"/></w:pPr><w:r><w:t>Urlaub</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Aufzhlung"/></w:pPr><w:r><w:t>Punkt</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Kept </w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del><w:r><w:instrText>PAGE</w:instrText><w:t>text</w:t></w:r>
<w:r><mc:AlternateContent><mc:Choice><w:drawing><w:txbxContent><w:p><w:r><w:t>Box text</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>
<mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Box text</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Outer</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>in</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>ner</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl>
<w:p><w:pPr><w:outlineLvl w:val="2"/></w:pPr><w:r><w:t>Outline heading</w:t></w:r></w:p>
</w:body></w:document>`
	data := zipOf(t, map[string]string{"word/document.xml": document, "word/styles.xml": styles})
	got, err := Extract(KindDOCX, data)
	if err != nil {
		t.Fatalf("Extract() error = %v", err)
	}
	want := Document{Blocks: []Block{
		h(2, "Urlaub"),
		li("Punkt"),
		p("Box text"),
		p("Kept text"),
		table("Outer in | ner |"),
		h(3, "Outline heading"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Extract() mismatch (-want +got):\n%s", diff)
	}
}

// rawZip writes entries with chosen declared sizes, to build archives that
// lie about their contents.
func rawZip(t *testing.T, name string, content []byte, declared uint64) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestSpeed)
	fw.Write(content)
	fw.Close()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(content),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return b.Bytes()
}

func TestExtractDOCXExplainsWhatIsWrong(t *testing.T) {
	t.Parallel()
	many := map[string]string{"word/document.xml": "<w:document/>"}
	for i := range maxZipEntries + 1 {
		many[fmt.Sprintf("media/%d.png", i)] = ""
	}
	bomb := []byte("<w:document " + wordNS + "><w:body><w:p><w:r><w:t>" + strings.Repeat("a", 3<<20) + "</w:t></w:r></w:p></w:body></w:document>")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not a zip", []byte("PK\x03\x04garbage"), "docx: the file is not a readable zip archive"},
		{"missing document.xml", zipOf(t, map[string]string{"word/styles.xml": "<x/>"}), "docx: word/document.xml is missing"},
		{"too many entries", zipOf(t, many), "docx: the archive has 1002 entries, more than the 1000 allowed"},
		{"declared too large", rawZip(t, "word/document.xml", []byte("<w:document/>"), maxStreamBytes+1), "docx: word/document.xml is larger than 50 MiB uncompressed"},
		{"inflates past its declared size", rawZip(t, "word/document.xml", bomb, 100), "docx: word/document.xml is damaged"},
		{"inflates like a bomb", rawZip(t, "word/document.xml", bomb, maxStreamBytes), "docx: word/document.xml inflates more than 200-fold or past 50 MiB; the file looks like a zip bomb"},
		{"broken xml", zipOf(t, map[string]string{"word/document.xml": "<w:document><w:p>"}), "docx: word/document.xml is damaged"},
		{"no text", MinimalDOCX("Title only"), "no text found in the document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Extract(KindDOCX, tt.data)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Extract() error = %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}
