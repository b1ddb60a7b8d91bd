package extract

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file maps the bytes of PDF text strings to Unicode: ToUnicode CMaps
// first (what every modern writer embeds), then the simple-font encodings
// (WinAnsi, MacRoman, Standard, with /Differences glyph names). It also
// knows glyph widths, which tell where a string ends so that the layout code
// can see the gaps between words.

const (
	maxCMapEntries = 1 << 18
	maxWidthRanges = 32
	maxCodeRanges  = 16 // codespace ranges; real CMaps have a handful
)

type codeRange struct {
	n      int
	lo, hi [4]byte
}

// toUnicode is a parsed ToUnicode CMap.
type toUnicode struct {
	space []codeRange
	m     map[uint64]string // key: code length << 32 | code
}

func cmapKey(code []byte) uint64 {
	var v uint64
	for _, c := range code {
		v = v<<8 | uint64(c)
	}
	return uint64(len(code))<<32 | v
}

// parseToUnicode reads the codespace ranges and bfchar/bfrange mappings of
// a CMap. A bfrange spans at most 256 codes (its ends may differ only in the
// last byte), which bounds the expansion together with maxCMapEntries.
func parseToUnicode(data []byte) *toUnicode {
	cm := &toUnicode{m: map[uint64]string{}}
	l := pdfLexer{data: data}
	readUntil := func(end string, per int, fn func([]any)) {
		var group []any
		for {
			t := l.next()
			if t.kind == tokEOF || t.kind == tokKeyword && t.str == end {
				return
			}
			v, err := l.value(t, 0, false)
			if err != nil {
				return
			}
			group = append(group, v)
			if len(group) == per {
				fn(group)
				group = group[:0]
			}
		}
	}
	for {
		t := l.next()
		if t.kind == tokEOF {
			return cm
		}
		if t.kind != tokKeyword {
			continue
		}
		switch t.str {
		case "begincodespacerange":
			readUntil("endcodespacerange", 2, func(g []any) {
				lo, ok1 := g[0].(pdfString)
				hi, ok2 := g[1].(pdfString)
				if ok1 && ok2 && len(lo) == len(hi) && len(lo) >= 1 && len(lo) <= 4 && len(cm.space) < maxCodeRanges {
					r := codeRange{n: len(lo)}
					copy(r.lo[:], lo)
					copy(r.hi[:], hi)
					cm.space = append(cm.space, r)
				}
			})
		case "beginbfchar":
			readUntil("endbfchar", 2, func(g []any) {
				src, ok := g[0].(pdfString)
				if !ok || len(src) == 0 || len(src) > 4 || len(cm.m) >= maxCMapEntries {
					return
				}
				switch dst := g[1].(type) {
				case pdfString:
					cm.m[cmapKey([]byte(src))] = utf16BE([]byte(dst))
				case pdfName:
					cm.m[cmapKey([]byte(src))] = glyphText(string(dst))
				}
			})
		case "beginbfrange":
			readUntil("endbfrange", 3, func(g []any) { cm.addRange(g) })
		}
	}
}

func (cm *toUnicode) addRange(g []any) {
	lo, ok1 := g[0].(pdfString)
	hi, ok2 := g[1].(pdfString)
	if !ok1 || !ok2 || len(lo) != len(hi) || len(lo) == 0 || len(lo) > 4 {
		return
	}
	n := len(lo)
	last := int(hi[n-1]) - int(lo[n-1])
	if last < 0 || lo[:n-1] != hi[:n-1] {
		return
	}
	code := []byte(lo)
	for k := 0; k <= last && len(cm.m) < maxCMapEntries; k++ {
		code[n-1] = lo[n-1] + byte(k)
		switch dst := g[2].(type) {
		case pdfString:
			if len(dst) < 2 {
				continue
			}
			// The destination's last UTF-16 unit counts up with the code.
			u := []byte(dst)
			units := make([]byte, len(u))
			copy(units, u)
			tail := binary.BigEndian.Uint16(units[len(units)-2:]) + uint16(k)
			binary.BigEndian.PutUint16(units[len(units)-2:], tail)
			cm.m[cmapKey(code)] = utf16BE(units)
		case pdfArray:
			if k < len(dst) {
				if s, ok := dst[k].(pdfString); ok {
					cm.m[cmapKey(code)] = utf16BE([]byte(s))
				}
			}
		}
	}
}

