package extract

import (
	"archive/zip"
	"bytes"
	"path"
	"strings"
	"unicode/utf8"
)

// maxZipEntries caps the entries of an archive we look into; a real DOCX has
// a few dozen, a hostile one may claim millions.
const maxZipEntries = 1000

// htmlSniffBytes is how much of a text we look at to decide whether it is
// HTML; the decision never needs the whole file.
const htmlSniffBytes = 64 << 10

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Sniff decides the kind of a file from its content, never trusting the
// name: an upload called "report.pdf" that holds HTML is HTML. The filename
// extension (.md, .markdown) and the declared content type (text/markdown)
// only choose between Markdown and plain text for text content.
func Sniff(data []byte, filename, contentType string) (Kind, error) {
	if len(data) == 0 {
		return "", malformed("the file is empty")
	}
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		return KindPDF, nil
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return sniffZip(data)
	}
	text := bytes.TrimPrefix(data, utf8BOM)
	if bytes.IndexByte(text, 0) >= 0 || !utf8.Valid(text) {
		return "", unsupported("binary content (not UTF-8 text, PDF or DOCX)")
	}
	if looksLikeHTML(text) {
		return KindHTML, nil
	}
	if isMarkdownName(filename, contentType) {
		return KindMarkdown, nil
	}
	return KindText, nil
}

func sniffZip(data []byte) (Kind, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", malformed("the zip archive is damaged (%v); save the document again and re-upload it", err)
	}
	if len(zr.File) > maxZipEntries {
		return "", unsupported("zip archive with %d entries (more than %d)", len(zr.File), maxZipEntries)
	}
	if findZipEntry(zr, "word/document.xml") == nil {
		return "", unsupported("zip archive without word/document.xml (only .docx is supported)")
	}
	return KindDOCX, nil
}

// findZipEntry finds an archive entry by name; the match ignores case and
// a leading slash because some non-Microsoft writers differ there.
func findZipEntry(zr *zip.Reader, name string) *zip.File {
	for _, f := range zr.File {
		if strings.EqualFold(strings.TrimPrefix(f.Name, "/"), name) {
			return f
		}
	}
	return nil
}

func isMarkdownName(filename, contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	if mediaType == "text/markdown" || mediaType == "text/x-markdown" {
		return true
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".md", ".markdown", ".mdown", ".mkd":
		return true
	}
	return false
}

// looksLikeHTML says whether text is an HTML page or fragment: it starts
// (after whitespace and comments) with a doctype or an html/head/body tag,
// or it is dense with common HTML tags. A Markdown file with the odd <br> or
// <details> stays Markdown because the density stays low.
func looksLikeHTML(text []byte) bool {
	if len(text) > htmlSniffBytes {
		text = text[:htmlSniffBytes]
	}
	rest := skipSpaceAndComments(text)
	for _, prefix := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if hasFoldPrefix(rest, prefix) {
			after := rest[len(prefix):]
			if len(after) == 0 || after[0] == '>' || after[0] == '/' || isASCIISpace(after[0]) {
				return true
			}
		}
	}
	tags, markup := countCommonTags(text)
	nonSpace := 0
	for _, c := range text {
		if !isASCIISpace(c) {
			nonSpace++
		}
	}
	return tags >= 3 && markup*10 >= nonSpace
}

func skipSpaceAndComments(b []byte) []byte {
	for {
		b = bytes.TrimLeft(b, " \t\r\n\f")
		b = bytes.TrimPrefix(b, utf8BOM)
		if !bytes.HasPrefix(b, []byte("<!--")) {
			return b
		}
		end := bytes.Index(b[4:], []byte("-->"))
		if end < 0 {
			return nil
		}
		b = b[4+end+3:]
	}
}

// commonTags are the tag names that mark a text as HTML when they are dense.
var commonTags = map[string]bool{
	"a": true, "p": true, "div": true, "span": true, "br": true, "li": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "table": true, "tr": true,
	"td": true, "th": true, "strong": true, "em": true, "b": true, "i": true, "img": true, "section": true,
	"article": true, "main": true, "meta": true, "link": true, "script": true, "style": true, "title": true,
	"pre": true, "code": true, "blockquote": true, "form": true, "input": true, "nav": true, "header": true,
	"footer": true, "html": true, "head": true, "body": true,
}

// countCommonTags counts opening and closing tags with a common name and the
// bytes they span.
func countCommonTags(text []byte) (tags, markup int) {
	for i := 0; i < len(text); i++ {
		if text[i] != '<' {
			continue
		}
		j := i + 1
		if j < len(text) && text[j] == '/' {
			j++
		}
		start := j
		for j < len(text) && j-start < 12 && isASCIIAlnum(text[j]) {
			j++
		}
		if j == start || j >= len(text) || !commonTags[strings.ToLower(string(text[start:j]))] {
			continue
		}
		if c := text[j]; c != '>' && c != '/' && !isASCIISpace(c) {
			continue
		}
		// The tag ends at the next '>' (looked for within a bound so a
		// stray '<' cannot make this quadratic).
		end := bytes.IndexByte(text[j:min(len(text), j+512)], '>')
		if end < 0 {
			continue
		}
		tags++
		markup += j + end + 1 - i
		i = j + end
	}
	return tags, markup
}

func hasFoldPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
