package extract

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxCoreBytes caps the small side parts (core properties, styles) we read.
const maxCoreBytes = 4 << 20

// extractDOCX reads a Word document: the body of word/document.xml as a
// token stream, with heading and list styles resolved through
// word/styles.xml, and the title from docProps/core.xml.
func extractDOCX(data []byte) (Document, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Document{}, malformed("docx: the file is not a readable zip archive (%v); save it again from Word and re-upload it", err)
	}
	if len(zr.File) > maxZipEntries {
		return Document{}, malformed("docx: the archive has %d entries, more than the %d allowed", len(zr.File), maxZipEntries)
	}
	main := findZipEntry(zr, "word/document.xml")
	if main == nil {
		return Document{}, malformed("docx: word/document.xml is missing; this is not a Word document")
	}
	styles := docxStyles{}
	if f := findZipEntry(zr, "word/styles.xml"); f != nil {
		// Styles only refine headings and lists: a broken styles part
		// still leaves the text readable, so its error is not fatal.
		if rc, err := openZipEntry(f, maxCoreBytes); err == nil {
			styles = readDocxStyles(rc)
			rc.Close()
		}
	}
	var doc Document
	if f := findZipEntry(zr, "docProps/core.xml"); f != nil {
		if rc, err := openZipEntry(f, maxCoreBytes); err == nil {
			doc.Title = readCoreTitle(rc)
			rc.Close()
		}
	}
	rc, err := openZipEntry(main, maxStreamBytes)
	if err != nil {
		return Document{}, err
	}
	defer rc.Close()
	blocks, err := readDocxBody(rc, styles)
	if err != nil {
		return Document{}, err
	}
	doc.Blocks = blocks
	if strings.TrimSpace(doc.Title) == "" {
		for _, b := range blocks {
			if b.Kind == Heading && b.Level == 1 {
				doc.Title = b.Text
				break
			}
		}
	}
	return doc, nil
}

// errTooLarge is returned by limitedReader when an entry inflates past its
// limit.
var errTooLarge = errors.New("entry too large")

// openZipEntry opens an archive entry that must not inflate beyond limit
// bytes: the declared size is checked first, and the data is read through a
// limit as well because the declared size can lie.
func openZipEntry(f *zip.File, limit int64) (io.ReadCloser, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, malformed("docx: %s is larger than %d MiB uncompressed", f.Name, limit>>20)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, malformed("docx: cannot open %s (%v)", f.Name, err)
	}
	// Word's XML compresses five to twenty times over; an entry that
	// inflates far more is a zip bomb, and reading it would cost seconds
	// even under the size limit.
	ratioLimit := max(1<<20, maxZipRatio*int64(min(f.CompressedSize64, uint64(limit))))
	return &limitedReader{rc: rc, left: min(limit, ratioLimit)}, nil
}

// maxZipRatio bounds how many times over an archive entry may inflate.
const maxZipRatio = 200

type limitedReader struct {
	rc   io.ReadCloser
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe for one more byte: exactly limit bytes is fine.
		// archive/zip reports data past the declared size as ErrFormat.
		var one [1]byte
		n, err := l.rc.Read(one[:])
		if n > 0 || errors.Is(err, zip.ErrFormat) {
			return 0, errTooLarge
		}
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedReader) Close() error { return l.rc.Close() }

// readCoreTitle returns dc:title from docProps/core.xml, or "".
func readCoreTitle(r io.Reader) string {
	d := xml.NewDecoder(r)
	inTitle := false
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			inTitle = t.Name.Local == "title"
		case xml.EndElement:
			if inTitle && t.Name.Local == "title" {
				return b.String()
			}
			inTitle = false
		case xml.CharData:
			if inTitle && b.Len() < 4096 {
				b.Write(t)
			}
		}
	}
}

// docxStyle is what a paragraph style means for us.
type docxStyle struct {
	heading int // 1..6, or 0
	list    bool
}

type docxStyles map[string]docxStyle

// readDocxStyles maps style ids to heading levels and list-ness. Style ids
// are localised ("berschrift1" in German Word) but the names of built-in
// styles are not ("heading 1"), so the name and the outline level decide.
func readDocxStyles(r io.Reader) docxStyles {
	styles := docxStyles{}
	d := xml.NewDecoder(r)
	var id string
	var cur docxStyle
	inStyle := false
	for {
		tok, err := d.Token()
		if err != nil {
			return styles
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "style":
				inStyle, id, cur = attr(t, "type") == "paragraph", attr(t, "styleId"), docxStyle{heading: styleIDHeading(attr(t, "styleId"))}
			case "name":
				if inStyle {
					if level := styleNameHeading(attr(t, "val")); level > 0 {
						cur.heading = level
					}
				}
			case "outlineLvl":
				if n, err := strconv.Atoi(attr(t, "val")); inStyle && err == nil && n >= 0 && n < 6 && cur.heading == 0 {
					cur.heading = n + 1
				}
			case "numPr":
				if inStyle {
					cur.list = true
				}
			}
		case xml.EndElement:
			if t.Name.Local == "style" && inStyle {
				if id != "" && (cur.heading > 0 || cur.list) && len(styles) < 10000 {
					styles[id] = cur
				}
				inStyle = false
			}
		}
	}
}

