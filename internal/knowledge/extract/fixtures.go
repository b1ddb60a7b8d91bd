package extract

// Test fixture builders. They live in a non-test file so that tests in
// other packages (the upload API, the ingest pipeline) can build real PDF
// and DOCX files in code instead of committing binary fixtures. Production
// code does not call them.

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// MinimalPDF builds a valid PDF with one page per argument, set in
// Helvetica with FlateDecode-compressed content streams. Within a page, "\n"
// starts a new line and a blank line starts a new paragraph (a wider gap);
// long lines are wrapped. Characters outside WinAnsiEncoding become "?".
// It is a test fixture builder.
func MinimalPDF(pages ...string) []byte {
	return buildPDF(pdfFixture{pages: pages, compress: true})
}

// pdfFixture configures buildPDF for this package's tests.
type pdfFixture struct {
	pages    []string
	compress bool
	title    string
	encrypt  bool // add an /Encrypt entry to the trailer (content stays plain)
}

func buildPDF(f pdfFixture) []byte {
	if len(f.pages) == 0 {
		f.pages = []string{""}
	}
	// Objects: 1 catalog, 2 page tree, 3 font, then a page and its
	// content for each page, then the info dictionary.
	objects := []string{"", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"}
	var kids []string
	for _, text := range f.pages {
		pageNum := len(objects) + 1
		kids = append(kids, fmt.Sprintf("%d 0 R", pageNum))
		objects = append(objects,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", pageNum+1),
			pdfStreamObject("", pageContent(text), f.compress))
	}
	objects[0] = "<< /Type /Catalog /Pages 2 0 R >>"
	objects[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))
	trailer := "/Root 1 0 R"
	if f.title != "" {
		objects = append(objects, fmt.Sprintf("<< /Title %s /Producer (metachat fixtures) >>", pdfLiteral(f.title)))
		trailer += fmt.Sprintf(" /Info %d 0 R", len(objects))
	}
	if f.encrypt {
		objects = append(objects, "<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>")
		trailer += fmt.Sprintf(" /Encrypt %d 0 R /ID [<01> <01>]", len(objects))
	}
	return assemblePDF(objects, trailer)
}

// pageContent sets text in lines 14 points apart, with a 28-point gap
// between paragraphs.
func pageContent(text string) []byte {
	var b strings.Builder
	b.WriteString("BT\n/F1 12 Tf\n72 740 Td\n")
	first, gap := true, false
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			gap = !first
			continue
		}
		for _, part := range wrapWords(line, 90) {
			switch {
			case first:
			case gap:
				b.WriteString("0 -28 Td\n")
			default:
				b.WriteString("0 -14 Td\n")
			}
			fmt.Fprintf(&b, "%s Tj\n", pdfLiteral(part))
			first, gap = false, false
		}
	}
	b.WriteString("ET\n")
	return []byte(b.String())
}

// wrapWords breaks a line at spaces into parts of at most width runes
// (a longer word stays whole).
func wrapWords(line string, width int) []string {
	var parts []string
	var cur []string
	n := 0
	for _, w := range strings.Fields(line) {
		if n > 0 && n+1+len([]rune(w)) > width {
			parts = append(parts, strings.Join(cur, " "))
			cur, n = nil, 0
		}
		if n > 0 {
			n++
		}
		cur = append(cur, w)
		n += len([]rune(w))
	}
	if len(cur) > 0 {
		parts = append(parts, strings.Join(cur, " "))
	}
	return parts
}