// utf16BE decodes big-endian UTF-16 (an odd trailing byte is dropped).
func utf16BE(b []byte) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(units))
}

type widthRange struct {
	lo, hi uint32
	w      float64
}

// pdfFont is what we need of a font to read its strings.
type pdfFont struct {
	uni      *toUnicode
	simple   bool
	enc      [256]string // simple fonts: the text of each code
	ucs2     bool        // Type0 with a UCS-2 encoding: codes are UTF-16 units
	widths   map[uint32]float64
	wranges  []widthRange
	dw       float64 // default glyph width, in glyph units
	scale    float64 // glyph units to text space (1/1000, or a Type3 FontMatrix)
	twoBytes bool
	bold     bool // the font looks bold: a hint for headings
}

// glyph is one character code of a shown string.
type glyph struct {
	text  string
	width float64 // in text space units per unit of font size
	space bool    // a single-byte code 32, which word spacing applies to
}

// each calls fn for every character code of s.
func (f *pdfFont) each(s string, fn func(glyph)) {
	b := []byte(s)
	for len(b) > 0 {
		n := f.codeLen(b)
		code := b[:n]
		b = b[n:]
		var v uint32
		for _, c := range code {
			v = v<<8 | uint32(c)
		}
		g := glyph{width: f.width(v) * f.scale, space: n == 1 && v == 32}
		if t, ok := f.uni.lookup(code); ok {
			g.text = t
		} else if f.simple && n == 1 {
			g.text = f.enc[v]
		} else if f.ucs2 && n == 2 {
			g.text = string(rune(v))
		}
		fn(g)
	}
}

func (cm *toUnicode) lookup(code []byte) (string, bool) {
	if cm == nil {
		return "", false
	}
	t, ok := cm.m[cmapKey(code)]
	return t, ok
}

// codeLen returns the byte length of the code at the start of b, from the
// CMap's codespace ranges when it has them.
func (f *pdfFont) codeLen(b []byte) int {
	if f.uni != nil && len(f.uni.space) > 0 {
		for n := 1; n <= 4 && n <= len(b); n++ {
			for _, r := range f.uni.space {
				if r.n == n && inRange(b[:n], r) {
					return n
				}
			}
		}
		shortest := 4
		for _, r := range f.uni.space {
			shortest = min(shortest, r.n)
		}
		return min(shortest, len(b))
	}
	if f.twoBytes && len(b) >= 2 {
		return 2
	}
	return 1
}

func inRange(code []byte, r codeRange) bool {
	for i, c := range code {
		if c < r.lo[i] || c > r.hi[i] {
			return false
		}
	}
	return true
}

func (f *pdfFont) width(code uint32) float64 {
	if w, ok := f.widths[code]; ok {
		return w
	}
	for _, r := range f.wranges {
		if code >= r.lo && code <= r.hi {
			return r.w
		}
	}
	return f.dw
}

