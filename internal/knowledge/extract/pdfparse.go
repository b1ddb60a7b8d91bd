package extract

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/ascii85"
	"encoding/hex"
	"errors"
	"io"
	"sort"
	"strconv"
)

// This file reads the object layer of a PDF without trusting its cross-
// reference table: it scans the file for "N G obj" headers (and object
// streams), so damaged or incrementally updated files read the same way as
// clean ones. Everything is bounded: nesting depth, object counts and the
// total inflated size.

const (
	maxPDFDepth   = 32      // nesting of arrays and dictionaries
	maxPDFObjects = 200_000 // objects kept from one file
	maxRefHops    = 32      // chained indirect references
)

// errPDFTooLarge aborts a document whose streams decode past its budget.
var errPDFTooLarge = errors.New("pdf: inflated content over the limit")

// maxInflateRatio bounds what a document may decode relative to its own
// size. Text content compresses a few times over; a file that inflates a
// hundredfold is a decompression bomb, and capping it keeps a small hostile
// upload from costing seconds of work.
const maxInflateRatio = 100

// decodeBudget is what a PDF of n bytes may decode in total: at most
// maxStreamBytes, and at most maxInflateRatio times its size (with a floor
// so that small files are never cramped).
func decodeBudget(n int) int {
	return min(maxStreamBytes, max(2<<20, maxInflateRatio*n))
}

// PDF values are nil, bool, float64, pdfName, pdfString, pdfKeyword,
// pdfRef, pdfArray, pdfDict and *pdfStream.
type (
	pdfName    string
	pdfString  string // raw bytes, not yet decoded to text
	pdfKeyword string
	pdfRef     struct{ num, gen int }
	pdfArray   []any
	pdfDict    map[pdfName]any
)

type pdfStream struct {
	dict    pdfDict
	raw     []byte
	decoded []byte
	done    bool // decoded is set (possibly nil for an unsupported filter)
}

type pdfToken struct {
	kind int
	num  float64
	str  string
}

const (
	tokEOF = iota
	tokNumber
	tokName
	tokString
	tokKeyword
	tokArrayOpen
	tokArrayClose
	tokDictOpen
	tokDictClose
)

// pdfLexer splits PDF syntax into tokens. It always advances, so a loop
// over next() ends on any input.
type pdfLexer struct {
	data []byte
	pos  int
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isPDFDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isPDFRegular(c byte) bool { return !isPDFSpace(c) && !isPDFDelim(c) }

func (l *pdfLexer) skipSpace() {
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		if isPDFSpace(c) {
			l.pos++
			continue
		}
		if c == '%' {
			for l.pos < len(l.data) && l.data[l.pos] != '\n' && l.data[l.pos] != '\r' {
				l.pos++
			}
			continue
		}
		return
	}
}

func (l *pdfLexer) next() pdfToken {
	l.skipSpace()
	if l.pos >= len(l.data) {
		return pdfToken{kind: tokEOF}
	}
	c := l.data[l.pos]
	switch c {
	case '(':
		l.pos++
		return pdfToken{kind: tokString, str: l.literalString()}
	case '<':
		if l.pos+1 < len(l.data) && l.data[l.pos+1] == '<' {
			l.pos += 2
			return pdfToken{kind: tokDictOpen}
		}
		l.pos++
		return pdfToken{kind: tokString, str: l.hexString()}
	case '>':
		if l.pos+1 < len(l.data) && l.data[l.pos+1] == '>' {
			l.pos += 2
			return pdfToken{kind: tokDictClose}
		}
		l.pos++
		return pdfToken{kind: tokKeyword, str: ">"}
	case '[':
		l.pos++
		return pdfToken{kind: tokArrayOpen}
	case ']':
		l.pos++
		return pdfToken{kind: tokArrayClose}
	case '/':
		l.pos++
		return pdfToken{kind: tokName, str: l.name()}
	case ')', '{', '}':
		l.pos++
		return pdfToken{kind: tokKeyword, str: string(c)}
	}
	start := l.pos
	for l.pos < len(l.data) && isPDFRegular(l.data[l.pos]) {
		l.pos++
	}
	word := l.data[start:l.pos]
	if c == '+' || c == '-' || c == '.' || c >= '0' && c <= '9' {
		// ParseFloat also reads "+Inf" and "NaN", which are no PDF numbers
		// and would poison every calculation they reach.
		if f, err := strconv.ParseFloat(string(word), 64); err == nil && finite(f) {
			return pdfToken{kind: tokNumber, num: f}
		}
		// Some writers emit "--5" or "4.-2"; read what parses as a number.
		if f, ok := lenientNumber(word); ok {
			return pdfToken{kind: tokNumber, num: f}
		}
	}
	return pdfToken{kind: tokKeyword, str: string(word)}
}

