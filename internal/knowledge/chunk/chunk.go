// Package chunk cuts an extracted document into retrieval-sized chunks
// along its structure: each heading starts a new chunk, small blocks under
// one heading are packed together, long blocks are split on sentence
// boundaries, and consecutive chunks of one section overlap a little so that
// a passage cut in two can still be found whole.
package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/knowledge/extract"
)

// Options tune the chunk size.
type Options struct {
	TargetWords  int // default 220 when 0
	OverlapWords int // default 30 when 0; negative means none
}

// Default sizes: about a paragraph or two, small enough for precise
// retrieval and large enough to carry context.
const (
	DefaultTargetWords  = 220
	DefaultOverlapWords = 30
)

// charsPerWord bounds a chunk's length in bytes as well as in words, so
// text without spaces (a URL list, CJK prose, a base64 blob) is still cut.
const charsPerWord = 20

// Chunk is one piece of a document.
type Chunk struct {
	Position    int      // 0-based order in the document
	HeadingPath []string // the headings this chunk sits under, outermost first
	Text        string   // the chunk body only (no heading path prefixed)
	Words       int      // whitespace-separated words in Text
}

// Split cuts doc into chunks. The output depends only on doc and opt, and
// no chunk is empty. TargetWords bounds a chunk's own content; a chunk that
// follows another in the same section also starts with about OverlapWords
// words of it.
func Split(doc extract.Document, opt Options) []Chunk {
	s := splitter{target: opt.TargetWords, overlap: opt.OverlapWords}
	if s.target <= 0 {
		s.target = DefaultTargetWords
	}
	switch {
	case s.overlap == 0:
		s.overlap = DefaultOverlapWords
	case s.overlap < 0:
		s.overlap = 0
	}
	// More overlap than half a chunk would mostly repeat text.
	s.overlap = min(s.overlap, s.target/2)
	s.maxBytes = s.target * charsPerWord

	type heading struct {
		level int
		text  string
	}
	var path []heading
	var section []extract.Block
	var chunks []Chunk
	flush := func() {
		names := make([]string, len(path))
		for i, h := range path {
			names[i] = h.text
		}
		chunks = append(chunks, s.section(names, section)...)
		section = nil
	}
	for _, b := range doc.Blocks {
		if b.Kind != extract.Heading {
			section = append(section, b)
			continue
		}
		text := collapse(b.Text)
		if text == "" {
			continue
		}
		flush()
		level := max(b.Level, 1)
		for len(path) > 0 && path[len(path)-1].level >= level {
			path = path[:len(path)-1]
		}
		path = append(path, heading{level, text})
	}
	flush()
	for i := range chunks {
		chunks[i].Position = i
	}
	return chunks
}

type splitter struct {
	target, overlap, maxBytes int
}

// unit is a block, or a piece of a block too long to keep whole.
type unit struct {
	text  string
	words int
	sep   string // what joins it to the unit before it in a chunk
}

// section packs the blocks under one heading into chunks.
func (s splitter) section(path []string, blocks []extract.Block) []Chunk {
	var units []unit
	prevKind := extract.BlockKind("")
	for _, b := range blocks {
		text := blockText(b)
		words := wordCount(text)
		if words == 0 {
			continue
		}
		sep := "\n\n"
		if b.Kind == extract.ListItem && prevKind == extract.ListItem {
			sep = "\n" // a list reads as one list
		}
		prevKind = b.Kind
		if words <= s.target*3/2 && len(text) <= s.maxBytes*3/2 {
			units = append(units, unit{text, words, sep})
			continue
		}
		pieceSep := " "
		if lineBased(b.Kind) {
			pieceSep = "\n"
		}
		for i, p := range s.splitLong(b.Kind, text) {
			u := unit{p, wordCount(p), pieceSep}
			if i == 0 {
				u.sep = sep
			}
			units = append(units, u)
		}
	}

	var chunks []Chunk
	var cur []unit
	curWords, curBytes := 0, 0
	prevOwn := "" // the previous chunk's own text, for the overlap
	emit := func() {
		var b strings.Builder
		for i, u := range cur {
			if i > 0 {
				b.WriteString(u.sep)
			}
			b.WriteString(u.text)
		}
		own := b.String()
		text := own
		if prevOwn != "" && s.overlap > 0 {
			if tail := overlapTail(prevOwn, s.overlap); tail != "" {
				text = tail + cur[0].sep + own
			}
		}
		chunks = append(chunks, Chunk{HeadingPath: append([]string{}, path...), Text: text, Words: wordCount(text)})
		prevOwn = own
		cur, curWords, curBytes = nil, 0, 0
	}
	for _, u := range units {
		if len(cur) > 0 && (curWords+u.words > s.target || curBytes+len(u.text) > s.maxBytes) {
			emit()
		}
		cur = append(cur, u)
		curWords += u.words
		curBytes += len(u.text)
	}
	if len(cur) > 0 {
		emit()
	}
	return chunks
}

