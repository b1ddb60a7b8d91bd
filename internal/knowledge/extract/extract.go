// Package extract turns an uploaded file (plain text, Markdown, HTML, PDF or
// DOCX) into structured text: a title and a list of blocks (headings,
// paragraphs, list items, code and tables) that the chunker can cut on.
//
// Every extractor reads untrusted bytes from tenants, so each one is written
// to be panic-free and bounded: nesting depths, object and entry counts and
// decompressed sizes are capped, and a document that cannot be read yields an
// error wrapping ErrUnsupported or ErrMalformed with a reason a person can act
// on.
package extract

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is a document type, decided by Sniff from the content.
type Kind string

// The supported kinds.
const (
	KindText     Kind = "txt"
	KindMarkdown Kind = "md"
	KindHTML     Kind = "html"
	KindPDF      Kind = "pdf"
	KindDOCX     Kind = "docx"
)

var (
	// ErrUnsupported means the content is not one of the supported kinds.
	ErrUnsupported = errors.New("unsupported document type")
	// ErrMalformed means the content is of a supported kind but cannot be
	// read; the wrapping error says why in words a person can act on.
	ErrMalformed = errors.New("malformed document")
)

// BlockKind is the structural role of a block.
type BlockKind string

// The block kinds.
const (
	Heading   BlockKind = "heading"
	Paragraph BlockKind = "paragraph"
	ListItem  BlockKind = "list_item"
	Code      BlockKind = "code"
	Table     BlockKind = "table"
)

// Block is one structural unit of a document.
type Block struct {
	Kind  BlockKind
	Level int // heading level 1..6 for headings; 0 otherwise
	// Text is normalised: runs of whitespace collapse to one space in
	// headings, paragraphs and list items; code keeps its lines and
	// indentation; a table has one line per row, cells joined with " | ".
	Text string
}

// Document is the text of a file, in reading order.
type Document struct {
	Title  string
	Blocks []Block
}

// maxStreamBytes caps what one document may decompress in total (PDF
// FlateDecode streams) or per archive entry (DOCX), so a small "bomb" cannot
// exhaust memory.
const maxStreamBytes = 50 << 20

// recoverPanics turns an extractor panic into ErrMalformed so one hostile
// upload cannot take down an ingest worker. Tests switch it off so that the
// fuzzers see panics as the bugs they are.
var recoverPanics = true

// Extract reads data as a document of the given kind. The error wraps
// ErrUnsupported for an unknown kind and ErrMalformed for content that cannot
// be read, including content without any text.
func Extract(kind Kind, data []byte) (Document, error) {
	var run func() (Document, error)
	switch kind {
	case KindText:
		run = func() (Document, error) { return extractText(data), nil }
	case KindMarkdown:
		run = func() (Document, error) { return extractMarkdown(data), nil }
	case KindHTML:
		run = func() (Document, error) { return extractHTML(data), nil }
	case KindPDF:
		run = func() (Document, error) { return extractPDF(data) }
	case KindDOCX:
		run = func() (Document, error) { return extractDOCX(data) }
	default:
		return Document{}, fmt.Errorf("%w: %q", ErrUnsupported, string(kind))
	}
	doc, err := extractGuarded(run, recoverPanics)
	if err != nil {
		return Document{}, err
	}
	doc = finish(doc)
	if len(doc.Blocks) == 0 {
		return Document{}, malformed("no text found in the document")
	}
	return doc, nil
}

// extractGuarded runs an extractor, turning a panic into ErrMalformed when
// guard is set.
func extractGuarded(run func() (Document, error), guard bool) (doc Document, err error) {
	if guard {
		defer func() {
			if r := recover(); r != nil {
				doc, err = Document{}, malformed("the file could not be read (internal extractor fault)")
			}
		}()
	}
	return run()
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// finish normalises every block the same way whatever the extractor, and
// drops the blocks left empty, so the extractors can stay sloppy about
// whitespace.
func finish(doc Document) Document {
	out := doc.Blocks[:0:0]
	for _, b := range doc.Blocks {
		switch b.Kind {
		case Code:
			b.Text = normaliseLines(b.Text, false)
		case Table:
			b.Text = normaliseLines(b.Text, true)
		default:
			b.Text = collapseSpace(b.Text)
		}
		if b.Kind == Heading {
			b.Level = min(max(b.Level, 1), 6)
		} else {
			b.Level = 0
		}
		if b.Text != "" {
			out = append(out, b)
		}
	}
	return Document{Title: truncateRunes(collapseSpace(doc.Title), 500), Blocks: out}
}

// collapseSpace trims s and collapses each run of whitespace (including
// no-break spaces and line breaks) to a single space. Control characters are
// dropped and invalid UTF-8 is replaced, so later stages see clean text.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r == utf8.RuneError, r == '\u00ad', r == '\ufeff', unicode.IsControl(r):
			// Invalid bytes, soft hyphens and stray BOMs carry no text.
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// normaliseLines keeps the line structure of code and tables: it drops
// control characters, trims trailing space on each line and leading and
// trailing blank lines; collapse also collapses the space within each line
// (table rows).
func normaliseLines(s string, collapse bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, line := range lines {
		if collapse {
			line = collapseSpace(line)
		} else {
			line = strings.TrimRightFunc(cleanLine(line), unicode.IsSpace)
		}
		if line == "" && len(out) == 0 {
			continue
		}
		out = append(out, line)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// cleanLine drops control characters other than tab (kept, as indentation)
// and replaces invalid UTF-8.
func cleanLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r == '\ufeff' || (unicode.IsControl(r) && r != '\t') {
			return -1
		}
		return r
	}, s)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}
