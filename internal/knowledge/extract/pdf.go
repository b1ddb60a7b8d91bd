package extract

import (
	"bytes"
	"errors"
	"reflect"
)

const (
	maxPDFPages     = 100_000
	maxPDFTokens    = 20_000_000 // content-stream tokens interpreted per document (about 2 s)
	maxFormDepth    = 8
	maxOperandStack = 64
	maxGStateDepth  = 64
)

// extractPDF reads the text of a PDF page by page, in content-stream order,
// and rebuilds lines and paragraphs from the text positions.
func extractPDF(data []byte) (Document, error) {
	if !bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) {
		return Document{}, malformed("pdf: the file has no PDF header")
	}
	d := parsePDF(data)
	if d.encrypted() {
		return Document{}, malformed("pdf: the file is encrypted; upload an unencrypted copy")
	}
	if len(d.objects) == 0 {
		return Document{}, malformed("pdf: no PDF objects found; the file is damaged or truncated")
	}
	var doc Document
	if info := d.dict(d.trailerValue("Info")); info != nil {
		if t, ok := d.resolve(info["Title"]).(pdfString); ok {
			doc.Title = cleanPDFTitle(pdfTextString(string(t)))
		}
	}
	in := pdfInterp{doc: d, fonts: map[uintptr]*pdfFont{}, tokens: maxPDFTokens, seen: map[*pdfStream]bool{}}
	var pages [][]*pdfLine
	for _, page := range d.pages() {
		in.page(page)
		if d.err != nil {
			break
		}
		pages = append(pages, in.lines)
	}
	if errors.Is(d.err, errPDFTooLarge) {
		if d.budget < maxStreamBytes {
			return Document{}, malformed("pdf: the content inflates more than %d-fold; the file looks like a decompression bomb", maxInflateRatio)
		}
		return Document{}, malformed("pdf: the content inflates to more than %d MiB; split the file into smaller parts", maxStreamBytes>>20)
	}
	doc.Blocks = pdfLayout(pages)
	if len(finish(doc).Blocks) == 0 {
		return Document{}, malformed("pdf: no text found (a scanned image needs OCR first)")
	}
	return doc, nil
}

type pdfPage struct {
	dict      pdfDict
	resources pdfDict
}

// pages lists the pages in order by walking the page tree from the
// catalog; without a usable tree it falls back to every page object in file
// order.
func (d *pdfDoc) pages() []pdfPage {
	root := d.dict(d.trailerValue("Root"))
	if root == nil || root["Pages"] == nil {
		for _, n := range d.sortedObjectNumbers() {
			if dict, ok := d.objects[n].value.(pdfDict); ok && isName(dict["Type"], "Catalog") {
				root = dict
				break
			}
		}
	}
	type node struct {
		v     any
		res   pdfDict
		depth int
	}
	var pages []pdfPage
	seen := map[int]bool{}
	stack := []node{{v: root["Pages"]}}
	for len(stack) > 0 && len(pages) < maxPDFPages {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r, ok := n.v.(pdfRef); ok {
			if seen[r.num] {
				continue // a cycle, or a page listed twice
			}
			seen[r.num] = true
		}
		dict := d.dict(n.v)
		if dict == nil || n.depth > 64 {
			continue
		}
		res := n.res
		if r := d.dict(dict["Resources"]); r != nil {
			res = r
		}
		kids := d.array(dict["Kids"])
		if kids == nil || isName(dict["Type"], "Page") {
			pages = append(pages, pdfPage{dict: dict, resources: res})
			continue
		}
		for i := len(kids) - 1; i >= 0 && len(stack) < maxPDFPages; i-- {
			stack = append(stack, node{kids[i], res, n.depth + 1})
		}
	}
	if len(pages) > 0 {
		return pages
	}
	for _, n := range d.sortedObjectNumbers() {
		if dict, ok := d.objects[n].value.(pdfDict); ok && isName(dict["Type"], "Page") && len(pages) < maxPDFPages {
			pages = append(pages, pdfPage{dict: dict, resources: d.dict(dict["Resources"])})
		}
	}
	return pages
}

// matrix is a PDF transformation matrix [a b c d e f].
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n (apply m, then n).
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func translate(tx, ty float64) matrix { return matrix{1, 0, 0, 1, tx, ty} }

// actualText is the replacement text of a marked-content sequence
// (/ActualText): Chrome and others draw ligatures and other glyphs without
// a Unicode mapping and give their text this way.
type actualText struct {
	text string
	used bool // shown once, at the first string inside the sequence
}

