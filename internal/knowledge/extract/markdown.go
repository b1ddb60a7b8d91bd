package extract

import (
	"html"
	"strings"
	"unicode"
)

// extractMarkdown reads CommonMark/GFM-style Markdown with a small line-based
// block parser: ATX and setext headings, paragraphs, list items, fenced and
// indented code, GFM tables and block quotes (read as their content). Inline
// markup is stripped to the text a reader sees. It is deliberately not a
// full CommonMark implementation: chunking only needs the structure.
func extractMarkdown(data []byte) Document {
	lines, fmTitle := skipFrontMatter(splitLines(string(data)))
	p := mdParser{lines: lines}
	p.parse()
	doc := Document{Blocks: p.blocks}
	for _, b := range p.blocks {
		if b.Kind == Heading && b.Level == 1 {
			doc.Title = b.Text
			break
		}
	}
	if doc.Title == "" {
		doc.Title = fmTitle
	}
	return doc
}

// skipFrontMatter drops a leading YAML front-matter block ("---" ... "---")
// and returns its title: field, which names the page in static-site sources.
func skipFrontMatter(lines []string) ([]string, string) {
	if len(lines) < 3 || strings.TrimSpace(lines[0]) != "---" {
		return lines, ""
	}
	title, keys := "", 0
	for i := 1; i < len(lines) && i < 200; i++ {
		line := lines[i]
		if t := strings.TrimSpace(line); t == "---" || t == "..." {
			if keys == 0 {
				return lines, "" // a thematic break, not front matter
			}
			return lines[i+1:], title
		}
		key, value, ok := strings.Cut(line, ":")
		if ok && key != "" && !strings.ContainsAny(key, " \t") {
			keys++
			if strings.EqualFold(key, "title") {
				title = strings.Trim(strings.TrimSpace(value), `"'`)
			}
		}
	}
	return lines, ""
}

type mdParser struct {
	lines  []string
	blocks []Block

	para     []string  // lines of the open paragraph or list item
	paraKind BlockKind // Paragraph or ListItem
	lastList bool      // the last block was a list item (and only blank lines since)

	indented []string // an open indented code block (may end in blank lines)

	inFence     bool
	fenceChar   byte
	fenceLen    int
	fenceIndent int
	fence       []string

	inComment bool
}

func (p *mdParser) parse() {
	for i := 0; i < len(p.lines); i++ {
		line := p.lines[i]
		if p.inFence {
			p.fenceLine(line)
			continue
		}
		line, commentOnly := p.stripComments(line)
		if commentOnly {
			p.flushPara()
			continue
		}
		line = stripQuoteMarkers(line)
		if isBlank(line) {
			p.flushPara()
			if p.indented != nil {
				p.indented = append(p.indented, "")
			}
			continue
		}
		indent := indentWidth(line)
		if p.indented != nil {
			if indent >= 4 {
				p.indented = append(p.indented, dropIndent(line, 4))
				continue
			}
			p.flushIndented()
		}
		if p.para != nil && p.paraKind == Paragraph && indent < 4 {
			if level := setextLevel(line); level > 0 {
				p.emit(Block{Kind: Heading, Level: level, Text: stripInline(strings.Join(p.para, "\n"))})
				p.para = nil
				continue
			}
		}
		if indent >= 4 && p.para == nil && !p.lastList {
			p.indented = []string{dropIndent(line, 4)}
			continue
		}
		trimmed := strings.TrimLeft(line, " \t")
		if indent < 4 {
			if c, n, ok := fenceOpen(trimmed); ok {
				p.flushPara()
				p.inFence, p.fenceChar, p.fenceLen, p.fenceIndent, p.fence = true, c, n, indent, nil
				continue
			}
			if level, text, ok := atxHeading(trimmed); ok {
				p.flushPara()
				p.emit(Block{Kind: Heading, Level: level, Text: stripInline(text)})
				continue
			}
			if isThematicBreak(trimmed) {
				p.flushPara()
				p.lastList = false
				continue
			}
		}
		if i+1 < len(p.lines) && strings.Contains(line, "|") {
			if next := stripQuoteMarkers(p.lines[i+1]); isTableDelimiter(next) && len(splitTableRow(line)) == len(splitTableRow(next)) {
				p.flushPara()
				i = p.table(i)
				continue
			}
		}
		if p.para == nil && indent < 4 && isLinkDefinition(trimmed) {
			continue // "[id]: https://…" defines a link target; it is not text
		}
		if item, ok := mdListItem(trimmed); ok && (indent < 4 || p.lastList || p.para != nil && p.paraKind == ListItem) {
			p.flushPara()
			p.para, p.paraKind = []string{item}, ListItem
			continue
		}
		if p.para == nil {
			p.paraKind = Paragraph
		}
		p.para = append(p.para, trimmed)
	}
	if p.inFence {
		p.emit(Block{Kind: Code, Text: strings.Join(p.fence, "\n")})
	}
	p.flushPara()
	p.flushIndented()
}

