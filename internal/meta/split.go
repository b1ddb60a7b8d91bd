package meta

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SplitText cuts text into pieces of at most limit UTF-16 code units, for
// providers that cap message length (WhatsAppMaxText, MessengerMaxText,
// telegram.MaxTextLength). UTF-16 is what Telegram counts, and a character
// never counts less than one unit, so the pieces fit whether a provider
// counts code units or characters.
//
// It cuts at the last paragraph break in the window, else the last sentence
// end, else the last space — ignoring breaks in the first third of the
// window, so pieces are not needlessly short — and only when there is no
// space at all (long URLs, CJK text) in the middle of a word. It never cuts
// inside a character, and avoids cutting before a combining mark, variation
// selector, skin-tone modifier or after a zero-width joiner, so composed
// emoji survive. Whitespace at a cut is dropped; text that already fits is
// returned unchanged. Empty text gives no pieces; limit <= 0 means no limit.
func SplitText(text string, limit int) []string {
	return split(text, limit, utf16Len)
}

// SplitTextBytes is SplitText measuring UTF-8 bytes, for Instagram
// (InstagramMaxTextBytes).
func SplitTextBytes(text string, limit int) []string {
	return split(text, limit, utf8.RuneLen)
}

func utf16Len(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

func measure(s string, size func(rune) int) int {
	n := 0
	for _, r := range s {
		n += size(r)
	}
	return n
}

func split(text string, limit int, size func(rune) int) []string {
	if text == "" {
		return nil
	}
	if limit <= 0 || measure(text, size) <= limit {
		return []string{text}
	}
	var pieces []string
	rest := text
	for rest != "" {
		end := fitEnd(rest, limit, size)
		if end == len(rest) {
			pieces = append(pieces, rest)
			break
		}
		cut := breakPoint(rest, end)
		if piece := strings.TrimRightFunc(rest[:cut], unicode.IsSpace); piece != "" {
			pieces = append(pieces, piece)
		}
		rest = strings.TrimLeftFunc(rest[cut:], unicode.IsSpace)
	}
	return pieces
}

// fitEnd is the byte length of the longest prefix of s within limit. A
// first character that alone exceeds the limit is taken anyway, so the
// split always advances.
func fitEnd(s string, limit int, size func(rune) int) int {
	n := 0
	for i, r := range s {
		n += size(r)
		if n > limit {
			if i == 0 {
				return utf8.RuneLen(r)
			}
			return i
		}
	}
	return len(s)
}

// breakPoint picks where to cut s, given that s[:end] is the most that
// fits. The result is in (0, end] and on a character boundary.
func breakPoint(s string, end int) int {
	floor := end / 3

	// A paragraph break, including one that starts right at the end.
	if i := strings.LastIndex(s[:min(end+2, len(s))], "\n\n"); i > floor && i <= end {
		return i
	}
	// A sentence end: . ! ? … followed by whitespace, CJK full stops, or a
	// line break.
	for pos := end; pos > floor; {
		r, n := utf8.DecodeLastRuneInString(s[:pos])
		switch {
		case r == '\n' && pos-n > 0:
			return pos - n
		case strings.ContainsRune(".!?…", r) && startsWithSpace(s[pos:]):
			return pos
		case strings.ContainsRune("。！？", r):
			return pos
		}
		pos -= n
	}
	// A word break, including a space right at the end.
	if startsWithSpace(s[end:]) {
		return end
	}
	for pos := end; pos > 0; {
		r, n := utf8.DecodeLastRuneInString(s[:pos])
		if unicode.IsSpace(r) && pos-n > 0 {
			return pos - n
		}
		pos -= n
	}
	// No break at all: cut mid-word, but not inside a composed character.
	cut := end
	for cut > 0 {
		next, _ := utf8.DecodeRuneInString(s[cut:])
		prev, n := utf8.DecodeLastRuneInString(s[:cut])
		if !extends(next) && prev != '\u200d' {
			break
		}
		cut -= n
	}
	if cut == 0 {
		return end
	}
	return cut
}

func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && unicode.IsSpace(r)
}

// extends reports whether r attaches to the character before it.
func extends(r rune) bool {
	return unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) ||
		r == '\u200d' || // zero-width joiner
		(r >= 0xFE00 && r <= 0xFE0F) || // variation selectors
		(r >= 0x1F3FB && r <= 0x1F3FF) || // skin-tone modifiers
		(r >= 0xE0020 && r <= 0xE007F) // emoji tag sequences
}