// loadFont reads a font dictionary.
func (d *pdfDoc) loadFont(fd pdfDict) *pdfFont {
	f := &pdfFont{scale: 0.001, widths: map[uint32]float64{}, bold: d.fontIsBold(fd)}
	if s := d.stream(fd["ToUnicode"]); s != nil {
		// Many fonts may share one CMap stream: parse it once.
		if cm, ok := d.cmaps[s]; ok {
			f.uni = cm
		} else if data := d.decode(s); data != nil {
			f.uni = parseToUnicode(data)
			d.cmaps[s] = f.uni
		}
	}
	subtype := d.name(fd["Subtype"])
	if subtype == "Type0" {
		f.twoBytes, f.dw = true, 1000
		enc := string(d.name(fd["Encoding"]))
		f.ucs2 = strings.Contains(enc, "UCS2") || strings.Contains(enc, "UTF16")
		if desc := d.array(fd["DescendantFonts"]); len(desc) > 0 {
			df := d.dict(desc[0])
			if dw, ok := d.number(df["DW"]); ok && finite(dw) {
				f.dw = dw
			}
			d.readCIDWidths(f, d.array(df["W"]))
		}
		return f
	}
	f.simple, f.dw = true, 500
	if subtype == "Type3" {
		if m := d.array(fd["FontMatrix"]); len(m) == 6 {
			if a, ok := d.number(m[0]); ok && finite(a) {
				f.scale = math.Abs(a)
			}
		}
		f.dw = 0
	}
	f.enc = standardText
	if d.name(fd["Subtype"]) == "TrueType" {
		// TrueType fonts without an encoding are mostly WinAnsi in
		// practice (Windows writers).
		f.enc = winAnsiText
	}
	switch e := d.resolve(fd["Encoding"]).(type) {
	case pdfName:
		f.enc = baseEncoding(string(e), f.enc)
	case pdfDict:
		f.enc = baseEncoding(string(d.name(e["BaseEncoding"])), f.enc)
		code := -1
		for _, x := range d.array(e["Differences"]) {
			switch v := d.resolve(x).(type) {
			case float64:
				code = -1
				if v >= 0 && v < 256 {
					code = int(v)
				}
			case pdfName:
				if code >= 0 && code < 256 {
					if t := glyphText(string(v)); t != "" {
						f.enc[code] = t
					}
					code++
				}
			}
		}
	}
	first, _ := d.number(fd["FirstChar"])
	for i, w := range d.array(fd["Widths"]) {
		if i >= 256 {
			break
		}
		if v, ok := d.number(w); ok && finite(v) && first >= 0 && first < 256 {
			f.widths[uint32(int(first)+i)] = v
		}
	}
	if desc := d.dict(fd["FontDescriptor"]); desc != nil {
		if mw, ok := d.number(desc["MissingWidth"]); ok && finite(mw) && mw > 0 {
			f.dw = mw
		}
	}
	return f
}

