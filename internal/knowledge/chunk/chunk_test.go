package chunk

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/knowledge/extract"
)

func h(level int, text string) extract.Block {
	return extract.Block{Kind: extract.Heading, Level: level, Text: text}
}
func p(text string) extract.Block  { return extract.Block{Kind: extract.Paragraph, Text: text} }
func li(text string) extract.Block { return extract.Block{Kind: extract.ListItem, Text: text} }

// words returns n distinct words "w0 w1 …" starting at from.
func words(from, n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w%d", from+i)
	}
	return strings.Join(out, " ")
}

// sentencesOf returns n sentences of size words each, numbered so that
// every sentence is distinct.
func sentencesOf(n, size int) string {
	out := make([]string, n)
	for i := range out {
		ws := make([]string, size)
		for j := range ws {
			ws[j] = fmt.Sprintf("s%dw%d", i, j)
		}
		ws[0] = fmt.Sprintf("Sentence%d", i)
		out[i] = strings.Join(ws, " ") + "."
	}
	return strings.Join(out, " ")
}

func TestSplitFollowsHeadingsAndPacksBlocksUnderThem(t *testing.T) {
	t.Parallel()
	doc := extract.Document{Blocks: []extract.Block{
		p("Preface text."),
		h(1, "Billing"),
		p("How billing works."),
		h(2, "Refunds"),
		p("Ask within 30 days."),
		li("Keep the receipt"),
		li("Contact support"),
		p("Refunds take five days."),
		h(3, "Empty heading"),
		h(2, "Invoices"),
		extract.Block{Kind: extract.Table, Text: "Plan | Price\nBasic | $5"},
		h(1, "Security"),
		extract.Block{Kind: extract.Code, Text: "  indented()\n  code()"},
	}}
	got := Split(doc, Options{})
	want := []Chunk{
		{Position: 0, HeadingPath: []string{}, Text: "Preface text.", Words: 2},
		{Position: 1, HeadingPath: []string{"Billing"}, Text: "How billing works.", Words: 3},
		{Position: 2, HeadingPath: []string{"Billing", "Refunds"}, Text: "Ask within 30 days.\n\nKeep the receipt\nContact support\n\nRefunds take five days.", Words: 13},
		{Position: 3, HeadingPath: []string{"Billing", "Invoices"}, Text: "Plan | Price\nBasic | $5", Words: 6},
		{Position: 4, HeadingPath: []string{"Security"}, Text: "  indented()\n  code()", Words: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Split() mismatch (-want +got):\n%s", diff)
	}
}

func TestSplitPacksUpToTheTargetAndOverlapsWithinASection(t *testing.T) {
	t.Parallel()
	// Five paragraphs of 40 words with a target of 100: two per chunk.
	var blocks []extract.Block
	for i := range 5 {
		blocks = append(blocks, p(fmt.Sprintf("Para%d. ", i)+words(i*100, 39)))
	}
	got := Split(extract.Document{Blocks: blocks}, Options{TargetWords: 100, OverlapWords: 10})
	if len(got) != 3 {
		t.Fatalf("Split() gave %d chunks, want 3: %+v", len(got), got)
	}
	if !strings.HasPrefix(got[0].Text, "Para0.") || !strings.Contains(got[0].Text, "Para1.") || strings.Contains(got[0].Text, "Para2.") {
		t.Errorf("chunk 0 = %q, want paragraphs 0 and 1", got[0].Text)
	}
	// The second chunk starts with the last 10 words of the first (the
	// last "sentence" is the whole 40-word paragraph, too long to repeat).
	wantStart := words(100+29, 10) + "\n\nPara2."
	if !strings.HasPrefix(got[1].Text, wantStart) {
		t.Errorf("chunk 1 starts %q, want it to start with %q", got[1].Text[:60], wantStart)
	}
	for i, c := range got {
		if c.Words != len(strings.Fields(c.Text)) {
			t.Errorf("chunk %d Words = %d, want %d", i, c.Words, len(strings.Fields(c.Text)))
		}
	}
}

func TestSplitDoesNotOverlapAcrossHeadings(t *testing.T) {
	t.Parallel()
	doc := extract.Document{Blocks: []extract.Block{h(1, "A"), p(words(0, 50)), h(1, "B"), p(words(100, 50))}}
	got := Split(doc, Options{TargetWords: 60, OverlapWords: 10})
	if len(got) != 2 || got[1].Text != words(100, 50) {
		t.Fatalf("Split() = %+v, want two chunks without overlap", got)
	}
}

func TestSplitCutsALongParagraphOnSentenceBoundaries(t *testing.T) {
	t.Parallel()
	text := sentencesOf(30, 10) // 300 words, more than 1.5 × 100
	got := Split(extract.Document{Blocks: []extract.Block{p(text)}}, Options{TargetWords: 100, OverlapWords: -1})
	if len(got) != 3 {
		t.Fatalf("Split() gave %d chunks, want 3", len(got))
	}
	var rejoined []string
	for i, c := range got {
		if !strings.HasPrefix(c.Text, "Sentence") || !strings.HasSuffix(c.Text, ".") {
			t.Errorf("chunk %d = %q…, want whole sentences", i, c.Text[:30])
		}
		if c.Words > 100 {
			t.Errorf("chunk %d has %d words, want at most 100", i, c.Words)
		}
		rejoined = append(rejoined, c.Text)
	}
	if strings.Join(rejoined, " ") != text {
		t.Error("without overlap the chunks do not rejoin to the paragraph")
	}
}

func TestSplitOverlapRepeatsWholeSentencesWherePossible(t *testing.T) {
	t.Parallel()
	text := sentencesOf(30, 10)
	got := Split(extract.Document{Blocks: []extract.Block{p(text)}}, Options{TargetWords: 100, OverlapWords: 20})
	if len(got) < 2 {
		t.Fatalf("Split() gave %d chunks", len(got))
	}
	// The first chunk holds sentences 0..9; the second repeats 8 and 9.
	if want := "Sentence8 "; !strings.HasPrefix(got[1].Text, want) {
		t.Errorf("chunk 1 starts %q, want %q", got[1].Text[:20], want)
	}
	if !strings.Contains(got[1].Text, "s9w9. Sentence10 ") {
		t.Error("chunk 1 does not continue with sentence 10 after the overlap")
	}
}

func TestSplitFallsBackToWordsForARunOnSentence(t *testing.T) {
	t.Parallel()
	got := Split(extract.Document{Blocks: []extract.Block{p(words(0, 500))}}, Options{TargetWords: 100, OverlapWords: -1})
	if len(got) != 5 {
		t.Fatalf("Split() gave %d chunks, want 5", len(got))
	}
	for i, c := range got {
		if c.Text != words(i*100, 100) {
			t.Errorf("chunk %d = %q…, want words %d..%d", i, c.Text[:20], i*100, i*100+99)
		}
	}
}

func TestSplitKeepsCodeLinesWhole(t *testing.T) {
	t.Parallel()
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("    call(%d, a, b, c, d)", i)) // 5 words a line
	}
	code := extract.Block{Kind: extract.Code, Text: strings.Join(lines, "\n")}
	got := Split(extract.Document{Blocks: []extract.Block{code}}, Options{TargetWords: 100, OverlapWords: -1})
	if len(got) != 3 {
		t.Fatalf("Split() gave %d chunks, want 3", len(got))
	}
	var rejoined []string
	for _, c := range got {
		rejoined = append(rejoined, c.Text)
	}
	if strings.Join(rejoined, "\n") != code.Text {
		t.Error("code chunks do not rejoin line for line")
	}
}

