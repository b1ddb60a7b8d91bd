package meta

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSplitTextCutsAtTheNicestBoundaryThatFits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"empty text gives nothing", "", 10, nil},
		{"text that fits is unchanged", "  hello  ", 10, []string{"  hello  "}},
		{"exactly the limit is one piece", "abcde", 5, []string{"abcde"}},
		{"one over the limit is two pieces", "abc def", 6, []string{"abc", "def"}},
		{"no limit", strings.Repeat("x", 100), 0, []string{strings.Repeat("x", 100)}},
		{"paragraph break wins over a later sentence end",
			"First para here.\n\nSecond para. More text", 30,
			[]string{"First para here.", "Second para. More text"}},
		{"sentence end wins over a later space",
			"One sentence. Two words here", 20,
			[]string{"One sentence.", "Two words here"}},
		{"question and exclamation marks end sentences",
			"Really? Yes! Absolutely true", 14,
			[]string{"Really? Yes!", "Absolutely", "true"}},
		{"line break", "line one\nline two is long", 12, []string{"line one", "line two is", "long"}},
		{"a break too early in the window is ignored for a later space",
			"A. bbbbbbbbb ccccc", 14,
			[]string{"A. bbbbbbbbb", "ccccc"}},
		{"space right after the window", "abcd efgh", 4, []string{"abcd", "efgh"}},
		{"no spaces at all cuts mid-word", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"decimal points are not sentence ends", "Pi is 3.14159 exactly", 12, []string{"Pi is", "3.14159", "exactly"}},
		{"CJK full stop ends a sentence", "你好世界。今天天气很好", 6, []string{"你好世界。", "今天天气很好"}},
		{"emoji count as two UTF-16 units", "😀😀😀", 4, []string{"😀😀", "😀"}},
		{"a character wider than the limit still goes out alone", "😀😀", 1, []string{"😀", "😀"}},
		{"ZWJ family is not torn apart", "ab👨‍👩‍👧", 8, []string{"ab", "👨‍👩‍👧"}},
		{"skin tone stays with its hand", "abc👍🏽", 4, []string{"abc", "👍🏽"}},
		{"combining accent stays with its letter", "abcde\u0301f", 5, []string{"abcd", "e\u0301f"}},
		{"a ZWJ sequence longer than the limit is cut as a last resort", "👨‍👩‍👧", 6, []string{"👨‍👩‍", "👧"}},
		{"whitespace-only overflow gives nothing", "      ", 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SplitText(tt.text, tt.limit); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitText(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
			}
		})
	}
}

func TestSplitTextBytesMeasuresUTF8(t *testing.T) {
	t.Parallel()
	// Each "ž" is two bytes: "žžž žžž" is 13 bytes.
	if got, want := SplitTextBytes("žžž žžž", 8), []string{"žžž", "žžž"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SplitTextBytes = %q, want %q", got, want)
	}
	if got, want := SplitTextBytes("žžžž", 3), []string{"ž", "ž", "ž", "ž"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SplitTextBytes = %q, want %q (never half a character)", got, want)
	}
}

// checkPieces asserts the invariants every split must keep: pieces fit,
// are valid UTF-8 and non-empty, and nothing but whitespace is lost.
func checkPieces(t *testing.T, text string, limit int, pieces []string, size func(rune) int) {
	t.Helper()
	for i, p := range pieces {
		if p == "" {
			t.Fatalf("piece %d is empty", i)
		}
		if !utf8.ValidString(p) && utf8.ValidString(text) {
			t.Fatalf("piece %d is not valid UTF-8: %q", i, p)
		}
		if n := measure(p, size); n > limit && utf8.RuneCountInString(p) > 1 {
			t.Fatalf("piece %d measures %d > %d: %q", i, n, limit, p)
		}
	}
	strip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	if got, want := strip(strings.Join(pieces, "")), strip(text); got != want {
		t.Fatalf("content changed:\n got %q\nwant %q", got, want)
	}
}

func TestSplitTextKeepsItsInvariantsOnVariedText(t *testing.T) {
	t.Parallel()
	texts := []string{
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 200),
		strings.Repeat("Paragraph one.\n\nParagraph two has more words in it!\n", 80),
		strings.Repeat("x", 9000),
		strings.Repeat("👨‍👩‍👧 ", 500),
		strings.Repeat("Ćevapi i šljivovica 🇭🇷 — ", 300),
		strings.Repeat("https://example.com/a/very/long/path?with=query&and=more ", 90),
	}
	for _, text := range texts {
		for _, limit := range []int{1, 2, 7, 100, MessengerMaxText, WhatsAppMaxText} {
			checkPieces(t, text, limit, SplitText(text, limit), utf16Len)
			checkPieces(t, text, limit, SplitTextBytes(text, limit), utf8.RuneLen)
		}
	}
}
