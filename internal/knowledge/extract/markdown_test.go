package extract

import (
	"strings"
	"testing"
	"time"
)

func TestExtractMarkdownReadsBlockStructure(t *testing.T) {
	t.Parallel()
	runExtractCases(t, KindMarkdown, []extractCase{
		{
			name: "headings paragraphs lists code and tables",
			in: `---
title: Front matter title
tags: [a, b]
---
# Billing *guide* #

Intro paragraph with **bold**, _emphasis_, ~~strike~~ and ` + "`inline code`" + `.
It continues on a second line with a [link](https://example.com/a_(b) "title").

Refunds
-------

- First item
- Second item
  continues lazily
- [x] Done task
1. Numbered step

<!-- a comment
spanning lines -->

` + "```go\nfunc main() {\n\tfmt.Println(\"*not emphasis*\")\n}\n```" + `

    indented code
      keeps indentation

| Plan | Price |
|:-----|------:|
| Basic | $5 |
| Pro \| Team | **$20** |

> Quoted text is read
> as a paragraph.

### Deep heading
***
Final ![diagram alt](img.png) words <br> and <https://example.com/x>.
`,
			want: Document{Title: "Billing guide", Blocks: []Block{
				h(1, "Billing guide"),
				p("Intro paragraph with bold, emphasis, strike and inline code. It continues on a second line with a link."),
				h(2, "Refunds"),
				li("First item"),
				li("Second item continues lazily"),
				li("Done task"),
				li("1. Numbered step"),
				code("func main() {\n\tfmt.Println(\"*not emphasis*\")\n}"),
				code("indented code\n  keeps indentation"),
				table("Plan | Price\nBasic | $5\nPro | Team | $20"),
				p("Quoted text is read as a paragraph."),
				h(3, "Deep heading"),
				p("Final diagram alt words and https://example.com/x."),
			}},
		},
		{
			name: "front matter title when there is no h1",
			in:   "---\ntitle: \"Handbook\"\n---\n## Section\n\nBody.",
			want: Document{Title: "Handbook", Blocks: []Block{h(2, "Section"), p("Body.")}},
		},
		{
			name: "setext level one heading is the title",
			in:   "Welcome\n=======\n\nText.",
			want: Document{Title: "Welcome", Blocks: []Block{h(1, "Welcome"), p("Text.")}},
		},
		{
			name: "unclosed fence runs to the end",
			in:   "```\ncode line\n\nmore",
			want: Document{Blocks: []Block{code("code line\n\nmore")}},
		},
		{
			name: "link reference definitions are not text",
			in:   "See [the docs][1].\n\n[1]: https://example.com/docs \"Docs\"\n[x]: <a b>",
			want: Document{Blocks: []Block{p("See the docs.")}},
		},
		{
			name: "a hash without a space is not a heading",
			in:   "#hashtag and 7 #s",
			want: Document{Blocks: []Block{p("#hashtag and 7 #s")}},
		},
	})
}

func TestStripInlineRemovesMarkupButKeepsText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"**bold** and *it* and __b__ and _i_", "bold and it and b and i"},
		{"snake_case_name stays", "snake_case_name stays"},
		{"2 * 3 * 4 = 24", "2 * 3 * 4 = 24"},
		{"5*3", "5*3"},
		{"a ~~gone~~ b", "a gone b"},
		{"`a * b` is code", "a * b is code"},
		{"`` code with ` tick ``", "code with ` tick"},
		{"unclosed `backtick", "unclosed `backtick"},
		{`escaped \*stars\* and \[brackets\]`, "escaped *stars* and [brackets]"},
		{"[text](http://x.y) and [ref][1] and [plain]", "text and ref and [plain]"},
		{"![alt *text*](a.png)", "alt text"},
		{"[![badge](b.svg)](https://ci)", "badge"},
		{"[a [nested] link](u)", "a [nested] link"},
		{"<span class=x>inline</span> html", "inline html"},
		{"<mail@example.com>", "mail@example.com"},
		{"a < b > c", "a < b > c"},
		{"**unclosed bold", "**unclosed bold"},
		{"*[link](u)*", "link"},
		{"Fish &amp; chips &#8212; `&amp;` stays in code", "Fish & chips — &amp; stays in code"},
		{`\&amp; is escaped`, "&amp; is escaped"},
		{"[", "["},
		{"](", "]("},
	}
	for _, tt := range tests {
		if got := stripInline(tt.in); got != tt.want {
			t.Errorf("stripInline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStripInlineStaysFastOnHostileInput(t *testing.T) {
	t.Parallel()
	inputs := []string{
		strings.Repeat("[", 200_000),
		strings.Repeat("[a](", 50_000),
		strings.Repeat("`", 100_000) + strings.Repeat("` ", 50_000),
		strings.Repeat("*a _", 50_000),
		strings.Repeat("<a", 100_000),
		strings.Repeat("![x](y)*", 30_000),
	}
	for _, in := range inputs {
		start := time.Now()
		stripInline(in)
		if d := time.Since(start); d > 10*time.Second { // linear: well under a second; quadratic: minutes
			t.Errorf("stripInline(%q…) took %v", in[:10], d)
		}
	}
}