type textState struct {
	actual                     *actualText // the innermost replacement text in force, or nil
	font                       *pdfFont
	size, charSpace, wordSpace float64
	hscale, leading            float64
	tm, tlm                    matrix
}

// pdfInterp runs content streams and records where text lands.
type pdfInterp struct {
	doc    *pdfDoc
	fonts  map[uintptr]*pdfFont // by font dictionary (its map's address)
	tokens int                  // remaining token budget for the document
	lines  []*pdfLine           // of the current page
	// seen holds the content streams and forms already run. Each runs once
	// per document: a repeated one (a letterhead form, a page duplicated by
	// reference) adds only noise, and running it again could multiply the
	// work of a hostile file.
	seen map[*pdfStream]bool
}

func (in *pdfInterp) page(p pdfPage) {
	in.lines = nil
	var content []byte
	switch c := in.doc.resolve(p.dict["Contents"]).(type) {
	case *pdfStream:
		if !in.seen[c] {
			in.seen[c] = true
			content = in.doc.decode(c)
		}
	case pdfArray:
		// The parts of a page's contents split at token boundaries, so
		// joining them with a newline keeps the tokens apart.
		var parts [][]byte
		for _, x := range c {
			if s := in.doc.stream(x); s != nil && !in.seen[s] {
				in.seen[s] = true
				parts = append(parts, in.doc.decode(s))
			}
		}
		content = bytes.Join(parts, []byte("\n"))
	}
	if content != nil {
		in.run(content, p.resources, identity, 0)
	}
}

func (in *pdfInterp) run(content []byte, res pdfDict, ctm matrix, depth int) {
	d := in.doc
	local := map[pdfName]*pdfFont{}
	ts := textState{hscale: 1, tm: identity, tlm: identity}
	var gstack []matrix
	var marked []*actualText // marked-content sequences, innermost last
	var ops []any
	lex := pdfLexer{data: content}
	num := func(i int) float64 {
		if i < 0 || i >= len(ops) {
			return 0
		}
		if f, ok := ops[i].(float64); ok && finite(f) {
			return f
		}
		return 0
	}
	nums := func(n int) ([]float64, bool) {
		if len(ops) < n {
			return nil, false
		}
		out := make([]float64, n)
		for i := range out {
			out[i] = num(len(ops) - n + i)
		}
		return out, true
	}
	lastString := func() (string, bool) {
		if len(ops) == 0 {
			return "", false
		}
		s, ok := ops[len(ops)-1].(pdfString)
		return string(s), ok
	}
	moveLine := func(tx, ty float64) {
		ts.tlm = translate(tx, ty).mul(ts.tlm)
		ts.tm = ts.tlm
	}
	for in.tokens > 0 && d.err == nil {
		in.tokens--
		t := lex.next()
		if t.kind == tokEOF {
			return
		}
		if t.kind != tokKeyword {
			v, err := lex.value(t, 0, false)
			if err != nil {
				ops = ops[:0]
				continue
			}
			if len(ops) >= maxOperandStack {
				ops = ops[:0] // operands without an operator: garbage
			}
			ops = append(ops, v)
			continue
		}
		switch t.str {
		case "q":
			if len(gstack) < maxGStateDepth {
				gstack = append(gstack, ctm)
			}
		case "Q":
			if len(gstack) > 0 {
				ctm = gstack[len(gstack)-1]
				gstack = gstack[:len(gstack)-1]
			}
		case "cm":
			if m, ok := nums(6); ok {
				ctm = matrix(m).mul(ctm)
			}
		case "BT":
			ts.tm, ts.tlm = identity, identity
		case "Tf":
			if len(ops) >= 2 {
				if name, ok := ops[len(ops)-2].(pdfName); ok {
					ts.font = in.font(res, name, local)
				}
				ts.size = num(len(ops) - 1)
			}
		case "Tc":
			ts.charSpace = num(len(ops) - 1)
		case "Tw":
			ts.wordSpace = num(len(ops) - 1)
		case "Tz":
			ts.hscale = num(len(ops)-1) / 100
		case "TL":
			ts.leading = num(len(ops) - 1)
		case "Td":
			if v, ok := nums(2); ok {
				moveLine(v[0], v[1])
			}
		case "TD":
			if v, ok := nums(2); ok {
				ts.leading = -v[1]
				moveLine(v[0], v[1])
			}
		case "Tm":
			if m, ok := nums(6); ok {
				ts.tm, ts.tlm = matrix(m), matrix(m)
			}
		case "T*":
			moveLine(0, -ts.leading)
		case "Tj":
			if s, ok := lastString(); ok {
				in.show(&ts, ctm, s)
			}
		case "'":
			moveLine(0, -ts.leading)
			if s, ok := lastString(); ok {
				in.show(&ts, ctm, s)
			}
		case "\"":
			if s, ok := lastString(); ok && len(ops) >= 3 {
				ts.wordSpace, ts.charSpace = num(len(ops)-3), num(len(ops)-2)
				moveLine(0, -ts.leading)
				in.show(&ts, ctm, s)
			}
		case "TJ":
			if len(ops) > 0 {
				arr, _ := ops[len(ops)-1].(pdfArray)
				for _, x := range arr {
					switch v := x.(type) {
					case pdfString:
						in.show(&ts, ctm, string(v))
					case float64:
						if finite(v) {
							ts.tm = translate(-v/1000*ts.size*ts.hscale, 0).mul(ts.tm)
						}
					}
				}
			}
		case "Do":
			if len(ops) > 0 && depth < maxFormDepth {
				if name, ok := ops[len(ops)-1].(pdfName); ok {
					in.form(res, name, ctm, depth)
				}
			}
		case "BI":
			skipInlineImage(&lex)
		case "BMC", "BDC":
			if len(marked) < maxGStateDepth {
				inner := ts.actual
				if t.str == "BDC" && len(ops) >= 2 {
					props := d.dict(ops[len(ops)-1])
					if name, ok := ops[len(ops)-1].(pdfName); ok {
						props = d.dict(d.dict(res["Properties"])[name])
					}
					if at, ok := d.resolve(props["ActualText"]).(pdfString); ok {
						inner = &actualText{text: pdfTextString(string(at))}
					}
				}
				marked = append(marked, inner)
				ts.actual = inner
			}
		case "EMC":
			if len(marked) > 0 {
				marked = marked[:len(marked)-1]
				ts.actual = nil
				if len(marked) > 0 {
					ts.actual = marked[len(marked)-1]
				}
			}
		}
		ops = ops[:0]
	}
}

