package chunk

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/knowledge/extract"
)

// FuzzSplit splits Markdown documents (read by the extractor, and raw as
// paragraphs, lists and code) and checks what must hold for any input.
func FuzzSplit(f *testing.F) {
	f.Add("# A\n\nOne. Two! Three?\n\n## B\n\n- x\n- y\n\n```\ncode\n```\n", 0, 0)
	f.Add(sentencesOf(40, 7), 30, 8)
	f.Add(words(0, 300), 50, -1)
	f.Add("# H1\n### H3\n## H2\ntext e.g. More. J. Doe vs. Dr. Who. U.S. Army 3.5 x.", 5, 2)
	f.Add(strings.Repeat("字", 500)+"。第二句。", 10, 3)
	f.Add("| a | b |\n|---|---|\n"+strings.Repeat("| 1 | 2 |\n", 50), 12, 4)
	f.Fuzz(func(t *testing.T, text string, target, overlap int) {
		// Keep sizes small enough that each run stays fast.
		opt := Options{TargetWords: target % 400, OverlapWords: overlap % 100}
		var docs []extract.Document
		if doc, err := extract.Extract(extract.KindMarkdown, []byte(text)); err == nil {
			docs = append(docs, doc)
		}
		docs = append(docs, extract.Document{Blocks: []extract.Block{
			{Kind: extract.Paragraph, Text: text},
			{Kind: extract.ListItem, Text: text},
			{Kind: extract.Code, Text: text},
			{Kind: extract.Heading, Level: len(text) % 8, Text: text},
			{Kind: extract.Table, Text: text},
		}})
		for _, doc := range docs {
			checkSplit(t, doc, opt)
		}
	})
}

func checkSplit(t *testing.T, doc extract.Document, opt Options) {
	t.Helper()
	chunks := Split(doc, opt)
	if again := Split(doc, opt); !reflect.DeepEqual(chunks, again) {
		t.Fatal("Split() is not deterministic")
	}
	target := opt.TargetWords
	if target <= 0 {
		target = DefaultTargetWords
	}
	overlap := opt.OverlapWords
	if overlap == 0 {
		overlap = DefaultOverlapWords
	}
	overlap = max(0, min(overlap, target/2))
	var all strings.Builder
	for i, c := range chunks {
		if c.Position != i {
			t.Errorf("chunk %d has position %d", i, c.Position)
		}
		if strings.TrimSpace(c.Text) == "" || c.Words == 0 {
			t.Errorf("chunk %d is empty: %q", i, c.Text)
		}
		if c.Words != len(strings.Fields(c.Text)) {
			t.Errorf("chunk %d Words = %d, want %d", i, c.Words, len(strings.Fields(c.Text)))
		}
		if c.HeadingPath == nil {
			t.Errorf("chunk %d has a nil heading path", i)
		}
		if !utf8.ValidString(c.Text) && utf8.ValidString(blockTexts(doc)) {
			t.Errorf("chunk %d has invalid UTF-8", i)
		}
		if limit := target*3/2 + overlap*3/2 + 2; c.Words > limit {
			t.Errorf("chunk %d has %d words, more than %d", i, c.Words, limit)
		}
		all.WriteString(c.Text)
		all.WriteByte('\n')
	}
	// Nothing is lost: every word of the body is in some chunk (a word
	// longer than a chunk may hold is cut, so only its start is checked).
	joined := all.String()
	have := map[string]bool{}
	for _, w := range strings.Fields(joined) {
		have[w] = true
	}
	for _, b := range doc.Blocks {
		if b.Kind == extract.Heading {
			continue
		}
		for _, w := range strings.Fields(b.Text) {
			if have[w] {
				continue
			}
			if len(w) > target*charsPerWord {
				w = w[:runeBoundary(w, target*charsPerWord)]
			}
			if !strings.Contains(joined, w) {
				t.Fatalf("word %q of the document is in no chunk", w)
			}
		}
	}
}

func blockTexts(doc extract.Document) string {
	var b strings.Builder
	for _, bl := range doc.Blocks {
		b.WriteString(bl.Text)
	}
	return b.String()
}