// blockText normalises a block's text: prose collapses to single spaces,
// code and tables keep their lines.
func blockText(b extract.Block) string {
	if lineBased(b.Kind) {
		return strings.Trim(strings.ReplaceAll(b.Text, "\r\n", "\n"), "\n")
	}
	return collapse(b.Text)
}

func lineBased(k extract.BlockKind) bool { return k == extract.Code || k == extract.Table }

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func wordCount(s string) int {
	n, in := 0, false
	for _, r := range s {
		space := unicode.IsSpace(r)
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

// splitLong cuts a block longer than about 1.5 chunks into pieces of at
// most TargetWords: prose on sentence boundaries, code and tables on line
// boundaries, falling back to word (and then byte) boundaries for a
// sentence or line that is itself too long. A last piece much smaller than
// the rest joins the one before it.
func (s splitter) splitLong(kind extract.BlockKind, text string) []string {
	var parts []string
	sep := " "
	if lineBased(kind) {
		parts = strings.Split(text, "\n")
		sep = "\n"
	} else {
		parts = sentences(text)
	}
	var pieces []string
	var cur []string
	curWords, curBytes := 0, 0
	flush := func() {
		if len(cur) > 0 {
			pieces = append(pieces, strings.Join(cur, sep))
			cur, curWords, curBytes = nil, 0, 0
		}
	}
	for _, p := range parts {
		w := wordCount(p)
		if w > s.target*3/2 || len(p) > s.maxBytes {
			flush()
			pieces = append(pieces, s.splitWords(p)...)
			continue
		}
		if len(cur) > 0 && (curWords+w > s.target || curBytes+len(p) > s.maxBytes) {
			flush()
		}
		cur = append(cur, p)
		curWords += w
		curBytes += len(p) + len(sep)
	}
	flush()
	if n := len(pieces); n >= 2 {
		last, prev := pieces[n-1], pieces[n-2]
		if lw := wordCount(last); lw < s.target/4 && wordCount(prev)+lw <= s.target*3/2 && len(prev)+len(last) <= s.maxBytes*3/2 {
			pieces = append(pieces[:n-2], prev+sep+last)
		}
	}
	out := pieces[:0]
	for _, p := range pieces {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitWords cuts text at word boundaries into pieces of TargetWords words,
// and cuts any single run without spaces that is too long for a chunk.
func (s splitter) splitWords(text string) []string {
	var pieces []string
	var cur []string
	curBytes := 0
	for _, w := range strings.Fields(text) {
		for len(w) > s.maxBytes {
			if len(cur) > 0 {
				pieces = append(pieces, strings.Join(cur, " "))
				cur, curBytes = nil, 0
			}
			cut := runeBoundary(w, s.maxBytes)
			pieces = append(pieces, w[:cut])
			w = w[cut:]
		}
		if len(cur) > 0 && (len(cur) >= s.target || curBytes+len(w) > s.maxBytes) {
			pieces = append(pieces, strings.Join(cur, " "))
			cur, curBytes = nil, 0
		}
		cur = append(cur, w)
		curBytes += len(w) + 1
	}
	if len(cur) > 0 {
		pieces = append(pieces, strings.Join(cur, " "))
	}
	return pieces
}

// runeBoundary returns the largest cut ≤ n that does not split a UTF-8
// sequence (at least one rune, so that cutting always progresses).
func runeBoundary(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	_, size := utf8.DecodeRuneInString(s)
	return size
}

// overlapTail returns the end of text to repeat at the start of the next
// chunk: whole sentences (or lines) adding up to about n words, or, when
// the last sentence alone is much longer, the last n words.
func overlapTail(text string, n int) string {
	starts := sentenceStarts(text)
	total, from := 0, len(text)
	for i := len(starts) - 1; i >= 0 && total < n; i-- {
		w := wordCount(text[starts[i]:from])
		if total+w > n*3/2 {
			break
		}
		total += w
		from = starts[i]
	}
	if total == 0 || total < n/2 {
		from = lastWordsStart(text, n)
	}
	return strings.TrimSpace(text[from:])
}

// lastWordsStart returns the offset at which the last n words of text
// begin.
func lastWordsStart(text string, n int) int {
	count := 0
	inWord := false
	for i := len(text); i > 0; {
		r, size := utf8.DecodeLastRuneInString(text[:i])
		space := unicode.IsSpace(r)
		if space && inWord {
			count++
			if count == n {
				return i
			}
		}
		inWord = !space
		i -= size
	}
	return 0
}

// sentences splits prose into sentences (see sentenceStarts).
func sentences(text string) []string {
	starts := sentenceStarts(text)
	out := make([]string, 0, len(starts))
	for i, st := range starts {
		end := len(text)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		if t := strings.TrimSpace(text[st:end]); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// sentenceStarts returns the byte offsets where sentences (or lines) begin;
// the first is always 0. A sentence ends at ".", "!" or "?" (and closing
// quotes or brackets) followed by a space and a capital letter or digit,
// except after common abbreviations and initials ("e.g.", "Dr.", "J.");
// it also ends at a line break and after the CJK full stops.
func sentenceStarts(text string) []int {
	starts := []int{0}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		next := i + size
		switch r {
		case '\n':
			if j := skipSpace(text, next); j < len(text) {
				starts = appendStart(starts, j)
			}
		case '。', '！', '？':
			if j := skipSpace(text, next); j < len(text) {
				starts = appendStart(starts, j)
			}
		case '.', '!', '?':
			j := next
			for j < len(text) {
				c, n := utf8.DecodeRuneInString(text[j:])
				if !strings.ContainsRune(`"')]”’»`, c) {
					break
				}
				j += n
			}
			if j >= len(text) || text[j] != ' ' && text[j] != '\t' {
				break
			}
			k := skipSpace(text, j)
			if k >= len(text) {
				break
			}
			c, cs := utf8.DecodeRuneInString(text[k:])
			if strings.ContainsRune(`"'(“‘«`, c) {
				c, _ = utf8.DecodeRuneInString(text[k+cs:])
			}
			if !unicode.IsUpper(c) && !unicode.IsDigit(c) {
				break
			}
			if r == '.' && isAbbreviation(wordBefore(text, next)) {
				break
			}
			starts = appendStart(starts, k)
		}
		i = next
	}
	return starts
}

func appendStart(starts []int, at int) []int {
	if at > starts[len(starts)-1] {
		return append(starts, at)
	}
	return starts
}

func skipSpace(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

// wordBefore returns the whitespace-delimited token that ends at end,
// without leading brackets or quotes.
func wordBefore(text string, end int) string {
	start := strings.LastIndexAny(text[:end], " \t\n") + 1
	return strings.TrimLeft(text[start:end], `"'(“‘[`)
}

var abbreviations = map[string]bool{
	"e.g.": true, "i.e.": true, "dr.": true, "mr.": true, "mrs.": true, "ms.": true, "prof.": true,
	"vs.": true, "st.": true, "jr.": true, "sr.": true, "no.": true, "fig.": true, "approx.": true,
	"inc.": true, "ltd.": true, "co.": true, "cf.": true, "al.": true, "mt.": true, "vol.": true,
	"p.": true, "pp.": true, "ch.": true, "sec.": true, "ca.": true, "resp.": true, "nr.": true,
}

// isAbbreviation says whether word (ending in ".") is an abbreviation that
// does not end a sentence: a known one, a single capital initial ("J."), or
// dotted letters ("U.S.").
func isAbbreviation(word string) bool {
	if abbreviations[strings.ToLower(word)] {
		return true
	}
	r, size := utf8.DecodeRuneInString(word)
	if size+1 == len(word) && unicode.IsUpper(r) {
		return true
	}
	// Dotted letters: every other rune is a dot.
	if len(word) >= 4 {
		dotted := true
		for i, r := range []rune(word) {
			if i%2 == 1 && r != '.' || i%2 == 0 && !unicode.IsLetter(r) {
				dotted = false
				break
			}
		}
		return dotted
	}
	return false
}