// font returns the font that resource name selects. Fonts are loaded once
// per document, keyed by their dictionary, so a font shared by a thousand
// pages (or named a thousand times) costs one load.
func (in *pdfInterp) font(res pdfDict, name pdfName, local map[pdfName]*pdfFont) *pdfFont {
	if f, ok := local[name]; ok {
		return f
	}
	d := in.doc
	var f *pdfFont
	if fd := d.dict(d.dict(res["Font"])[name]); fd != nil {
		key := reflect.ValueOf(fd).Pointer()
		if f = in.fonts[key]; f == nil {
			f = d.loadFont(fd)
			in.fonts[key] = f
		}
	}
	local[name] = f
	return f
}

// form runs a form XObject (reused page parts such as headers, or whole
// pages imported by some writers), once per document.
func (in *pdfInterp) form(res pdfDict, name pdfName, ctm matrix, depth int) {
	d := in.doc
	s := d.stream(d.dict(res["XObject"])[name])
	if s == nil || !isName(d.resolve(s.dict["Subtype"]), "Form") || in.seen[s] {
		return
	}
	in.seen[s] = true
	content := d.decode(s)
	if content == nil {
		return
	}
	formRes := d.dict(s.dict["Resources"])
	if formRes == nil {
		formRes = res
	}
	if m := d.array(s.dict["Matrix"]); len(m) == 6 {
		var fm matrix
		for i := range fm {
			if v, ok := d.number(m[i]); ok && finite(v) {
				fm[i] = v
			}
		}
		ctm = fm.mul(ctm)
	}
	in.run(content, formRes, ctm, depth+1)
}

// skipInlineImage moves the lexer past an inline image (BI … ID data EI),
// whose binary data must not be read as operators.
func skipInlineImage(lex *pdfLexer) {
	for {
		t := lex.next()
		if t.kind == tokEOF {
			return
		}
		if t.kind == tokKeyword && t.str == "ID" {
			break
		}
	}
	lex.pos++ // the single white-space byte after ID
	for lex.pos < len(lex.data) {
		i := bytes.Index(lex.data[lex.pos:], []byte("EI"))
		if i < 0 {
			lex.pos = len(lex.data)
			return
		}
		at := lex.pos + i
		lex.pos = at + 2
		before := at == 0 || isPDFSpace(lex.data[at-1])
		after := lex.pos >= len(lex.data) || isPDFSpace(lex.data[lex.pos]) || isPDFDelim(lex.data[lex.pos])
		if before && after {
			return
		}
	}
	lex.pos = min(lex.pos, len(lex.data))
}