func lenientNumber(word []byte) (float64, bool) {
	neg := false
	i := 0
	for i < len(word) && (word[i] == '-' || word[i] == '+') {
		neg = neg != (word[i] == '-')
		i++
	}
	j := i
	dot := false
	for j < len(word) && (word[j] >= '0' && word[j] <= '9' || word[j] == '.' && !dot) {
		dot = dot || word[j] == '.'
		j++
	}
	f, err := strconv.ParseFloat(string(word[i:j]), 64)
	if err != nil {
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

func (l *pdfLexer) name() string {
	var b []byte
	for l.pos < len(l.data) && isPDFRegular(l.data[l.pos]) {
		c := l.data[l.pos]
		if c == '#' && l.pos+2 < len(l.data) {
			if v, err := hex.DecodeString(string(l.data[l.pos+1 : l.pos+3])); err == nil {
				b = append(b, v[0])
				l.pos += 3
				continue
			}
		}
		b = append(b, c)
		l.pos++
	}
	return string(b)
}

// literalString reads a (string) after its opening parenthesis: balanced
// parentheses and backslash escapes.
func (l *pdfLexer) literalString() string {
	var b []byte
	depth := 1
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return string(b)
			}
		case '\\':
			if l.pos >= len(l.data) {
				return string(b)
			}
			e := l.data[l.pos]
			l.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if l.pos < len(l.data) && l.data[l.pos] == '\n' {
					l.pos++
				}
				continue // a line continuation
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '7'; k++ {
						v = v*8 + int(l.data[l.pos]-'0')
						l.pos++
					}
					c = byte(v)
				} else {
					c = e // \( \) \\ and unknown escapes stand for the character
				}
			}
		}
		b = append(b, c)
	}
	return string(b)
}

