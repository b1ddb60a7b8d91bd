package extract

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxHTMLDepth bounds the recursive walk; deeper subtrees (hostile or
// generated markup) are read as flat text with an explicit stack instead.
const maxHTMLDepth = 100

// extractHTML reads an HTML page. Site chrome (navigation, page header and
// footer, scripts, hidden elements) is skipped, and when the page marks its
// content with <main> or <article> only that is read.
func extractHTML(data []byte) Document {
	root, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		// The parser refuses markup nested deeper than 512 elements (its
		// reader cannot fail); such a page is still read, flat.
		return extractHTMLTokens(data)
	}
	var doc Document
	isTitle := func(n *html.Node) bool {
		// Only the document's own title: an <svg> may hold a <title> too.
		return n.DataAtom == atom.Title && n.Parent != nil && n.Parent.DataAtom == atom.Head
	}
	if t := findFirst(root, isTitle, false); t != nil {
		doc.Title = collectText(t, false)
	}
	w := htmlWalker{kind: Paragraph}
	roots := contentRoots(root)
	if roots == nil {
		w.chrome = true // no main/article: skip header and footer
		roots = []*html.Node{root}
	}
	for _, r := range roots {
		w.walk(r, 0)
		w.flush()
	}
	doc.Blocks = w.blocks
	if doc.Title == "" {
		for _, b := range doc.Blocks {
			if b.Kind == Heading && b.Level == 1 {
				doc.Title = b.Text
				break
			}
		}
	}
	return doc
}

// contentRoots returns the first <main>, else every outermost <article>,
// else nil (read the whole body).
func contentRoots(root *html.Node) []*html.Node {
	if m := findFirst(root, func(n *html.Node) bool { return n.DataAtom == atom.Main }, true); m != nil {
		return []*html.Node{m}
	}
	var articles []*html.Node
	stack := []*html.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Type == html.ElementNode && (skippedElement(n, false) || n.DataAtom == atom.Article) {
			if n.DataAtom == atom.Article && !skippedElement(n, false) {
				articles = append(articles, n)
			}
			continue
		}
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, c)
		}
	}
	return articles
}

// findFirst returns the first element in document order that matches,
// without looking inside skipped elements when visibleOnly is set.
func findFirst(root *html.Node, match func(*html.Node) bool, visibleOnly bool) *html.Node {
	stack := []*html.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Type == html.ElementNode {
			if visibleOnly && skippedElement(n, false) {
				continue
			}
			if match(n) {
				return n
			}
		}
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, c)
		}
	}
	return nil
}

// skippedElement says whether an element holds no readable content: code,
// embedded objects, navigation, controls and anything hidden. chrome adds
// the page header and footer, skipped when the whole body is read.
func skippedElement(n *html.Node, chrome bool) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Svg, atom.Math, atom.Nav,
		atom.Iframe, atom.Object, atom.Embed, atom.Canvas, atom.Select, atom.Button, atom.Head:
		return true
	case atom.Header, atom.Footer:
		if chrome {
			return true
		}
	}
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "style":
			style := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

// blockElements end the paragraph around them; every other element is
// inline and its text joins the surrounding paragraph.
var blockElements = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Body: true,
	atom.Caption: true, atom.Dd: true, atom.Details: true, atom.Dialog: true, atom.Div: true,
	atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true, atom.Figure: true,
	atom.Footer: true, atom.Form: true, atom.Header: true, atom.Hgroup: true, atom.Hr: true,
	atom.Html: true, atom.Legend: true, atom.Li: true, atom.Main: true, atom.Nav: true, atom.Ol: true,
	atom.P: true, atom.Pre: true, atom.Section: true, atom.Summary: true, atom.Table: true,
	atom.Tbody: true, atom.Td: true, atom.Tfoot: true, atom.Th: true, atom.Thead: true, atom.Tr: true,
	atom.Ul: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
}

var headingLevels = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

