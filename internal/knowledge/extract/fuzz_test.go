package extract

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func init() {
	// Let panics through in tests: the fuzzers must see them as failures,
	// not as ErrMalformed.
	recoverPanics = false
}

// maxExtractTime is far above what any seed or fuzz input should need; it
// catches the inputs that make an extractor loop or go quadratic.
const maxExtractTime = 3 * time.Second

// checkExtract runs Extract and checks what must hold for any input: no
// panic (the fuzzer reports one), an error that wraps ErrUnsupported or
// ErrMalformed, or else a document of non-empty, normalised blocks.
func checkExtract(t *testing.T, kind Kind, data []byte) {
	t.Helper()
	start := time.Now()
	doc, err := Extract(kind, data)
	if d := time.Since(start); d > maxExtractTime {
		t.Errorf("Extract(%s, %d bytes) took %v", kind, len(data), d)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Extract(%s) error = %v, want ErrMalformed or ErrUnsupported", kind, err)
		}
		if len(doc.Blocks) != 0 || doc.Title != "" {
			t.Fatalf("Extract(%s) returned a document with an error", kind)
		}
		return
	}
	if len(doc.Blocks) == 0 {
		t.Fatalf("Extract(%s) returned no blocks and no error", kind)
	}
	if !utf8.ValidString(doc.Title) || doc.Title != strings.TrimSpace(doc.Title) {
		t.Errorf("title %q is not normalised", doc.Title)
	}
	for i, b := range doc.Blocks {
		if b.Text == "" || !utf8.ValidString(b.Text) {
			t.Errorf("block %d has empty or invalid text %q", i, b.Text)
		}
		switch b.Kind {
		case Heading:
			if b.Level < 1 || b.Level > 6 {
				t.Errorf("heading %d has level %d", i, b.Level)
			}
		case Paragraph, ListItem, Code, Table:
			if b.Level != 0 {
				t.Errorf("block %d (%s) has level %d", i, b.Kind, b.Level)
			}
		default:
			t.Errorf("block %d has kind %q", i, b.Kind)
		}
		if b.Kind != Code && b.Kind != Table && (strings.ContainsAny(b.Text, "\n\t") || b.Text != strings.TrimSpace(b.Text)) {
			t.Errorf("block %d (%s) is not collapsed: %q", i, b.Kind, b.Text)
		}
	}
}

var (
	markdownSeeds = []string{
		"# Title\n\nPara *em* **strong** `code` [link](u) ![img](i)\n\n- a\n- b\n\n1. one\n\n```go\nx := 1\n```\n\n    indented\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quote\n\nSetext\n===\n<!-- c -->",
		"---\ntitle: T\n---\ntext",
		"[a [b] c](d (e)) <http://x> <b>bold</b> \\* \\\n``` ` ```",
		"* * *\n- - -\n___\n\n#\n######## not heading\n\n~~~\nunclosed",
		"a|b\n-|-\nc|d\n\n|x|\n|:-:|",
		"<!-- unterminated\n# hidden",
		"**a *b _c_ b* a** __x__ ~~y~~ snake_case_word 2*3",
	}
	htmlSeeds = []string{
		"<!DOCTYPE html><html><head><title>T</title></head><body><nav>n</nav><main><h1>H</h1><p>p <b>b</b><br>x</p><ul><li>a<ul><li>b</li></ul></li></ul><pre>x\n y</pre><table><tr><th>a</th><td>b</td></tr></table></main></body></html>",
		"<article><h2>A</h2><p hidden>h</p><div aria-hidden=true>x</div><p style='display:none'>y</p>text</article><article>two</article>",
		"<table role=presentation><tr><td><h3>x</h3><table><tr><td>in</td></tr></table></td></tr></table>",
		"<p>unclosed <b><i>nest</b></i> &amp; &nbsp; &#x41; &bogus;",
		strings.Repeat("<div>", 600) + "deep" + strings.Repeat("</div>", 600),
		"<svg><text>no</text></svg><template><p>no</p></template><script>no</script><p>yes</p>",
	}
)