func styleIDHeading(id string) int {
	lower := strings.ToLower(id)
	if lower == "title" {
		return 1
	}
	if rest, ok := strings.CutPrefix(lower, "heading"); ok && len(rest) == 1 && rest[0] >= '1' && rest[0] <= '6' {
		return int(rest[0] - '0')
	}
	return 0
}

func styleNameHeading(name string) int {
	return styleIDHeading(strings.ReplaceAll(name, " ", ""))
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// docxPara collects one w:p.
type docxPara struct {
	text    strings.Builder
	heading int
	list    bool
}

// docxTable collects one w:tbl: finished rows, the row being read and the
// cell being read.
type docxTable struct {
	rows []string
	row  []string
	cell []string
}

// readDocxBody streams word/document.xml. Paragraphs may nest (text boxes
// hold paragraphs inside a run) and tables may nest, so both are stacks; a
// paragraph inside a table cell adds to the cell instead of becoming a block.
func readDocxBody(r io.Reader, styles docxStyles) ([]Block, error) {
	d := xml.NewDecoder(r)
	var blocks []Block
	var paras []*docxPara
	var tables []*docxTable
	inText := false
	skipDepth := 0 // >0 while inside mc:Fallback, which repeats mc:Choice
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, malformed("docx: word/document.xml inflates more than %d-fold or past %d MiB; the file looks like a zip bomb", maxZipRatio, maxStreamBytes>>20)
			}
			return nil, malformed("docx: word/document.xml is damaged (%v); save the document again and re-upload it", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if skipDepth > 0 {
				skipDepth++
				continue
			}
			var para *docxPara
			if len(paras) > 0 {
				para = paras[len(paras)-1]
			}
			switch t.Name.Local {
			case "Fallback":
				skipDepth = 1
			case "p":
				if len(paras) >= 64 {
					return nil, malformed("docx: paragraphs are nested too deeply")
				}
				paras = append(paras, &docxPara{})
			case "pStyle":
				if para != nil {
					s := styles[attr(t, "val")]
					if s.heading == 0 {
						s.heading = styleIDHeading(attr(t, "val"))
					}
					para.heading, para.list = s.heading, para.list || s.list
				}
			case "numPr":
				if para != nil {
					para.list = true
				}
			case "outlineLvl":
				if n, err := strconv.Atoi(attr(t, "val")); para != nil && err == nil && n >= 0 && n < 6 && para.heading == 0 {
					para.heading = n + 1
				}
			case "t":
				inText = true
			case "tab", "ptab":
				if para != nil {
					para.text.WriteByte(' ')
				}
			case "br", "cr":
				if para != nil {
					para.text.WriteByte('\n')
				}
			case "noBreakHyphen":
				if para != nil {
					para.text.WriteByte('-')
				}
			case "tbl":
				if len(tables) >= 32 {
					return nil, malformed("docx: tables are nested too deeply")
				}
				tables = append(tables, &docxTable{})
			case "tr":
				if len(tables) > 0 {
					tables[len(tables)-1].row = nil
				}
			case "tc":
				if len(tables) > 0 {
					tables[len(tables)-1].cell = nil
				}
			}
		case xml.EndElement:
			if skipDepth > 0 {
				skipDepth--
				continue
			}
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				if len(paras) == 0 {
					continue
				}
				p := paras[len(paras)-1]
				paras = paras[:len(paras)-1]
				text := p.text.String()
				if len(tables) > 0 {
					tb := tables[len(tables)-1]
					tb.cell = append(tb.cell, text)
					continue
				}
				b := Block{Kind: Paragraph, Text: text}
				switch {
				case p.heading > 0:
					b.Kind, b.Level = Heading, p.heading
				case p.list:
					b.Kind = ListItem
				}
				blocks = append(blocks, b)
			case "tc":
				if len(tables) > 0 {
					tb := tables[len(tables)-1]
					tb.row = append(tb.row, collapseSpace(strings.Join(tb.cell, " ")))
					tb.cell = nil
				}
			case "tr":
				if len(tables) > 0 {
					tb := tables[len(tables)-1]
					if strings.Join(tb.row, "") != "" {
						tb.rows = append(tb.rows, strings.Join(tb.row, " | "))
					}
					tb.row = nil
				}
			case "tbl":
				if len(tables) == 0 {
					continue
				}
				tb := tables[len(tables)-1]
				tables = tables[:len(tables)-1]
				text := strings.Join(tb.rows, "\n")
				if len(tables) > 0 {
					// A nested table reads as text of the outer cell.
					outer := tables[len(tables)-1]
					outer.cell = append(outer.cell, strings.ReplaceAll(text, "\n", " "))
					continue
				}
				blocks = append(blocks, Block{Kind: Table, Text: text})
			}
		case xml.CharData:
			if inText && skipDepth == 0 && len(paras) > 0 {
				paras[len(paras)-1].text.Write(t)
			}
		}
	}
	return blocks, nil
}