type htmlWalker struct {
	blocks []Block
	buf    strings.Builder // inline text of the open paragraph or list item
	kind   BlockKind       // what buf becomes: Paragraph, or ListItem inside <li>
	chrome bool
}

func (w *htmlWalker) flush() {
	if text := collapseSpace(w.buf.String()); text != "" {
		w.blocks = append(w.blocks, Block{Kind: w.kind, Text: text})
	}
	w.buf.Reset()
}

func (w *htmlWalker) walk(n *html.Node, depth int) {
	switch n.Type {
	case html.TextNode:
		w.buf.WriteString(n.Data)
		return
	case html.ElementNode:
	case html.DocumentNode:
	default:
		return // comments, doctypes
	}
	if n.Type == html.ElementNode && skippedElement(n, w.chrome) {
		return
	}
	if depth > maxHTMLDepth {
		w.buf.WriteString(" " + collectText(n, false) + " ")
		return
	}
	if level, ok := headingLevels[n.DataAtom]; ok {
		w.flush()
		w.blocks = append(w.blocks, Block{Kind: Heading, Level: level, Text: collectText(n, false)})
		return
	}
	switch n.DataAtom {
	case atom.Br:
		w.buf.WriteByte(' ')
		return
	case atom.Pre:
		w.flush()
		w.blocks = append(w.blocks, Block{Kind: Code, Text: collectText(n, true)})
		return
	case atom.Table:
		if !isLayoutTable(n) {
			w.flush()
			w.blocks = append(w.blocks, Block{Kind: Table, Text: tableText(n)})
			return
		}
	case atom.Li:
		w.flush()
		saved := w.kind
		w.kind = ListItem
		w.walkChildren(n, depth)
		w.flush()
		w.kind = saved
		return
	}
	block := blockElements[n.DataAtom]
	if block {
		w.flush()
	}
	w.walkChildren(n, depth)
	if block {
		w.flush()
	}
}

func (w *htmlWalker) walkChildren(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, depth+1)
	}
}

// collectText gathers the visible text under n with an explicit stack (no
// recursion, whatever the depth). Block elements are separated by spaces
// (pre: newlines), and <br> is a space (pre: a newline).
func collectText(n *html.Node, pre bool) string {
	type item struct {
		n    *html.Node
		exit bool
	}
	sep := " "
	if pre {
		sep = "\n"
	}
	var b strings.Builder
	stack := []item{{n, false}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		cur := it.n
		if it.exit {
			b.WriteString(sep)
			continue
		}
		switch cur.Type {
		case html.TextNode:
			b.WriteString(cur.Data)
			continue
		case html.ElementNode:
			if cur != n && skippedElement(cur, false) {
				continue
			}
			if cur.DataAtom == atom.Br {
				b.WriteString(sep)
				continue
			}
			if blockElements[cur.DataAtom] && cur != n {
				if !pre {
					b.WriteString(sep)
				}
				if cur.DataAtom == atom.Td || cur.DataAtom == atom.Th {
					b.WriteString(" ")
				}
				stack = append(stack, item{cur, true})
			}
		case html.DocumentNode:
		default:
			continue
		}
		for c := cur.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, item{c, false})
		}
	}
	if pre {
		return b.String()
	}
	return collapseSpace(b.String())
}

// isLayoutTable says whether a table lays out a page rather than holding
// data: it has a nested table or headings, or says role="presentation".
// Such a table is read as ordinary content, not as rows.
func isLayoutTable(table *html.Node) bool {
	for _, a := range table.Attr {
		if strings.EqualFold(a.Key, "role") && (strings.EqualFold(a.Val, "presentation") || strings.EqualFold(a.Val, "none")) {
			return true
		}
	}
	return findFirst(table, func(n *html.Node) bool {
		if n == table {
			return false
		}
		_, heading := headingLevels[n.DataAtom]
		return heading || n.DataAtom == atom.Table
	}, true) != nil
}

