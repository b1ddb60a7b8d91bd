package extract

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExtractHTMLReadsContentAndSkipsChrome(t *testing.T) {
	t.Parallel()
	runExtractCases(t, KindHTML, []extractCase{
		{
			name: "whole body without main",
			in: `<!DOCTYPE html><html><head><title> Help &amp; Support </title><style>p{}</style>
<script>var x = "<p>no</p>";</script></head><body>
<header><a href="/">Logo</a><nav><a>Home</a></nav></header>
<h1>Getting <em>started</em></h1>
<p>Welcome to <strong>Acme</strong>, the <a href="#">best</a>&nbsp;tool.<br>New line &lt;here&gt;.</p>
<div>Div text <span>joins</span> in.<div>Nested block.</div></div>
<ul><li>One</li><li>Two <b>bold</b><ul><li>Sub item</li></ul></li></ul>
<pre><code>line 1
  line 2</code></pre>
<table><caption>Prices</caption><thead><tr><th>Plan</th><th>Price</th></tr></thead>
<tbody><tr><td>Basic</td><td>$5</td></tr><tr><td>Pro</td><td>$20</td></tr></tbody></table>
<p hidden>Hidden paragraph</p><div aria-hidden="true">Hidden div</div>
<p style="display: none">Invisible</p><noscript>Enable JS</noscript>
<template><p>Template</p></template><svg><text>Chart</text></svg>
<footer>© Acme</footer>
</body></html>`,
			want: Document{Title: "Help & Support", Blocks: []Block{
				h(1, "Getting started"),
				p("Welcome to Acme, the best tool. New line <here>."),
				p("Div text joins in."),
				p("Nested block."),
				li("One"),
				li("Two bold"),
				li("Sub item"),
				code("line 1\n  line 2"),
				table("Prices\nPlan | Price\nBasic | $5\nPro | $20"),
			}},
		},
		{
			name: "main wins over the rest of the page",
			in: `<html><body><div class="sidebar"><p>Sidebar links</p></div>
<main><header><h1>Article title</h1></header><p>Body text.</p><nav>Table of contents</nav></main>
<p>After main</p></body></html>`,
			want: Document{Title: "Article title", Blocks: []Block{h(1, "Article title"), p("Body text.")}},
		},
		{
			name: "every article when there is no main",
			in:   `<body><p>Chrome</p><article><h2>One</h2><p>First.</p></article><aside>x</aside><article><h2>Two</h2><p>Second.</p></article></body>`,
			want: Document{Blocks: []Block{h(2, "One"), p("First."), h(2, "Two"), p("Second.")}},
		},
		{
			name: "a layout table is read as content",
			in:   `<table role="presentation"><tr><td><h2>Menu</h2><p>Item text.</p></td></tr></table>`,
			want: Document{Blocks: []Block{h(2, "Menu"), p("Item text.")}},
		},
		{
			name: "a fragment without html or body tags",
			in:   `<p>One</p><p>Two &amp; three</p>`,
			want: Document{Blocks: []Block{p("One"), p("Two & three")}},
		},
	})
}

func TestExtractHTMLHandlesDeepNestingWithoutRecursingForever(t *testing.T) {
	t.Parallel()
	depth := 5000
	in := strings.Repeat("<div><span>", depth) + "deep text" + strings.Repeat("</span></div>", depth)
	start := time.Now()
	doc, err := Extract(KindHTML, []byte(in))
	if err != nil {
		t.Fatalf("Extract() error = %v", err)
	}
	if len(doc.Blocks) != 1 || doc.Blocks[0].Text != "deep text" {
		t.Errorf("Extract() blocks = %+v, want one paragraph \"deep text\"", doc.Blocks)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Extract() took %v", d)
	}
}

func TestExtractHTMLTokensReadsStructureWhenTheTreeIsRefused(t *testing.T) {
	t.Parallel()
	in := `<html><head><title>Deep page</title><script>no()</script></head><body><nav>Menu</nav>
<h2>Section</h2><p>Text <b>bold</b>.</p><div hidden><div>inner hidden</div>still hidden</div>
<ul><li>One</li><li>Two</li></ul><pre>a
  b</pre><img hidden src=x><p>After image.</p></body></html>`
	want := Document{Title: "Deep page", Blocks: []Block{
		h(2, "Section"), p("Text bold."), li("One"), li("Two"), code("a\n  b"), p("After image."),
	}}
	got := finish(extractHTMLTokens([]byte(in)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extractHTMLTokens() mismatch (-want +got):\n%s", diff)
	}
}