func TestSplitCutsTextWithoutSpaces(t *testing.T) {
	t.Parallel()
	blob := strings.Repeat("字", 3000) // 9000 bytes, one "word"
	got := Split(extract.Document{Blocks: []extract.Block{p(blob)}}, Options{TargetWords: 100, OverlapWords: -1})
	if len(got) < 4 {
		t.Fatalf("Split() gave %d chunks, want the blob cut into pieces of at most 2000 bytes", len(got))
	}
	var rejoined strings.Builder
	for i, c := range got {
		if len(c.Text) > 100*charsPerWord {
			t.Errorf("chunk %d has %d bytes", i, len(c.Text))
		}
		rejoined.WriteString(c.Text)
	}
	if rejoined.String() != blob {
		t.Error("the pieces do not rejoin to the blob (a rune was cut?)")
	}
}

func TestSplitIsDeterministicAndNeverEmpty(t *testing.T) {
	t.Parallel()
	doc := extract.Document{Blocks: []extract.Block{
		h(0, "  "), p("   "), h(2, "Deep first"), p(sentencesOf(50, 9)), h(1, "Top"), li("a"), li(" "), p(words(0, 400)),
	}}
	first := Split(doc, Options{TargetWords: 50, OverlapWords: 15})
	for range 5 {
		if again := Split(doc, Options{TargetWords: 50, OverlapWords: 15}); !reflect.DeepEqual(first, again) {
			t.Fatal("Split() gave different output for the same input")
		}
	}
	for i, c := range first {
		if c.Position != i || strings.TrimSpace(c.Text) == "" || c.Words == 0 {
			t.Errorf("chunk %d = %+v", i, c)
		}
	}
}

func TestSentenceStartsRespectsAbbreviationsAndInitials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"One. Two! Three? Four", []string{"One.", "Two!", "Three?", "Four"}},
		{"Use tools, e.g. Hammers. Then stop.", []string{"Use tools, e.g. Hammers.", "Then stop."}},
		{"Ask Dr. Who and J. Smith vs. Others. Done.", []string{"Ask Dr. Who and J. Smith vs. Others.", "Done."}},
		{"Made in the U.S. Army.", []string{"Made in the U.S. Army."}},
		{"Pi is 3.14 today. 42 is next.", []string{"Pi is 3.14 today.", "42 is next."}},
		{`He said "Stop." Then left.`, []string{`He said "Stop."`, "Then left."}},
		{"lower. case continues", []string{"lower. case continues"}},
		{"第一句。第二句。", []string{"第一句。", "第二句。"}},
	}
	for _, tt := range tests {
		if got := sentences(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("sentences(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
