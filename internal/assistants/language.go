package assistants

import (
	"strings"
	"unicode"
)

// stopwords are frequent short words that identify a language in even a
// one-line message. Diacritics count too (č, ć, š, ž, đ; ä, ö, ü, ß).
var stopwords = map[string][]string{
	"en": {"the", "is", "are", "and", "you", "what", "how", "do", "does", "can", "i", "my", "to", "of", "for", "your", "hello", "hi", "thanks", "when", "where", "please"},
	"hr": {"je", "su", "i", "da", "ne", "što", "sto", "kako", "koliko", "gdje", "kada", "li", "mi", "vi", "moj", "vaš", "vas", "za", "na", "se", "bok", "hvala", "molim", "imate", "mogu", "trebam", "dostava"},
	"de": {"der", "die", "das", "und", "ist", "sind", "ich", "sie", "wie", "was", "wo", "wann", "nicht", "mit", "für", "ein", "eine", "haben", "hallo", "danke", "bitte", "kann", "ihr", "mein"},
}

var letters = map[string]string{"hr": "čćšžđ", "de": "äöüß"}

// DetectLanguage guesses the language of a visitor's message among en, hr
// and de; "" when there is too little to tell.
func DetectLanguage(text string) string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) })
	score := map[string]float64{}
	for lang, ws := range stopwords {
		set := map[string]bool{}
		for _, w := range ws {
			set[w] = true
		}
		for _, w := range words {
			if set[w] {
				score[lang]++
			}
		}
	}
	lower := strings.ToLower(text)
	for lang, ls := range letters {
		for _, r := range ls {
			score[lang] += 1.5 * float64(strings.Count(lower, string(r)))
		}
	}
	best, bestScore := "", 0.0
	for _, lang := range []string{"en", "hr", "de"} { // fixed order: ties go to the first
		if score[lang] > bestScore {
			best, bestScore = lang, score[lang]
		}
	}
	if bestScore < 1 {
		return ""
	}
	return best
}

// LanguageName is how the prompt names a language code.
func LanguageName(code string) string {
	switch code {
	case "en":
		return "English"
	case "hr":
		return "Croatian"
	case "de":
		return "German"
	}
	return code
}

// hedges are phrases by which a model signals low confidence.
var hedges = []string{
	"i'm not sure", "i am not sure", "i'm not certain", "i am not certain", "i don't know", "i do not know", "i cannot be sure", "i can't be sure", "not entirely sure", "[low confidence]",
	"nisam siguran", "nisam sigurna", "ne znam",
	"ich bin nicht sicher", "ich weiß nicht", "keine ahnung",
}

// Hedges reports whether a reply signals low confidence.
func Hedges(reply string) bool {
	// Models often write the typographic apostrophe (I’m).
	l := strings.ToLower(strings.ReplaceAll(reply, "’", "'"))
	for _, h := range hedges {
		if strings.Contains(l, h) {
			return true
		}
	}
	return false
}

// touches reports the first topic (case-insensitive) the text mentions.
func touches(text string, topics []string) string {
	l := strings.ToLower(text)
	for _, t := range topics {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" && strings.Contains(l, t) {
			return t
		}
	}
	return ""
}

// asksForHuman reports whether a message contains a handoff keyword as a
// whole word.
func asksForHuman(text string, keywords []string) bool {
	notWord := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	// Both sides become space-separated words, so a keyword of one or more
	// words matches only whole words in sequence.
	padded := " " + strings.Join(strings.FieldsFunc(strings.ToLower(text), notWord), " ") + " "
	for _, k := range keywords {
		kw := strings.Join(strings.FieldsFunc(strings.ToLower(k), notWord), " ")
		if kw != "" && strings.Contains(padded, " "+kw+" ") {
			return true
		}
	}
	return false
}
