package index

import (
	"unicode"
	"unicode/utf8"
)

// maxTokenBytes bounds the length of an indexed term. Longer "words" are
// almost always base64, hashes or URLs run together; they never match a
// query and would only bloat the dictionary.
const maxTokenBytes = 64

// Analyze turns text into index terms. It is the single analyzer for chunks
// and queries, so both sides always agree:
//
//   - Words are maximal runs of letters, digits and combining marks; anything
//     else separates words. So "covid19" stays one word while "IL-6" and
//     "state-of-the-art" split into their parts, and so do "don't" and "3.5".
//   - Han ideographs and Hiragana become one term per character, because
//     those scripts do not put spaces between words (as Lucene's
//     StandardTokenizer does).
//   - Words are lowercased and common Latin diacritics are folded
//     (é→e, ü→u, č→c, ß→ss, æ→ae), including accents written as separate
//     combining characters, so "café", "cafe\u0301" and "cafe" are one term.
//   - Lucene's 33 English stop words are dropped, and so are words longer
//     than 64 bytes.
//   - Words made only of ASCII letters and digits after folding are stemmed
//     with the Porter2 (Snowball English) stemmer; others are kept as they
//     are.
func Analyze(text string) []string {
	var terms []string
	var a analyzer
	a.run(text, func(term []byte) { terms = append(terms, string(term)) })
	return terms
}

// analyzer holds the reusable buffer of the word being built, so analysing a
// chunk does not allocate per word. The zero value is ready to use.
type analyzer struct {
	word  []byte
	ascii bool // word holds only ASCII bytes, so the English stemmer applies
}

// run calls emit for each term of text in order. The slice passed to emit is
// only valid during the call.
func (a *analyzer) run(text string, emit func(term []byte)) {
	a.word = a.word[:0]
	a.ascii = true
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			// ASCII fast path: most chunk text is plain ASCII.
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				a.word = append(a.word, c)
			case 'A' <= c && c <= 'Z':
				a.word = append(a.word, c+('a'-'A'))
			default:
				a.flush(emit)
			}
			continue
		}

		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			// Invalid UTF-8 separates words rather than corrupting them.
			a.flush(emit)
		case 0x0300 <= r && r <= 0x036F:
			// Combining diacritical marks: the accent of a decomposed
			// letter such as "e\u0301". Dropping it folds the letter
			// the same way as its precomposed form.
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r):
			a.flush(emit)
			a.word = utf8.AppendRune(a.word, r)
			a.ascii = false
			a.flush(emit)
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			r = unicode.ToLower(r)
			if f, ok := foldTable[r]; ok {
				a.word = append(a.word, f...)
			} else {
				a.word = utf8.AppendRune(a.word, r)
				a.ascii = false
			}
		default:
			a.flush(emit)
		}
	}
	a.flush(emit)
}

// flush finishes the current word: it drops stop words and overlong words,
// stems, and emits the result.
func (a *analyzer) flush(emit func(term []byte)) {
	w := a.word
	ascii := a.ascii
	a.word = a.word[:0]
	a.ascii = true
	if len(w) == 0 || len(w) > maxTokenBytes || isStopWord(w) {
		return
	}
	if ascii {
		w = stem(w)
	}
	emit(w)
}

// isStopWord reports whether w is one of Lucene's default English stop words
// (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET). The list is deliberately short:
// BM25's idf already discounts frequent words, and longer lists remove words
// that matter in queries ("not", "after", "during").
func isStopWord(w []byte) bool {
	switch string(w) {
	case "a", "an", "and", "are", "as", "at", "be", "but", "by",
		"for", "if", "in", "into", "is", "it",
		"no", "not", "of", "on", "or", "such",
		"that", "the", "their", "then", "there", "these",
		"they", "this", "to", "was", "will", "with":
		return true
	}
	return false
}

// foldTable maps lowercase Latin letters with diacritics (and a few
// ligatures) to their plain ASCII spelling. It covers Latin-1 and the common
// Latin Extended-A letters used by Western and Central European languages;
// anything else is kept as written.
var foldTable = buildFoldTable(map[string]string{
	"àáâãäåāăą":  "a",
	"æ":          "ae",
	"çćĉċč":      "c",
	"ďđð":        "d",
	"èéêëēĕėęě":  "e",
	"ĝğġģ":       "g",
	"ĥħ":         "h",
	"ìíîïĩīĭįı":  "i",
	"ĳ":          "ij",
	"ĵ":          "j",
	"ķ":          "k",
	"ĺļľŀł":      "l",
	"ñńņňŉ":      "n",
	"òóôõöøōŏő":  "o",
	"œ":          "oe",
	"ŕŗř":        "r",
	"śŝşšș":      "s",
	"ß":          "ss",
	"ţťŧț":       "t",
	"ùúûüũūŭůűų": "u",
	"ŵ":          "w",
	"ýÿŷ":        "y",
	"źżž":        "z",
	"þ":          "th",
})

func buildFoldTable(groups map[string]string) map[rune]string {
	t := make(map[rune]string)
	for letters, ascii := range groups {
		for _, r := range letters {
			t[r] = ascii
		}
	}
	return t
}