// tableText writes one line per row with the cells joined by " | "; the
// caption, if any, is the first line.
func tableText(table *html.Node) string {
	var lines []string
	var rows func(n *html.Node, depth int)
	rows = func(n *html.Node, depth int) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skippedElement(c, false) {
				continue
			}
			switch c.DataAtom {
			case atom.Caption:
				if text := collectText(c, false); text != "" {
					lines = append(lines, text)
				}
			case atom.Thead, atom.Tbody, atom.Tfoot:
				if depth < 2 {
					rows(c, depth+1)
				}
			case atom.Tr:
				var cells []string
				for cell := c.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.Type == html.ElementNode && (cell.DataAtom == atom.Td || cell.DataAtom == atom.Th) && !skippedElement(cell, false) {
						cells = append(cells, collectText(cell, false))
					}
				}
				if strings.Join(cells, "") != "" {
					lines = append(lines, strings.Join(cells, " | "))
				}
			}
		}
	}
	rows(table, 0)
	return strings.Join(lines, "\n")
}

// extractHTMLTokens reads a page from its token stream, without building a
// tree: the fallback for pages the parser refuses. It keeps the block
// structure that tags show directly (headings, paragraphs, list items,
// preformatted text) and skips the same elements as the tree walk.
func extractHTMLTokens(data []byte) Document {
	var doc Document
	z := html.NewTokenizer(bytes.NewReader(data))
	var buf strings.Builder
	kind, level := Paragraph, 0
	skip := map[atom.Atom]int{} // open skipped elements by name
	skipping := 0
	inTitle, pre := false, 0
	flush := func() {
		text := buf.String()
		buf.Reset()
		if kind != Code {
			text = collapseSpace(text)
		}
		if strings.TrimSpace(text) != "" {
			doc.Blocks = append(doc.Blocks, Block{Kind: kind, Level: level, Text: text})
		}
		kind, level = Paragraph, 0
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush()
			for _, b := range doc.Blocks {
				if doc.Title == "" && b.Kind == Heading && b.Level == 1 {
					doc.Title = b.Text
				}
			}
			return doc
		case html.TextToken:
			switch {
			case inTitle:
				doc.Title += string(z.Text())
			case skipping == 0:
				buf.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			start := tt != html.EndTagToken
			if a == atom.Title {
				inTitle = tt == html.StartTagToken
				continue
			}
			// Skipped elements are counted by name so that their end tag
			// (and not a nested one's) ends the skip; void elements have
			// no end tag and no text, so they are never counted.
			counted := tt != html.SelfClosingTagToken && !voidElements[a]
			if skipping > 0 {
				if counted && skip[a] > 0 {
					if start {
						skip[a]++
						skipping++
					} else {
						skip[a]--
						skipping--
					}
				}
				continue
			}
			if tt == html.StartTagToken {
				n := &html.Node{Type: html.ElementNode, DataAtom: a}
				for more := hasAttr; more; {
					var key, val []byte
					key, val, more = z.TagAttr()
					n.Attr = append(n.Attr, html.Attribute{Key: string(key), Val: string(val)})
				}
				if skippedElement(n, true) {
					if counted {
						skip[a]++
						skipping++
					}
					continue
				}
			}
			switch {
			case a == atom.Br:
				if pre > 0 {
					buf.WriteByte('\n')
				} else {
					buf.WriteByte(' ')
				}
			case a == atom.Pre:
				flush()
				if start {
					pre++
					kind = Code
				} else if pre > 0 {
					pre--
				}
			case headingLevels[a] > 0:
				flush()
				if start {
					kind, level = Heading, headingLevels[a]
				}
			case a == atom.Li:
				flush()
				if start {
					kind = ListItem
				}
			case a == atom.Td || a == atom.Th:
				buf.WriteByte(' ')
			case blockElements[a] && pre == 0:
				flush()
			}
		}
	}
}

var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true,
	atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true, atom.Source: true,
	atom.Track: true, atom.Wbr: true,
}