func (p *mdParser) emit(b Block) {
	p.blocks = append(p.blocks, b)
	p.lastList = b.Kind == ListItem
}

func (p *mdParser) flushPara() {
	if p.para != nil {
		p.emit(Block{Kind: p.paraKind, Text: stripInline(strings.Join(p.para, "\n"))})
		p.para = nil
	}
}

func (p *mdParser) flushIndented() {
	if p.indented != nil {
		p.emit(Block{Kind: Code, Text: strings.Join(p.indented, "\n")})
		p.indented = nil
	}
}

func (p *mdParser) fenceLine(line string) {
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) < 4 {
		n := 0
		for n < len(trimmed) && trimmed[n] == p.fenceChar {
			n++
		}
		if n >= p.fenceLen && strings.TrimSpace(trimmed[n:]) == "" {
			p.emit(Block{Kind: Code, Text: strings.Join(p.fence, "\n")})
			p.inFence, p.fence = false, nil
			return
		}
	}
	// Content lines lose up to the fence's own indentation, as CommonMark
	// says, so an indented fence does not indent all of its code.
	p.fence = append(p.fence, dropIndent(line, p.fenceIndent))
}

// stripComments removes HTML comments from a line, carrying an unterminated
// one over to the following lines. commentOnly says the line held nothing
// but comment, so it ends the paragraph like CommonMark's HTML block does.
func (p *mdParser) stripComments(line string) (string, bool) {
	if !p.inComment && !strings.Contains(line, "<!--") {
		return line, false
	}
	var b strings.Builder
	rest := line
	for rest != "" {
		if p.inComment {
			end := strings.Index(rest, "-->")
			if end < 0 {
				rest = ""
				break
			}
			rest = rest[end+3:]
			p.inComment = false
			continue
		}
		start := strings.Index(rest, "<!--")
		if start < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:start])
		rest = rest[start+4:]
		p.inComment = true
	}
	out := b.String()
	return out, isBlank(out)
}

// table reads a GFM table whose header row is at line i and returns the
// index of its last line. Each row becomes one line of cells joined by
// " | "; the delimiter row is dropped.
func (p *mdParser) table(i int) int {
	rows := []string{joinCells(splitTableRow(stripQuoteMarkers(p.lines[i])))}
	i++ // the delimiter row
	for i+1 < len(p.lines) {
		next := stripQuoteMarkers(p.lines[i+1])
		if isBlank(next) || !strings.Contains(next, "|") {
			break
		}
		rows = append(rows, joinCells(splitTableRow(next)))
		i++
	}
	p.emit(Block{Kind: Table, Text: strings.Join(rows, "\n")})
	return i
}

func joinCells(cells []string) string {
	for i, c := range cells {
		cells[i] = collapseSpace(stripInline(c))
	}
	return strings.Join(cells, " | ")
}

// splitTableRow splits a row on unescaped pipes, dropping the optional
// leading and trailing pipe.
func splitTableRow(line string) []string {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '|':
			cells = append(cells, s[start:i])
			start = i + 1
		}
	}
	return append(cells, s[start:])
}