// pdfLiteral writes s as a PDF literal string in WinAnsiEncoding.
func pdfLiteral(s string) string {
	var b strings.Builder
	b.WriteByte('(')
	for _, r := range s {
		c := winAnsiByte(r)
		switch {
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7F:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(')')
	return b.String()
}

func winAnsiByte(r rune) byte {
	if r >= 0x20 && r < 0x7F {
		return byte(r)
	}
	for c := 0xA0; c < 0x100; c++ {
		if winAnsiText[c] == string(r) && c != 0xA0 && c != 0xAD {
			return byte(c)
		}
	}
	for c := 0x80; c < 0xA0; c++ {
		if winAnsiText[c] == string(r) {
			return byte(c)
		}
	}
	if r == '\t' {
		return ' '
	}
	return '?'
}

// pdfStreamObject writes a stream object with the given extra dictionary
// entries, compressed with FlateDecode when compress is set.
func pdfStreamObject(dict string, data []byte, compress bool) string {
	if compress {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		w.Write(data)
		w.Close()
		data = z.Bytes()
		dict += " /Filter /FlateDecode"
	}
	return fmt.Sprintf("<< /Length %d%s >>\nstream\n%s\nendstream", len(data), dict, data)
}

// assemblePDF numbers objects from 1 and writes them with a correct
// cross-reference table and a trailer holding the given entries.
func assemblePDF(objects []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, obj := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, obj)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, trailer, xref)
	return b.Bytes()
}

// DocxParagraph is one paragraph for MinimalDOCX. Style is a Word style id:
// "" (normal text), "Title", "Heading1" to "Heading6", or "ListParagraph"
// (a numbered list item). The style "Table" makes a table instead: rows are
// the lines of Text and cells are separated by "|". In Text, "\t" is a tab
// and, outside tables, "\n" a line break.
type DocxParagraph struct {
	Style string
	Text  string
}

// MinimalDOCX builds a valid Word document with the given core title
// (docProps/core.xml; none when empty) and body. It is a test fixture
// builder.
func MinimalDOCX(title string, paragraphs ...DocxParagraph) []byte {
	var body strings.Builder
	for _, p := range paragraphs {
		if p.Style == "Table" {
			body.WriteString("<w:tbl>")
			for _, row := range strings.Split(p.Text, "\n") {
				body.WriteString("<w:tr>")
				for _, cell := range strings.Split(row, "|") {
					body.WriteString("<w:tc>" + docxParagraphXML("", strings.TrimSpace(cell)) + "</w:tc>")
				}
				body.WriteString("</w:tr>")
			}
			body.WriteString("</w:tbl>")
			continue
		}
		body.WriteString(docxParagraphXML(p.Style, p.Text))
	}
	files := []struct{ name, data string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`},
		{"word/_rels/document.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `<w:sectPr/></w:body></w:document>`},
		{"word/styles.xml", docxStylesXML()},
		{"docProps/core.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">` + docxTitleXML(title) + `</cp:coreProperties>`},
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		// A fixed time keeps the archive byte-for-byte reproducible.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			panic(err) // writing to a bytes.Buffer cannot fail
		}
		w.Write([]byte(f.data))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func docxTitleXML(title string) string {
	if title == "" {
		return ""
	}
	return "<dc:title>" + xmlEscape(title) + "</dc:title>"
}

func docxParagraphXML(style, text string) string {
	var b strings.Builder
	b.WriteString("<w:p>")
	if style != "" {
		b.WriteString(`<w:pPr><w:pStyle w:val="` + xmlEscape(style) + `"/>`)
		if style == "ListParagraph" {
			b.WriteString(`<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>`)
		}
		b.WriteString("</w:pPr>")
	}
	b.WriteString("<w:r>")
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if i > 0 {
			b.WriteString("<w:br/>")
		}
		for j, part := range strings.Split(line, "\t") {
			if j > 0 {
				b.WriteString("<w:tab/>")
			}
			if part != "" {
				b.WriteString(`<w:t xml:space="preserve">` + xmlEscape(part) + "</w:t>")
			}
		}
	}
	b.WriteString("</w:r></w:p>")
	return b.String()
}

func docxStylesXML() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">`)
	b.WriteString(`<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>`)
	b.WriteString(`<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>`)
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, `<w:style w:type="paragraph" w:styleId="Heading%d"><w:name w:val="heading %d"/><w:pPr><w:outlineLvl w:val="%d"/></w:pPr></w:style>`, i, i, i-1)
	}
	b.WriteString(`<w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/></w:style>`)
	b.WriteString(`</w:styles>`)
	return b.String()
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
