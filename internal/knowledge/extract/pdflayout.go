package extract

import (
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file rebuilds reading structure from where text lands on a PDF
// page: pieces at one height form a line, and lines form paragraphs, list
// items and headings. PDFs carry no such structure (only tagged PDFs do, and
// few are), so all of this is heuristic, tuned on the output of common
// writers (Word, LibreOffice, Chrome, LaTeX, Ghostscript).

// pdfLine is one line of text as laid out on the page.
type pdfLine struct {
	buf      strings.Builder // the text as it is laid out
	text     string          // the finished text, set by pdfLayout
	x0, y    float64
	size     float64
	endX     float64
	bold     bool // every piece of the line is set in a bold font
	boldSeen bool
}

// ligatures expands typographic ligatures so that "ﬁnance" is found by a
// search for "finance".
var ligatures = strings.NewReplacer("ﬀ", "ff", "ﬁ", "fi", "ﬂ", "fl", "ﬃ", "ffi", "ﬄ", "ffl", "ﬅ", "st", "ﬆ", "st")

// show lays out one string: it advances the text matrix glyph by glyph and
// records the text with where it starts and ends. Character spacing wider
// than a narrow letter is a space: some writers (Ghostscript) set the gap
// between two words that way instead of with a space glyph.
func (in *pdfInterp) show(ts *textState, ctm matrix, s string) {
	if ts.font == nil {
		return
	}
	start := ts.tm.mul(ctm)
	spaceAt := 0.18 * math.Abs(ts.size)
	var text strings.Builder
	gap, first := 0.0, true
	ts.font.each(s, func(g glyph) {
		if !first && gap > spaceAt && g.text != " " && g.text != "" && !strings.HasSuffix(text.String(), " ") {
			text.WriteByte(' ')
		}
		first = false
		text.WriteString(g.text)
		tx := g.width*ts.size + ts.charSpace
		gap = ts.charSpace
		if g.space {
			tx += ts.wordSpace
			gap = 0 // a space glyph is a space already
		}
		ts.tm = translate(tx*ts.hscale, 0).mul(ts.tm)
	})
	end := ts.tm.mul(ctm)
	size := math.Abs(ts.size) * math.Hypot(start[2], start[3])
	shown := text.String()
	if a := ts.actual; a != nil {
		shown = ""
		if !a.used {
			shown, a.used = a.text, true
		}
	}
	in.add(shown, start[4], start[5], end[4], size, ts.font.bold)
}

// add puts text on the current line when it sits at the same height, with a
// space when there is a gap wider than a narrow letter; else it starts a
// new line.
func (in *pdfInterp) add(text string, x, y, endX, size float64, bold bool) {
	if text == "" || !finite(x) || !finite(y) || !finite(endX) {
		return
	}
	if !finite(size) || size < 0.1 {
		size = 0.1
	}
	visible := strings.TrimSpace(text) != ""
	if n := len(in.lines); n > 0 {
		last := in.lines[n-1]
		if math.Abs(y-last.y) < 0.5*math.Max(size, last.size) {
			gap := x - last.endX
			prev := last.buf.String()
			if gap > 0.18*size && !strings.HasSuffix(prev, " ") && !strings.HasPrefix(text, " ") {
				last.buf.WriteByte(' ')
			}
			last.buf.WriteString(text)
			last.endX = endX
			last.size = math.Max(last.size, size)
			if visible {
				last.bold = bold && (last.bold || !last.boldSeen)
				last.boldSeen = true
			}
			return
		}
	}
	l := &pdfLine{x0: x, y: y, size: size, endX: endX, bold: bold && visible, boldSeen: visible}
	l.buf.WriteString(text)
	in.lines = append(in.lines, l)
}

// roundSize buckets font sizes to half points, so that rounding noise in
// matrices does not split one size in two.
func roundSize(s float64) float64 { return math.Round(s*2) / 2 }

// pdfLayout turns the lines of every page into blocks. The body text size
// is the size most characters are set in; lines in a clearly larger size are
// headings (the larger, the higher), and so are short stand-alone lines in
// bold when the body is not bold.
func pdfLayout(pages [][]*pdfLine) []Block {
	chars := map[float64]int{}
	total, boldChars := 0, 0
	for _, lines := range pages {
		for _, l := range lines {
			l.text = ligatures.Replace(strings.TrimSpace(l.buf.String()))
			n := utf8.RuneCountInString(l.text)
			chars[roundSize(l.size)] += n
			total += n
			if l.bold {
				boldChars += n
			}
		}
	}
	body, most := 0.0, -1
	for size, n := range chars {
		if n > most || n == most && size < body {
			body, most = size, n
		}
	}
	var headingSizes []float64
	for size := range chars {
		if size >= body*1.15 {
			headingSizes = append(headingSizes, size)
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(headingSizes)))
	levels := map[float64]int{}
	for i, size := range headingSizes {
		levels[size] = min(i+1, 6)
	}
	boldLevel := min(len(headingSizes)+1, 6)
	boldBody := total > 0 && boldChars*2 > total

	var blocks []Block
	for _, lines := range pages {
		blocks = append(blocks, pageBlocks(lines, levels, boldLevel, boldBody)...)
	}
	return blocks
}

func pageBlocks(all []*pdfLine, levels map[float64]int, boldLevel int, boldBody bool) []Block {
	var lines []*pdfLine
	for _, l := range all {
		if l.text != "" {
			lines = append(lines, l)
		}
	}
	starts := paragraphStarts(lines)
	var blocks []Block
	var kind BlockKind
	level := 0
	var parts []string // lines of the open block, joined once at the end
	flush := func() {
		if len(parts) > 0 {
			blocks = append(blocks, Block{Kind: kind, Level: level, Text: joinPDFLines(parts)})
			parts = parts[:0]
		}
	}
	for i, l := range lines {
		text := l.text
		words := len(strings.Fields(text))
		headingLevel := 0
		if lv, ok := levels[roundSize(l.size)]; ok && words <= 20 {
			headingLevel = lv
		} else if l.bold && !boldBody && starts[i] && (i+1 == len(lines) || starts[i+1]) && words <= 12 && !endsSentence(text) {
			headingLevel = boldLevel
		}
		switch {
		case headingLevel > 0:
			// A heading wrapped over lines continues when the next line is
			// set the same way and close below.
			if kind == Heading && level == headingLevel && len(parts) > 0 && lines[i-1].y-l.y < 1.6*l.size && lines[i-1].y > l.y {
				parts = append(parts, text)
				continue
			}
			flush()
			kind, level = Heading, headingLevel
			parts = append(parts, text)
		case isListStart(text):
			item, _ := listItemText(text)
			flush()
			kind, level = ListItem, 0
			parts = append(parts, item)
		default:
			if starts[i] || kind == Heading || len(parts) == 0 {
				flush()
				kind, level = Paragraph, 0
			}
			parts = append(parts, text)
		}
	}
	flush()
	return blocks
}

func isListStart(text string) bool {
	_, ok := listItemText(text)
	return ok
}

func endsSentence(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune(".!?;,", r)
}

// paragraphStarts marks the lines that begin a paragraph: after a gap
// clearly wider than the page's usual line spacing (a blank-ish line), when
// text moves up the page (a new column or region), at a first-line indent,
// or after a line that ends a sentence well short of the right margin.
func paragraphStarts(lines []*pdfLine) []bool {
	starts := make([]bool, len(lines))
	if len(lines) == 0 {
		return starts
	}
	var gaps, ends []float64
	xs := map[float64]int{}
	for i, l := range lines {
		if i > 0 {
			if g := lines[i-1].y - l.y; g > 0 {
				gaps = append(gaps, g)
			}
		}
		ends = append(ends, l.endX)
		xs[math.Round(l.x0)]++
	}
	base := 0.0
	if len(gaps) >= 2 {
		sort.Float64s(gaps)
		base = gaps[len(gaps)/4]
	}
	sort.Float64s(ends)
	right := ends[len(ends)*3/4]
	margin, most := 0.0, -1
	for x, n := range xs {
		if n > most || n == most && x < margin {
			margin, most = x, n
		}
	}
	atMargin := func(l *pdfLine) bool { return math.Abs(l.x0-margin) < 0.5*l.size }
	indented := func(l *pdfLine) bool { d := l.x0 - margin; return d > 0.8*l.size && d < 10*l.size }
	starts[0] = true
	for i := 1; i < len(lines); i++ {
		l, prev := lines[i], lines[i-1]
		gap := prev.y - l.y
		limit := 1.6 * l.size
		if base > 0 {
			limit = 1.25 * base
		}
		switch {
		case gap <= -0.5*l.size, gap > limit:
			starts[i] = true
		case indented(l) && atMargin(prev) && (i+1 == len(lines) || atMargin(lines[i+1])):
			starts[i] = true
		case endsSentence(prev.text) && prev.endX < right-4*l.size && len(lines) >= 4:
			starts[i] = true
		}
	}
	return starts
}

// joinPDFLines joins wrapped lines: with a space, or directly after a
// hyphen that ends a word part ("self-" + "service"), keeping the hyphen
// because dropping it would corrupt real compounds.
func joinPDFLines(lines []string) string {
	var b strings.Builder
	for i, line := range lines {
		if i > 0 {
			prev := lines[i-1]
			r, _ := utf8.DecodeLastRuneInString(strings.TrimSuffix(prev, "-"))
			n, _ := utf8.DecodeRuneInString(line)
			if !(strings.HasSuffix(prev, "-") && unicode.IsLetter(r) && unicode.IsLower(n)) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

// cleanPDFTitle drops what writers put in /Title that is not a title: the
// "Microsoft Word - " prefix and bare file names.
func cleanPDFTitle(t string) string {
	t = strings.TrimSpace(t)
	for _, prefix := range []string{"Microsoft Word - ", "Microsoft PowerPoint - ", "Microsoft Excel - "} {
		t = strings.TrimPrefix(t, prefix)
	}
	lower := strings.ToLower(t)
	for _, ext := range []string{".doc", ".docx", ".odt", ".ppt", ".pptx", ".xls", ".xlsx", ".pdf", ".indd", ".rtf", ".txt", ".tex", ".dvi", ".ps"} {
		if strings.HasSuffix(lower, ext) {
			return ""
		}
	}
	return t
}