func isTableDelimiter(line string) bool {
	cells := splitTableRow(line)
	for _, c := range cells {
		c = strings.TrimSpace(c)
		c = strings.TrimPrefix(c, ":")
		c = strings.TrimSuffix(c, ":")
		if c == "" || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return strings.Contains(line, "-")
}

// stripQuoteMarkers drops block-quote markers: a quote is read as its
// content.
func stripQuoteMarkers(line string) string {
	for {
		t := strings.TrimLeft(line, " ")
		if len(line)-len(t) > 3 || !strings.HasPrefix(t, ">") {
			return line
		}
		line = strings.TrimPrefix(t[1:], " ")
	}
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// indentWidth counts leading columns, a tab reaching the next multiple of 4.
func indentWidth(s string) int {
	w := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			w++
		case '\t':
			w += 4 - w%4
		default:
			return w
		}
	}
	return w
}

// dropIndent removes up to n columns of leading indentation.
func dropIndent(s string, n int) string {
	w := 0
	for i := 0; i < len(s); i++ {
		if w >= n {
			return s[i:]
		}
		switch s[i] {
		case ' ':
			w++
		case '\t':
			w += 4 - w%4
			if w > n {
				return strings.Repeat(" ", w-n) + s[i+1:]
			}
		default:
			return s[i:]
		}
	}
	return ""
}

func fenceOpen(s string) (char byte, n int, ok bool) {
	if s == "" || s[0] != '`' && s[0] != '~' {
		return 0, 0, false
	}
	for n < len(s) && s[n] == s[0] {
		n++
	}
	if n < 3 || s[0] == '`' && strings.Contains(s[n:], "`") {
		return 0, 0, false
	}
	return s[0], n, true
}

