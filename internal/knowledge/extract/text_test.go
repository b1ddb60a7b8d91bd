package extract

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func p(text string) Block            { return Block{Kind: Paragraph, Text: text} }
func li(text string) Block           { return Block{Kind: ListItem, Text: text} }
func h(level int, text string) Block { return Block{Kind: Heading, Level: level, Text: text} }
func code(text string) Block         { return Block{Kind: Code, Text: text} }
func table(text string) Block        { return Block{Kind: Table, Text: text} }

// extractCase is one input for an extractor and the document it must give.
type extractCase struct {
	name string
	in   string
	want Document
}

func runExtractCases(t *testing.T, kind Kind, tests []extractCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Extract(kind, []byte(tt.in))
			if err != nil {
				t.Fatalf("Extract() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Extract() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractTextSplitsParagraphsOnBlankLinesAndFindsListItems(t *testing.T) {
	t.Parallel()
	runExtractCases(t, KindText, []extractCase{
		{
			name: "paragraphs and lists",
			in:   "First line\nwraps here.\r\n\r\nShopping:\n- eggs\n* milk that is\n  fresh\n1. first step\n2) second step\n\n\n   Last   paragraph\t here.\n",
			want: Document{Blocks: []Block{
				p("First line wraps here."),
				p("Shopping:"),
				li("eggs"),
				li("milk that is fresh"),
				li("1. first step"),
				li("2) second step"),
				p("Last paragraph here."),
			}},
		},
		{
			name: "markers without text are not list items",
			in:   "-\n-5 degrees\n3.14 is pi",
			want: Document{Blocks: []Block{p("- -5 degrees 3.14 is pi")}},
		},
		{
			name: "unicode bullets",
			in:   "• one\n◦ two",
			want: Document{Blocks: []Block{li("one"), li("two")}},
		},
	})
}

func TestExtractReportsNoTextForBlankInput(t *testing.T) {
	t.Parallel()
	for _, kind := range []Kind{KindText, KindMarkdown, KindHTML} {
		_, err := Extract(kind, []byte("  \n\t\n"))
		if !errors.Is(err, ErrMalformed) || err.Error() != "malformed document: no text found in the document" {
			t.Errorf("Extract(%s) error = %v, want ErrMalformed with \"no text found in the document\"", kind, err)
		}
	}
}

func TestExtractRejectsAnUnknownKind(t *testing.T) {
	t.Parallel()
	_, err := Extract("rtf", []byte("{\\rtf1}"))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Extract(rtf) error = %v, want ErrUnsupported", err)
	}
}

func TestExtractGuardTurnsAPanicIntoErrMalformed(t *testing.T) {
	t.Parallel()
	_, err := extractGuarded(func() (Document, error) { panic("boom") }, true)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("extractGuarded() error = %v, want ErrMalformed", err)
	}
}

func TestFinishNormalisesWhitespaceAndDropsEmptyBlocks(t *testing.T) {
	t.Parallel()
	got := finish(Document{Title: "  A \n title ", Blocks: []Block{
		{Kind: Paragraph, Text: " a \u00a0 b\u00ad\n c\x01 ", Level: 3},
		{Kind: Heading, Level: 9, Text: "deep"},
		{Kind: Code, Text: "\n\n  indented\t\r\n\tline  \n\n"},
		{Kind: Table, Text: "a  |  b \n\n c | d"},
		{Kind: Paragraph, Text: " \n "},
		{Kind: ListItem, Text: "bad \xff utf8"},
	}})
	want := Document{Title: "A title", Blocks: []Block{
		p("a b c"),
		h(6, "deep"),
		code("  indented\n\tline"),
		table("a | b\n\nc | d"),
		li("bad utf8"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("finish() mismatch (-want +got):\n%s", diff)
	}
}