func pdfSeeds() [][]byte {
	return [][]byte{
		MinimalPDF("Hello world.\n\nSecond paragraph.", "- item\n- item two"),
		buildPDF(pdfFixture{pages: []string{"Plain (stream) \\ text"}, title: "Title"}),
		buildPDF(pdfFixture{pages: []string{"secret"}, encrypt: true}),
		fontsPDF(),
		objectStreamPDF(),
		[]byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Kids [3 0 R] >> endobj\n3 0 obj << /Type /Page /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >> endobj\n4 0 obj << /Length 44 >> stream\nBT /F1 12 Tf [(a) -300 <62>] TJ (c) ' ET\nendstream endobj\n5 0 obj << /Subtype /Type1 >> endobj\ntrailer << /Root 1 0 R >>"),
		[]byte("%PDF-1.7\n1 0 obj [1 2 0 R << /A [ (x\\)y) <4142> /N#20m ] >> true null 3.5 -.5 +7] endobj"),
	}
}

func docxSeeds() [][]byte {
	return [][]byte{
		MinimalDOCX("Title", DocxParagraph{Style: "Heading1", Text: "H"}, DocxParagraph{Text: "a\tb\nc"}, DocxParagraph{Style: "ListParagraph", Text: "item"}, DocxParagraph{Style: "Table", Text: "a|b\nc|d"}),
		MinimalDOCX("", DocxParagraph{Style: "Title", Text: "T"}),
	}
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("plain text"), "a.txt", "text/plain")
	f.Add([]byte("# md"), "a.md", "")
	f.Add([]byte("<html><p>x</p></html>"), "a.pdf", "")
	f.Add([]byte("\x89PNG\r\n\x1a\n"), "a.png", "image/png")
	for _, s := range pdfSeeds() {
		f.Add(s, "a.pdf", "application/pdf")
	}
	for _, s := range docxSeeds() {
		f.Add(s, "a.docx", "")
	}
	f.Fuzz(func(t *testing.T, data []byte, filename, contentType string) {
		kind, err := Sniff(data, filename, contentType)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Sniff() error = %v, want ErrMalformed or ErrUnsupported", err)
			}
			return
		}
		switch kind {
		case KindText, KindMarkdown, KindHTML, KindPDF, KindDOCX:
		default:
			t.Fatalf("Sniff() = %q", kind)
		}
		checkExtract(t, kind, data)
	})
}

func FuzzExtractPDF(f *testing.F) {
	for _, s := range pdfSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkExtract(t, KindPDF, data) })
}

func FuzzExtractDOCX(f *testing.F) {
	for _, s := range docxSeeds() {
		f.Add(s)
	}
	for _, part := range docxPartSeeds {
		f.Add([]byte(part))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, KindDOCX, data)
		// Mutated zips mostly fail their checksums, so the XML is also
		// fuzzed on its own, as every part that is read.
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for _, name := range []string{"word/document.xml", "word/styles.xml", "docProps/core.xml"} {
			w, _ := zw.Create(name)
			w.Write(data)
		}
		zw.Close()
		checkExtract(t, KindDOCX, b.Bytes())
	})
}

// docxPartSeeds are document, styles and core-properties XML.
var docxPartSeeds = []string{
	`<w:document ` + wordNS + `><w:body><w:p><w:pPr><w:pStyle w:val="Heading2"/><w:numPr/></w:pPr><w:r><w:t>a</w:t><w:tab/><w:br/><w:t>b</w:t></w:r></w:p>` +
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>c</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p/></w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>` +
		`<w:p><w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>x</w:t></w:r></w:p></w:txbxContent></mc:Choice><mc:Fallback><w:t>y</w:t></mc:Fallback></mc:AlternateContent></w:r></w:p></w:body></w:document>`,
	`<w:styles ` + wordNS + `><w:style w:type="paragraph" w:styleId="X"><w:name w:val="heading 3"/><w:pPr><w:outlineLvl w:val="1"/><w:numPr/></w:pPr></w:style></w:styles>`,
	`<cp:coreProperties xmlns:cp="c" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T &amp; U</dc:title></cp:coreProperties>`,
}

func FuzzExtractHTML(f *testing.F) {
	for _, s := range htmlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) { checkExtract(t, KindHTML, []byte(data)) })
}

func FuzzExtractMarkdown(f *testing.F) {
	for _, s := range markdownSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		checkExtract(t, KindMarkdown, []byte(data))
		checkExtract(t, KindText, []byte(data))
	})
}