func atxHeading(s string) (level int, text string, ok bool) {
	for level < len(s) && s[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || level < len(s) && s[level] != ' ' && s[level] != '\t' {
		return 0, "", false
	}
	text = strings.TrimSpace(s[level:])
	// An optional closing sequence of #s goes, if a space precedes it.
	if t := strings.TrimRight(text, "#"); t != text && (t == "" || strings.HasSuffix(t, " ") || strings.HasSuffix(t, "\t")) {
		text = strings.TrimSpace(t)
	}
	return level, text, true
}

func setextLevel(line string) int {
	t := strings.TrimSpace(line)
	switch {
	case t == "":
		return 0
	case strings.Trim(t, "=") == "":
		return 1
	case strings.Trim(t, "-") == "":
		return 2
	}
	return 0
}

func isThematicBreak(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || s[0] != '-' && s[0] != '*' && s[0] != '_' {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case s[0]:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

// mdListItem reports whether s (already without indentation) starts a list
// item and returns its inline-stripped text; a task-list checkbox goes.
func mdListItem(s string) (string, bool) {
	var rest string
	switch {
	case len(s) >= 1 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (len(s) == 1 || s[1] == ' ' || s[1] == '\t'):
		rest = strings.TrimSpace(s[1:])
		for _, box := range []string{"[ ] ", "[x] ", "[X] "} {
			rest = strings.TrimPrefix(rest, box)
		}
	case orderedMarkerLen(s) > 0:
		rest = s // the number stays: see listItemText
	default:
		return "", false
	}
	return stripInline(rest), true
}

// inlineUnit is one rune of inline text; lit marks a rune that is literal
// text (inside a code span or backslash-escaped) and never markup.
type inlineUnit struct {
	r   rune
	lit bool
}

// stripInline removes inline Markdown markup: emphasis and strikethrough
// delimiters, code-span backticks, link and image syntax (keeping the link
// text and the image alt text), autolink brackets and inline HTML tags.
// Every step is linear in the input so hostile text cannot make it slow.
func stripInline(s string) string {
	if !strings.ContainsAny(s, "\\`*_~[]<&") {
		return s
	}
	units := inlineUnits([]rune(s))
	n := len(units)
	skip := make([]bool, n)
	brackets := matchPairs(units, '[', ']')
	parens := matchPairs(units, '(', ')')
	markup := func(i int, r rune) bool { return i >= 0 && i < n && !units[i].lit && units[i].r == r }
	for i := 0; i < n; i++ {
		if skip[i] || !markup(i, '[') || brackets[i] < 0 {
			continue
		}
		closeAt, end := int(brackets[i]), -1
		switch after := closeAt + 1; {
		case markup(after, '(') && parens[after] >= 0:
			end = int(parens[after]) // [text](url "title")
		case markup(after, '[') && brackets[after] >= 0:
			end = int(brackets[after]) // [text][ref]
		default:
			continue // [text] alone stays as it is
		}
		skip[i] = true
		if markup(i-1, '!') {
			skip[i-1] = true
		}
		for j := closeAt; j <= end; j++ {
			skip[j] = true
		}
	}
	for i := 0; i < n; i++ {
		if skip[i] || !markup(i, '<') {
			continue
		}
		stripAngle(units, skip, i)
	}
	removeEmphasis(units, skip)
	// Entities ("&amp;", "&#8212;") are decoded in text, not in code spans.
	var b, text strings.Builder
	flushText := func() {
		b.WriteString(html.UnescapeString(text.String()))
		text.Reset()
	}
	for i, u := range units {
		switch {
		case skip[i]:
		case u.lit:
			flushText()
			b.WriteRune(u.r)
		default:
			text.WriteRune(u.r)
		}
	}
	flushText()
	return b.String()
}

// inlineUnits resolves backslash escapes and code spans, whose content is
// literal. A backtick run opens a code span only if a later run of the same
// length closes it; the runs are indexed by length so that the search stays
// linear.
func inlineUnits(rs []rune) []inlineUnit {
	type run struct{ start, end int }
	var runs []run
	starts := map[int]int{}
	for i := 0; i < len(rs); {
		switch {
		case rs[i] == '\\' && i+1 < len(rs) && (isASCIIPunct(rs[i+1]) || rs[i+1] == '\n'):
			i += 2
		case rs[i] == '`':
			j := i
			for j < len(rs) && rs[j] == '`' {
				j++
			}
			starts[i] = len(runs)
			runs = append(runs, run{i, j})
			i = j
		default:
			i++
		}
	}
	byLen := map[int][]int{}
	for k, r := range runs {
		byLen[r.end-r.start] = append(byLen[r.end-r.start], k)
	}
	cursor := map[int]int{}
	units := make([]inlineUnit, 0, len(rs))
	for i := 0; i < len(rs); {
		r := rs[i]
		if r == '\\' && i+1 < len(rs) && (isASCIIPunct(rs[i+1]) || rs[i+1] == '\n') {
			units = append(units, inlineUnit{rs[i+1], true})
			i += 2
			continue
		}
		k, isRun := starts[i]
		if r != '`' || !isRun {
			units = append(units, inlineUnit{r, false})
			i++
			continue
		}
		open := runs[k]
		length := open.end - open.start
		same := byLen[length]
		c := cursor[length]
		for c < len(same) && same[c] <= k {
			c++
		}
		cursor[length] = c
		if c == len(same) {
			// No closing run: the backticks are literal text.
			for j := open.start; j < open.end; j++ {
				units = append(units, inlineUnit{'`', true})
			}
			i = open.end
			continue
		}
		closing := runs[same[c]]
		content := rs[open.end:closing.start]
		if len(content) >= 2 && content[0] == ' ' && content[len(content)-1] == ' ' {
			content = content[1 : len(content)-1]
		}
		for _, cr := range content {
			if cr == '\n' {
				cr = ' '
			}
			units = append(units, inlineUnit{cr, true})
		}
		// Runs inside the span are consumed: later searches only look at
		// runs after the current one.
		i = closing.end
	}
	return units
}

// matchPairs matches open/close markup runes like a stack would; entries
// are the index of the partner or -1.
func matchPairs(units []inlineUnit, open, closing rune) []int32 {
	match := make([]int32, len(units))
	var stack []int32
	for i, u := range units {
		match[i] = -1
		if u.lit {
			continue
		}
		switch u.r {
		case open:
			stack = append(stack, int32(i))
		case closing:
			if len(stack) > 0 {
				j := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				match[i], match[j] = j, int32(i)
			}
		}
	}
	return match
}

// stripAngle handles a '<' at i: an autolink keeps its address without the
// brackets, an inline HTML tag goes entirely, anything else stays.
func stripAngle(units []inlineUnit, skip []bool, i int) {
	end := -1
	for j := i + 1; j < len(units) && j < i+256; j++ {
		if units[j].lit || skip[j] || units[j].r == '<' || units[j].r == '\n' {
			return
		}
		if units[j].r == '>' {
			end = j
			break
		}
	}
	if end < 0 {
		return
	}
	inner := make([]rune, 0, end-i-1)
	for _, u := range units[i+1 : end] {
		inner = append(inner, u.r)
	}
	s := string(inner)
	switch {
	case isAutolink(s):
		skip[i], skip[end] = true, true
	case isTagLike(s):
		for j := i; j <= end; j++ {
			skip[j] = true
		}
	}
}

func isAutolink(s string) bool {
	if strings.ContainsAny(s, " \t") {
		return false
	}
	scheme, _, ok := strings.Cut(s, ":")
	if ok && len(scheme) >= 2 && len(scheme) <= 32 && isLetters(scheme) {
		return true
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".")
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isASCIIAlnum(s[i]) && s[i] != '+' && s[i] != '.' && s[i] != '-' {
			return false
		}
	}
	return true
}

// isTagLike says whether s (between < and >) is an HTML tag: an optional
// slash, a letter, then name characters up to a space, a slash or the end.
func isTagLike(s string) bool {
	s = strings.TrimPrefix(s, "/")
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '/' {
			return true
		}
		if !isASCIIAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// removeEmphasis pairs emphasis delimiter runs (*, _ and ~) the way
// CommonMark's flanking rules roughly do and drops the paired runs; an
// unpaired run is literal text ("2 * 3", snake_case).
func removeEmphasis(units []inlineUnit, skip []bool) {
	type delim struct {
		start, end int
	}
	stacks := map[rune][]delim{}
	// The neighbour searches look past skipped link syntax, within a bound
	// so that many runs next to one long link cannot make this quadratic.
	const reach = 64
	prevVisible := func(i int) rune {
		for j := i - 1; j >= 0 && j >= i-reach; j-- {
			if !skip[j] {
				return units[j].r
			}
		}
		return ' '
	}
	nextVisible := func(i int) rune {
		for j := i; j < len(units) && j < i+reach; j++ {
			if !skip[j] {
				return units[j].r
			}
		}
		return ' '
	}
	for i := 0; i < len(units); {
		u := units[i]
		if skip[i] || u.lit || u.r != '*' && u.r != '_' && u.r != '~' {
			i++
			continue
		}
		j := i
		for j < len(units) && !skip[j] && !units[j].lit && units[j].r == u.r {
			j++
		}
		before, after := prevVisible(i), nextVisible(j)
		spaceBefore, spaceAfter := unicode.IsSpace(before), unicode.IsSpace(after)
		punctBefore, punctAfter := isPunct(before), isPunct(after)
		left := !spaceAfter && (!punctAfter || spaceBefore || punctBefore)
		right := !spaceBefore && (!punctBefore || spaceAfter || punctAfter)
		canOpen, canClose := left, right
		if u.r == '_' {
			canOpen = left && (!right || punctBefore)
			canClose = right && (!left || punctAfter)
		}
		if u.r == '~' && j-i > 2 {
			canOpen, canClose = false, false
		}
		if st := stacks[u.r]; canClose && len(st) > 0 {
			open := st[len(st)-1]
			stacks[u.r] = st[:len(st)-1]
			for k := open.start; k < open.end; k++ {
				skip[k] = true
			}
			for k := i; k < j; k++ {
				skip[k] = true
			}
		} else if canOpen {
			stacks[u.r] = append(stacks[u.r], delim{i, j})
		}
		i = j
	}
}

func isPunct(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }

func isASCIIPunct(r rune) bool {
	return r < 0x80 && r > ' ' && !isASCIIAlnum(byte(r)) && r != 0x7f
}

// isLinkDefinition says whether s is a link reference definition:
// "[label]: destination".
func isLinkDefinition(s string) bool {
	if !strings.HasPrefix(s, "[") {
		return false
	}
	end := strings.Index(s, "]:")
	return end > 1 && !strings.Contains(s[1:end], "]") && strings.TrimSpace(s[end+2:]) != ""
}