// readCIDWidths reads a /W array: "c [w1 w2 …]" gives consecutive widths,
// "cfirst clast w" one width for a range.
func (d *pdfDoc) readCIDWidths(f *pdfFont, w pdfArray) {
	for i := 0; i < len(w) && len(f.widths) < maxCMapEntries; {
		c, ok := d.number(w[i])
		if !ok || c < 0 || c > math.MaxUint32 {
			return
		}
		if i+1 >= len(w) {
			return
		}
		if arr := d.array(w[i+1]); arr != nil {
			for k, x := range arr {
				if v, ok := d.number(x); ok && finite(v) && len(f.widths) < maxCMapEntries {
					f.widths[uint32(c)+uint32(k)] = v
				}
			}
			i += 2
			continue
		}
		if i+2 >= len(w) {
			return
		}
		last, ok1 := d.number(w[i+1])
		v, ok2 := d.number(w[i+2])
		if ok1 && ok2 && finite(v) && last >= c && last <= math.MaxUint32 && len(f.wranges) < maxWidthRanges {
			f.wranges = append(f.wranges, widthRange{uint32(c), uint32(last), v})
		}
		i += 3
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func baseEncoding(name string, fallback [256]string) [256]string {
	switch name {
	case "WinAnsiEncoding":
		return winAnsiText
	case "MacRomanEncoding":
		return macRomanText
	case "StandardEncoding":
		return standardText
	}
	return fallback
}

// glyphText maps a glyph name to its text: the names the simple encodings
// use, "uniXXXX" and "uXXXX[XX]" forms, suffixes such as ".sc" dropped and
// ligatures written with underscores ("f_i").
func glyphText(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if t, ok := glyphNames[name]; ok {
		return t
	}
	if strings.Contains(name, "_") {
		var b strings.Builder
		for _, part := range strings.Split(name, "_") {
			b.WriteString(glyphText(part))
		}
		return b.String()
	}
	if hexs, ok := strings.CutPrefix(name, "uni"); ok && len(hexs) >= 4 && len(hexs)%4 == 0 {
		var b strings.Builder
		for i := 0; i+4 <= len(hexs) && i < 64; i += 4 {
			v, err := strconv.ParseUint(hexs[i:i+4], 16, 32)
			if err != nil {
				return ""
			}
			b.WriteRune(rune(v))
		}
		return b.String()
	}
	if hexs, ok := strings.CutPrefix(name, "u"); ok && len(hexs) >= 4 && len(hexs) <= 6 {
		if v, err := strconv.ParseUint(hexs, 16, 32); err == nil && utf8.ValidRune(rune(v)) {
			return string(rune(v))
		}
	}
	return ""
}

// pdfTextString decodes a text string outside content streams (the
// document title): UTF-16BE or UTF-8 with a byte-order mark, else
// PDFDocEncoding.
func pdfTextString(s string) string {
	switch {
	case strings.HasPrefix(s, "\xfe\xff"):
		return utf16BE([]byte(s[2:]))
	case strings.HasPrefix(s, "\xef\xbb\xbf"):
		return strings.ToValidUTF8(s[3:], "")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80 && c < 0xA0:
			b.WriteString(string(pdfDocHigh[c-0x80]))
		case c == 0xA0:
			b.WriteRune('€')
		default:
			b.WriteRune(rune(c))
		}
	}
	return b.String()
}

// pdfDocHigh is PDFDocEncoding for 0x80..0x9F.
var pdfDocHigh = []rune("•†‡…—–ƒ⁄‹›−‰„“”‘’‚™ﬁﬂŁŒŠŸŽıłœšž\ufffd")

var (
	winAnsiText  [256]string
	macRomanText [256]string
	standardText [256]string
	glyphNames   = map[string]string{}
)

// asciiGlyphNames are the glyph names of 0x20..0x7E in order.
var asciiGlyphNames = strings.Fields(`space exclam quotedbl numbersign dollar percent ampersand quotesingle
parenleft parenright asterisk plus comma hyphen period slash zero one two three four five six seven
eight nine colon semicolon less equal greater question at A B C D E F G H I J K L M N O P Q R S T U V
W X Y Z bracketleft backslash bracketright asciicircum underscore grave a b c d e f g h i j k l m n o
p q r s t u v w x y z braceleft bar braceright asciitilde`)

// latin1GlyphNames are the glyph names of 0xA0..0xFF in order.
var latin1GlyphNames = strings.Fields(`nbspace exclamdown cent sterling currency yen brokenbar section
dieresis copyright ordfeminine guillemotleft logicalnot sfthyphen registered macron degree plusminus
twosuperior threesuperior acute mu paragraph periodcentered cedilla onesuperior ordmasculine
guillemotright onequarter onehalf threequarters questiondown Agrave Aacute Acircumflex Atilde
Adieresis Aring AE Ccedilla Egrave Eacute Ecircumflex Edieresis Igrave Iacute Icircumflex Idieresis
Eth Ntilde Ograve Oacute Ocircumflex Otilde Odieresis multiply Oslash Ugrave Uacute Ucircumflex
Udieresis Yacute Thorn germandbls agrave aacute acircumflex atilde adieresis aring ae ccedilla egrave
eacute ecircumflex edieresis igrave iacute icircumflex idieresis eth ntilde ograve oacute ocircumflex
otilde odieresis divide oslash ugrave uacute ucircumflex udieresis yacute thorn ydieresis`)

// cp1252High is WinAnsiEncoding for 0x80..0x9F ('\x00' = undefined).
var cp1252High = []rune("€\x00‚ƒ„…†‡ˆ‰Š‹Œ\x00Ž\x00\x00‘’“”•–—˜™š›œ\x00žŸ")

// macRomanHigh is MacRomanEncoding for 0x80..0xFF.
var macRomanHigh = []rune("ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø" +
	"¿¡¬√ƒ≈∆«»… ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\uf8ffÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ")

// standardHigh is StandardEncoding above 0x7E, by code.
var standardHigh = map[byte]rune{
	0xA1: '¡', 0xA2: '¢', 0xA3: '£', 0xA4: '⁄', 0xA5: '¥', 0xA6: 'ƒ', 0xA7: '§', 0xA8: '¤', 0xA9: '\'',
	0xAA: '“', 0xAB: '«', 0xAC: '‹', 0xAD: '›', 0xAE: 'ﬁ', 0xAF: 'ﬂ', 0xB1: '–', 0xB2: '†', 0xB3: '‡',
	0xB4: '·', 0xB6: '¶', 0xB7: '•', 0xB8: '‚', 0xB9: '„', 0xBA: '”', 0xBB: '»', 0xBC: '…', 0xBD: '‰',
	0xBF: '¿', 0xC1: '`', 0xC2: '´', 0xC3: 'ˆ', 0xC4: '˜', 0xC5: '¯', 0xC6: '˘', 0xC7: '˙', 0xC8: '¨',
	0xCA: '˚', 0xCB: '¸', 0xCD: '˝', 0xCE: '˛', 0xCF: 'ˇ', 0xD0: '—', 0xE1: 'Æ', 0xE3: 'ª', 0xE8: 'Ł',
	0xE9: 'Ø', 0xEA: 'Œ', 0xEB: 'º', 0xF1: 'æ', 0xF5: 'ı', 0xF8: 'ł', 0xF9: 'ø', 0xFA: 'œ', 0xFB: 'ß',
}

// extraGlyphNames covers the names outside ASCII and Latin-1 that text
// fonts commonly use.
var extraGlyphNames = map[string]rune{
	"quoteright": '’', "quoteleft": '‘', "quotedblleft": '“', "quotedblright": '”', "quotesinglbase": '‚',
	"quotedblbase": '„', "bullet": '•', "endash": '–', "emdash": '—', "ellipsis": '…', "dagger": '†',
	"daggerdbl": '‡', "perthousand": '‰', "trademark": '™', "minus": '−', "fraction": '⁄', "florin": 'ƒ',
	"guilsinglleft": '‹', "guilsinglright": '›', "OE": 'Œ', "oe": 'œ', "Scaron": 'Š', "scaron": 'š',
	"Zcaron": 'Ž', "zcaron": 'ž', "Ydieresis": 'Ÿ', "Euro": '€', "dotlessi": 'ı', "Lslash": 'Ł',
	"lslash": 'ł', "circumflex": 'ˆ', "tilde": '˜', "caron": 'ˇ', "breve": '˘', "dotaccent": '˙',
	"ring": '˚', "ogonek": '˛', "hungarumlaut": '˝', "nonbreakingspace": ' ', "middot": '·',
	"approxequal": '≈', "notequal": '≠', "lessequal": '≤', "greaterequal": '≥', "infinity": '∞',
	"arrowright": '→', "arrowleft": '←', "checkmark": '✓', "fi": 'ﬁ', "fl": 'ﬂ', "ff": 'ﬀ', "ffi": 'ﬃ',
	"ffl": 'ﬄ',
}

func init() {
	for i, name := range asciiGlyphNames {
		glyphNames[name] = string(rune(0x20 + i))
	}
	for i, name := range latin1GlyphNames {
		glyphNames[name] = string(rune(0xA0 + i))
	}
	glyphNames["nbspace"], glyphNames["sfthyphen"] = " ", "-"
	for name, r := range extraGlyphNames {
		glyphNames[name] = string(r)
	}
	for c := 0x20; c < 0x7F; c++ {
		winAnsiText[c], macRomanText[c], standardText[c] = string(rune(c)), string(rune(c)), string(rune(c))
	}
	standardText['\''], standardText['`'] = "’", "‘"
	for c := 0x80; c < 0x100; c++ {
		switch {
		case c < 0xA0:
			if r := cp1252High[c-0x80]; r != 0 {
				winAnsiText[c] = string(r)
			}
		case c == 0xA0:
			winAnsiText[c] = " "
		case c == 0xAD:
			winAnsiText[c] = "-"
		default:
			winAnsiText[c] = string(rune(c))
		}
		macRomanText[c] = string(macRomanHigh[c-0x80])
		if r, ok := standardHigh[byte(c)]; ok {
			standardText[c] = string(r)
		}
	}
	// Codes below space: tabs and line breaks sometimes appear in strings.
	for _, enc := range []*[256]string{&winAnsiText, &macRomanText, &standardText} {
		enc['\t'], enc['\n'], enc['\r'] = " ", " ", " "
	}
}

// fontIsBold guesses boldness from the font name, the descriptor's weight
// or its ForceBold flag.
func (d *pdfDoc) fontIsBold(fd pdfDict) bool {
	name := string(d.name(fd["BaseFont"]))
	desc := d.dict(fd["FontDescriptor"])
	if desc == nil {
		if df := d.array(fd["DescendantFonts"]); len(df) > 0 {
			desc = d.dict(d.dict(df[0])["FontDescriptor"])
		}
	}
	if w, ok := d.number(desc["FontWeight"]); ok && w >= 600 {
		return true
	}
	if flags, ok := d.number(desc["Flags"]); ok && flags >= 0 && flags < 1<<32 && uint32(flags)&(1<<18) != 0 {
		return true
	}
	lower := strings.ToLower(name)
	for _, w := range []string{"bold", "black", "heavy", "semibold", "demi"} {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