func (l *pdfLexer) hexString() string {
	var b []byte
	var hi byte
	half := false
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		if c == '>' {
			break
		}
		v, ok := hexValue(c)
		if !ok {
			continue
		}
		if half {
			b = append(b, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		b = append(b, hi<<4)
	}
	return string(b)
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var errPDFSyntax = errors.New("pdf syntax error")

// value reads one object. refs enables "N G R" references, which only
// occur in the object layer (content streams have none).
func (l *pdfLexer) value(tok pdfToken, depth int, refs bool) (any, error) {
	switch tok.kind {
	case tokNumber:
		if refs && tok.num >= 0 && tok.num == float64(int(tok.num)) && tok.num < 1<<31 {
			save := l.pos
			if g := l.next(); g.kind == tokNumber && g.num >= 0 && g.num < 1<<20 && g.num == float64(int(g.num)) {
				if r := l.next(); r.kind == tokKeyword && r.str == "R" {
					return pdfRef{int(tok.num), int(g.num)}, nil
				}
			}
			l.pos = save
		}
		return tok.num, nil
	case tokName:
		return pdfName(tok.str), nil
	case tokString:
		return pdfString(tok.str), nil
	case tokKeyword:
		switch tok.str {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		return pdfKeyword(tok.str), nil
	case tokArrayOpen:
		if depth >= maxPDFDepth {
			return nil, errPDFSyntax
		}
		var arr pdfArray
		for {
			t := l.next()
			switch t.kind {
			case tokArrayClose:
				return arr, nil
			case tokEOF, tokDictClose:
				return arr, errPDFSyntax
			}
			v, err := l.value(t, depth+1, refs)
			if err != nil {
				return arr, err
			}
			arr = append(arr, v)
		}
	case tokDictOpen:
		if depth >= maxPDFDepth {
			return nil, errPDFSyntax
		}
		dict := pdfDict{}
		for {
			t := l.next()
			switch t.kind {
			case tokDictClose:
				return dict, nil
			case tokEOF, tokArrayClose:
				return dict, errPDFSyntax
			case tokName:
			default:
				continue // a stray token where a key belongs: skip it
			}
			vt := l.next()
			if vt.kind == tokDictClose {
				return dict, nil
			}
			v, err := l.value(vt, depth+1, refs)
			if err != nil {
				return dict, err
			}
			dict[pdfName(t.str)] = v
		}
	}
	return nil, errPDFSyntax
}

// pdfObject is one object and where it was found, so that a later
// definition (an incremental update) wins over an earlier one.
type pdfObject struct {
	value  any
	offset int
}

type pdfDoc struct {
	data     []byte
	objects  map[int]pdfObject
	trailers []pdfDict // trailer dictionaries and xref-stream dictionaries, in file order
	inflated int       // bytes decoded so far, against budget
	budget   int       // what the document may decode in total
	err      error     // a fatal error met while decoding streams
	cmaps    map[*pdfStream]*toUnicode
}

// forwardFinder finds the next occurrence of a pattern at or after a
// position; it caches the last answer so that a scan moving forward stays
// linear however many candidates fail.
type forwardFinder struct {
	data     []byte
	pat      []byte
	from, at int // the last search started at from and found at (−1: none)
	valid    bool
}

func (f *forwardFinder) next(p int) int {
	if f.valid && p >= f.from && (f.at < 0 || f.at >= p) {
		return f.at
	}
	f.from, f.valid = p, true
	if p > len(f.data) {
		f.at = -1
		return -1
	}
	i := bytes.Index(f.data[p:], f.pat)
	if i < 0 {
		f.at = -1
	} else {
		f.at = p + i
	}
	return f.at
}

func parsePDF(data []byte) *pdfDoc {
	d := &pdfDoc{data: data, objects: map[int]pdfObject{}, budget: decodeBudget(len(data)), cmaps: map[*pdfStream]*toUnicode{}}
	objs := forwardFinder{data: data, pat: []byte("obj")}
	endobj := forwardFinder{data: data, pat: []byte("endobj")}
	endstream := forwardFinder{data: data, pat: []byte("endstream")}
	var objStreams []pdfObject
	for pos := 0; pos < len(data) && len(d.objects) < maxPDFObjects; {
		i := objs.next(pos)
		if i < 0 {
			break
		}
		pos = i + 3
		num, ok := objectHeader(data, i)
		if !ok || pos < len(data) && isPDFRegular(data[pos]) {
			continue
		}
		limit := endobj.next(pos)
		if limit < 0 {
			limit = len(data)
		}
		l := pdfLexer{data: data[:limit], pos: pos}
		v, err := l.value(l.next(), 0, true)
		pos = max(pos, l.pos)
		if err != nil {
			continue
		}
		save := l.pos
		if t := l.next(); t.kind == tokKeyword && t.str == "stream" {
			if dict, ok := v.(pdfDict); ok {
				s, end := readStream(data, l.pos, dict, &endstream)
				v = s
				pos = max(pos, end)
				if isName(dict["Type"], "ObjStm") {
					objStreams = append(objStreams, pdfObject{s, i})
				}
				if isName(dict["Type"], "XRef") {
					d.trailers = append(d.trailers, dict)
				}
			}
		} else {
			l.pos = save
		}
		if old, ok := d.objects[num]; !ok || old.offset <= i {
			d.objects[num] = pdfObject{v, i}
		}
	}
	d.readTrailers()
	for _, objStm := range objStreams {
		d.readObjectStream(objStm)
		if d.err != nil {
			break
		}
	}
	return d
}

// objectHeader parses the "N G" before the "obj" at i.
func objectHeader(data []byte, i int) (int, bool) {
	j := i
	digits := func() (int, bool) {
		end := j
		for j > 0 && data[j-1] >= '0' && data[j-1] <= '9' && end-j < 10 {
			j--
		}
		if j == end {
			return 0, false
		}
		n, err := strconv.Atoi(string(data[j:end]))
		return n, err == nil
	}
	spaces := func() bool {
		end := j
		for j > 0 && isPDFSpace(data[j-1]) {
			j--
		}
		return j < end
	}
	spaces()
	if _, ok := digits(); !ok || !spaces() {
		return 0, false
	}
	num, ok := digits()
	if !ok || j > 0 && isPDFRegular(data[j-1]) {
		return 0, false
	}
	return num, true
}

// readStream returns the stream whose data starts after the "stream"
// keyword at pos, and the offset after its "endstream". /Length is trusted
// only when "endstream" follows where it says.
func readStream(data []byte, pos int, dict pdfDict, endstream *forwardFinder) (*pdfStream, int) {
	if pos < len(data) && data[pos] == '\r' {
		pos++
	}
	if pos < len(data) && data[pos] == '\n' {
		pos++
	}
	if n, ok := dict["Length"].(float64); ok && n >= 0 && float64(pos)+n <= float64(len(data)) {
		end := pos + int(n)
		rest := data[end:]
		rest = bytes.TrimLeft(rest[:min(len(rest), 64)], " \r\n\t\f\x00")
		if bytes.HasPrefix(rest, []byte("endstream")) {
			return &pdfStream{dict: dict, raw: data[pos:end]}, end
		}
	}
	end := endstream.next(pos)
	if end < 0 {
		return &pdfStream{dict: dict, raw: data[pos:]}, len(data)
	}
	raw := data[pos:end]
	switch {
	case bytes.HasSuffix(raw, []byte("\r\n")):
		raw = raw[:len(raw)-2]
	case bytes.HasSuffix(raw, []byte("\n")), bytes.HasSuffix(raw, []byte("\r")):
		raw = raw[:len(raw)-1]
	}
	return &pdfStream{dict: dict, raw: raw}, end + len("endstream")
}

// readTrailers collects every "trailer" dictionary.
func (d *pdfDoc) readTrailers() {
	f := forwardFinder{data: d.data, pat: []byte("trailer")}
	for pos := 0; pos < len(d.data) && len(d.trailers) < 1000; {
		i := f.next(pos)
		if i < 0 {
			return
		}
		l := pdfLexer{data: d.data, pos: i + len("trailer")}
		t := l.next()
		pos = i + len("trailer")
		if t.kind != tokDictOpen {
			continue
		}
		v, err := l.value(t, 0, true)
		pos = max(pos, l.pos)
		if dict, ok := v.(pdfDict); ok && err == nil {
			d.trailers = append(d.trailers, dict)
		}
	}
}

// readObjectStream adds the objects packed in an object stream (PDF 1.5),
// where modern writers keep page and font dictionaries.
func (d *pdfDoc) readObjectStream(objStm pdfObject) {
	s := objStm.value.(*pdfStream)
	data := d.decode(s)
	n, _ := s.dict["N"].(float64)
	first, _ := s.dict["First"].(float64)
	if data == nil || n <= 0 || first <= 0 || first > float64(len(data)) {
		return
	}
	header := pdfLexer{data: data[:int(first)]}
	for k := 0; k < int(min(n, 100_000)) && len(d.objects) < maxPDFObjects; k++ {
		numTok, offTok := header.next(), header.next()
		if numTok.kind != tokNumber || offTok.kind != tokNumber {
			return
		}
		if offTok.num < 0 || int(first)+int(min(offTok.num, float64(len(data)))) >= len(data) {
			continue
		}
		off := int(first) + int(offTok.num)
		l := pdfLexer{data: data, pos: off}
		v, err := l.value(l.next(), 0, true)
		if err != nil {
			continue
		}
		num := int(numTok.num)
		if old, ok := d.objects[num]; !ok || old.offset <= objStm.offset {
			d.objects[num] = pdfObject{v, objStm.offset}
		}
	}
}

// resolve follows indirect references.
func (d *pdfDoc) resolve(v any) any {
	for hops := 0; hops < maxRefHops; hops++ {
		r, ok := v.(pdfRef)
		if !ok {
			return v
		}
		v = d.objects[r.num].value
	}
	return nil
}

func (d *pdfDoc) dict(v any) pdfDict {
	switch x := d.resolve(v).(type) {
	case pdfDict:
		return x
	case *pdfStream:
		return x.dict
	}
	return nil
}

func (d *pdfDoc) array(v any) pdfArray {
	a, _ := d.resolve(v).(pdfArray)
	return a
}

func (d *pdfDoc) number(v any) (float64, bool) {
	f, ok := d.resolve(v).(float64)
	return f, ok
}

func (d *pdfDoc) name(v any) pdfName {
	n, _ := d.resolve(v).(pdfName)
	return n
}

func (d *pdfDoc) stream(v any) *pdfStream {
	s, _ := d.resolve(v).(*pdfStream)
	return s
}

func isName(v any, name string) bool {
	n, ok := v.(pdfName)
	return ok && string(n) == name
}

// decode returns the decoded data of a stream, or nil when a filter is not
// supported (images, which carry no text) or the data is damaged beyond use.
// Results are cached, and what is inflated counts against the document's
// budget.
func (d *pdfDoc) decode(s *pdfStream) []byte {
	if s == nil {
		return nil
	}
	if s.done {
		return s.decoded
	}
	s.done = true
	var filters []pdfName
	switch f := d.resolve(s.dict["Filter"]).(type) {
	case pdfName:
		filters = []pdfName{f}
	case pdfArray:
		for _, x := range f {
			filters = append(filters, d.name(x))
		}
	}
	var parms []pdfDict
	switch p := d.resolve(s.dict["DecodeParms"]).(type) {
	case pdfDict:
		parms = []pdfDict{p}
	case pdfArray:
		for _, x := range p {
			parms = append(parms, d.dict(x))
		}
	}
	if len(filters) > 8 {
		return nil
	}
	data := s.raw
	for i, f := range filters {
		switch f {
		case "FlateDecode", "Fl":
			out, err := d.inflate(data)
			if err != nil {
				d.err = err
				return nil
			}
			data = out
			if i < len(parms) {
				data = unpredict(data, parms[i], d)
			}
			continue
		case "ASCIIHexDecode", "AHx":
			l := pdfLexer{data: data}
			data = []byte(l.hexString())
		case "ASCII85Decode", "A85":
			data = decodeASCII85(data, d.budget-d.inflated)
		default:
			return nil
		}
		// The text filters expand too (ASCII85's "z" is four bytes), so
		// their output counts against the same budget.
		d.inflated += len(data)
		if d.inflated > d.budget {
			d.err = errPDFTooLarge
			return nil
		}
	}
	s.decoded = data
	return data
}

// inflate decompresses zlib data within the document's budget. A damaged
// stream yields what could be read before the damage, as viewers do.
func (d *pdfDoc) inflate(data []byte) ([]byte, error) {
	var r io.Reader
	if zr, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
		r = zr
	} else {
		r = flate.NewReader(bytes.NewReader(data)) // raw deflate without a zlib header
	}
	left := d.budget - d.inflated
	out, _ := io.ReadAll(io.LimitReader(r, int64(left)+1))
	if len(out) > left {
		return nil, errPDFTooLarge
	}
	d.inflated += len(out)
	return out, nil
}

func decodeASCII85(data []byte, limit int) []byte {
	if i := bytes.Index(data, []byte("~>")); i >= 0 {
		data = data[:i]
	}
	data = bytes.TrimPrefix(bytes.TrimSpace(data), []byte("<~"))
	out := make([]byte, min(4*len(data), max(limit, 0))+8)
	n, _, err := ascii85.Decode(out, data, true)
	if err != nil && n == 0 {
		return nil
	}
	return out[:n]
}

// unpredict undoes a PNG predictor (used by object streams from some
// writers); other predictors are left alone.
func unpredict(data []byte, parms pdfDict, d *pdfDoc) []byte {
	pred, _ := d.number(parms["Predictor"])
	if pred < 10 {
		return data
	}
	cols, ok := d.number(parms["Columns"])
	if !ok {
		cols = 1
	}
	colors, ok := d.number(parms["Colors"])
	if !ok {
		colors = 1
	}
	bpc, ok := d.number(parms["BitsPerComponent"])
	if !ok {
		bpc = 8
	}
	if cols < 1 || colors < 1 || bpc < 1 || cols*colors*bpc > 1<<20 {
		return data
	}
	bpp := max(1, int(colors*bpc+7)/8)
	rowLen := (int(cols*colors*bpc) + 7) / 8
	out := make([]byte, 0, len(data))
	prev := make([]byte, rowLen)
	for len(data) >= rowLen+1 {
		ft, row := data[0], append([]byte(nil), data[1:rowLen+1]...)
		data = data[rowLen+1:]
		for i := range row {
			var left, upLeft byte
			if i >= bpp {
				left, upLeft = row[i-bpp], prev[i-bpp]
			}
			up := prev[i]
			switch ft {
			case 1:
				row[i] += left
			case 2:
				row[i] += up
			case 3:
				row[i] += byte((int(left) + int(up)) / 2)
			case 4:
				row[i] += paeth(left, up, upLeft)
			}
		}
		out = append(out, row...)
		prev = row
	}
	return out
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// encrypted says whether any trailer names an encryption dictionary.
func (d *pdfDoc) encrypted() bool {
	for _, t := range d.trailers {
		if _, ok := t["Encrypt"]; ok {
			return true
		}
	}
	return false
}

// trailerValue returns key from the last trailer that has it (the newest
// incremental update).
func (d *pdfDoc) trailerValue(key pdfName) any {
	for i := len(d.trailers) - 1; i >= 0; i-- {
		if v, ok := d.trailers[i][key]; ok {
			return v
		}
	}
	return nil
}

// sortedObjectNumbers lists object numbers in file order (for fallbacks
// that must not depend on map iteration order).
func (d *pdfDoc) sortedObjectNumbers() []int {
	nums := make([]int, 0, len(d.objects))
	for n := range d.objects {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool {
		a, b := d.objects[nums[i]], d.objects[nums[j]]
		if a.offset != b.offset {
			return a.offset < b.offset
		}
		return nums[i] < nums[j]
	})
	return nums
}
