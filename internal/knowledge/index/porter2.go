package index

import "slices"

// This file is a port of the Snowball English ("Porter2") stemmer as defined
// by english.sbl (https://snowballstem.org/algorithms/english/stemmer.html),
// the variant used by Lucene's and NLTK's English Snowball stemmers.
//
// The Snowball program walks a cursor backwards over the word; here every step
// works on the end of a byte slice instead, with p1/p2 (the starts of the
// regions R1/R2) fixed on the word as it was before any suffix was removed,
// exactly as in the reference. A suffix "is in R1" when it starts at or after
// p1. Where a step lists several suffixes, only the longest one the word ends
// with is considered; if its condition fails the step does nothing (it does
// not fall back to a shorter suffix). That rule is easy to get wrong and is
// what makes "agreement" stay "agreement".
//
// The stemmer expects lowercase ASCII. Upper-case 'Y' is used internally, as
// in the reference, to mark a y that acts as a consonant.

// exception1 returns the stem of words that the algorithm would get wrong,
// checked before anything else. A switch rather than a map: it is consulted
// for every word, and a switch on the word needs no hashing.
func exception1(w []byte) (string, bool) {
	switch string(w) {
	// Irregular forms.
	case "skis":
		return "ski", true
	case "skies":
		return "sky", true
	case "dying":
		return "die", true
	case "lying":
		return "lie", true
	case "tying":
		return "tie", true
	// -ly words that the rules would over-stem.
	case "idly":
		return "idl", true
	case "gently":
		return "gentl", true
	case "ugly":
		return "ugli", true
	case "early":
		return "earli", true
	case "only":
		return "onli", true
	case "singly":
		return "singl", true
	// Words left unchanged.
	case "sky", "news", "howe", "atlas", "cosmos", "bias", "andes":
		return string(w), true
	}
	return "", false
}

// exception2 reports whether w, as left by step 1a, must not be stemmed
// further (otherwise "inning" would become "in" and "proceed" "proce").
func exception2(w []byte) bool {
	switch string(w) {
	case "inning", "outing", "canning", "herring", "earring",
		"proceed", "exceed", "succeed":
		return true
	}
	return false
}

// stem returns the Porter2 stem of w, a lowercase ASCII word. It reuses w's
// storage, so the caller must not rely on w afterwards. Stems are never longer
// than the word.
func stem(w []byte) []byte {
	if s, ok := exception1(w); ok {
		return append(w[:0], s...)
	}
	if len(w) < 3 {
		return w
	}

	// Prelude: drop a leading apostrophe and mark consonant y's as 'Y'
	// (a y at the start of the word or right after a vowel).
	if w[0] == '\'' {
		w = w[1:]
	}
	if len(w) > 0 && w[0] == 'y' {
		w[0] = 'Y'
	}
	for i := 1; i < len(w); i++ {
		if w[i] == 'y' && isVowel(w[i-1]) {
			w[i] = 'Y'
		}
	}

	p1, p2 := markRegions(w)

	w = step1a(w)
	if !exception2(w) {
		w = step1b(w, p1)
		w = step1c(w)
		w = step2(w, p1)
		w = step3(w, p1, p2)
		w = step4(w, p2)
		w = step5(w, p1, p2)
	}

	// Postlude: turn the consonant marks back into ordinary y's.
	for i, c := range w {
		if c == 'Y' {
			w[i] = 'y'
		}
	}
	return w
}

// isVowel reports whether c is in Snowball's v grouping. The marker 'Y' is
// not. A table lookup: this is the stemmer's most frequent test.
func isVowel(c byte) bool { return vowels[c] }

var vowels = [256]bool{'a': true, 'e': true, 'i': true, 'o': true, 'u': true, 'y': true}

// isVowelWXY reports whether c is in the v_WXY grouping: the vowels plus the
// letters that cannot close a short syllable.
func isVowelWXY(c byte) bool {
	return isVowel(c) || c == 'w' || c == 'x' || c == 'Y'
}

// isValidLI reports whether c may precede a removable "li" suffix.
func isValidLI(c byte) bool {
	switch c {
	case 'c', 'd', 'e', 'g', 'h', 'k', 'm', 'n', 'r', 't':
		return true
	}
	return false
}

// markRegions returns p1 and p2, the start offsets of R1 and R2 (len(w) when
// a region is empty). R1 starts after the first non-vowel that follows a
// vowel; R2 is the same rule applied again inside R1. Three prefixes get a
// fixed R1 so that e.g. "general"/"generous" and "arsenic"/"arsenal" stay
// apart.
func markRegions(w []byte) (p1, p2 int) {
	switch {
	case hasPrefix(w, "gener"), hasPrefix(w, "arsen"):
		p1 = 5
	case hasPrefix(w, "commun"):
		p1 = 6
	default:
		p1 = afterVowelConsonant(w, 0)
	}
	return p1, afterVowelConsonant(w, p1)
}

// afterVowelConsonant returns the offset just after the first non-vowel that
// follows a vowel at or after i, or len(w) if there is none.
func afterVowelConsonant(w []byte, i int) int {
	for i < len(w) && !isVowel(w[i]) {
		i++
	}
	for i < len(w) && isVowel(w[i]) {
		i++
	}
	if i >= len(w) {
		return len(w)
	}
	return i + 1
}

// endsShortSyllable reports whether w[:end] ends in a short syllable: a
// non-vowel, a vowel and a non-vowel other than w, x or Y; or, at the very
// start of the word, a vowel followed by a non-vowel.
func endsShortSyllable(w []byte, end int) bool {
	if end >= 3 && !isVowel(w[end-3]) && isVowel(w[end-2]) && !isVowelWXY(w[end-1]) {
		return true
	}
	return end == 2 && isVowel(w[0]) && !isVowel(w[1])
}

// hasVowel reports whether b contains a vowel.
func hasVowel(b []byte) bool {
	for _, c := range b {
		if isVowel(c) {
			return true
		}
	}
	return false
}

func hasPrefix(w []byte, p string) bool {
	return len(w) >= len(p) && string(w[:len(p)]) == p
}

func hasSuffix(w []byte, s string) bool {
	return len(w) >= len(s) && string(w[len(w)-len(s):]) == s
}

// replaceSuffix replaces the last n bytes of w with r.
func replaceSuffix(w []byte, n int, r string) []byte {
	return append(w[:len(w)-n], r...)
}

// step1a removes possessive apostrophes (the reference's Step 0) and plural
// -s endings.
func step1a(w []byte) []byte {
	switch {
	case hasSuffix(w, "'s'"):
		w = w[:len(w)-3]
	case hasSuffix(w, "'s"):
		w = w[:len(w)-2]
	case hasSuffix(w, "'"):
		w = w[:len(w)-1]
	}

	switch {
	case hasSuffix(w, "sses"):
		return replaceSuffix(w, 4, "ss")
	case hasSuffix(w, "ied"), hasSuffix(w, "ies"):
		// "cries" → "cri" but "ties" → "tie": keep the e when only one
		// letter precedes the suffix.
		if len(w) > 4 {
			return replaceSuffix(w, 3, "i")
		}
		return replaceSuffix(w, 3, "ie")
	case hasSuffix(w, "us"), hasSuffix(w, "ss"):
		return w
	case hasSuffix(w, "s"):
		// Delete the s only if there is a vowel before the letter that
		// precedes it: "gaps" → "gap", but "gas" and "this" stay.
		if len(w) >= 2 && hasVowel(w[:len(w)-2]) {
			return w[:len(w)-1]
		}
	}
	return w
}

// step1b removes -ed and -ing endings and then repairs the stem so that
// "hoped" → "hope", "hopping" → "hop" and "luxuriated" → "luxuriate".
func step1b(w []byte, p1 int) []byte {
	var n int // length of a removable -ed/-ing suffix
	switch {
	case hasSuffix(w, "eedly"):
		if len(w)-5 >= p1 {
			return replaceSuffix(w, 5, "ee")
		}
		return w
	case hasSuffix(w, "ingly"):
		n = 5
	case hasSuffix(w, "edly"):
		n = 4
	case hasSuffix(w, "eed"):
		if len(w)-3 >= p1 {
			return replaceSuffix(w, 3, "ee")
		}
		return w
	case hasSuffix(w, "ing"):
		n = 3
	case hasSuffix(w, "ed"):
		n = 2
	default:
		return w
	}

	if !hasVowel(w[:len(w)-n]) {
		return w
	}
	w = w[:len(w)-n]
	switch {
	case hasSuffix(w, "at"), hasSuffix(w, "bl"), hasSuffix(w, "iz"):
		return append(w, 'e')
	case endsWithDouble(w):
		return w[:len(w)-1]
	case len(w) == p1 && endsShortSyllable(w, len(w)):
		// The word is short (R1 is empty and it ends in a short
		// syllable), so the e was probably part of the stem.
		return append(w, 'e')
	}
	return w
}

// endsWithDouble reports whether w ends in one of the doubled consonants that
// step 1b undoubles (bb dd ff gg mm nn pp rr tt).
func endsWithDouble(w []byte) bool {
	if len(w) < 2 || w[len(w)-1] != w[len(w)-2] {
		return false
	}
	switch w[len(w)-1] {
	case 'b', 'd', 'f', 'g', 'm', 'n', 'p', 'r', 't':
		return true
	}
	return false
}

// step1c turns a final y into i after a consonant that is not the first
// letter: "cry" → "cri", but "by" and "say" stay.
func step1c(w []byte) []byte {
	n := len(w)
	if n >= 3 && (w[n-1] == 'y' || w[n-1] == 'Y') && !isVowel(w[n-2]) {
		w[n-1] = 'i'
	}
	return w
}

// rule is one suffix of steps 2–4: the suffix, its replacement, and an
// optional extra condition on the stem that precedes it.
type rule struct {
	suffix, repl string
	cond         func(stem []byte) bool
}

func precededByL(s []byte) bool { return len(s) > 0 && s[len(s)-1] == 'l' }

func precededByValidLI(s []byte) bool { return len(s) > 0 && isValidLI(s[len(s)-1]) }

func precededBySOrT(s []byte) bool {
	return len(s) > 0 && (s[len(s)-1] == 's' || s[len(s)-1] == 't')
}

var step2Rules = newRuleTable([]rule{
	{"tional", "tion", nil},
	{"enci", "ence", nil},
	{"anci", "ance", nil},
	{"abli", "able", nil},
	{"entli", "ent", nil},
	{"izer", "ize", nil},
	{"ization", "ize", nil},
	{"ational", "ate", nil},
	{"ation", "ate", nil},
	{"ator", "ate", nil},
	{"alism", "al", nil},
	{"aliti", "al", nil},
	{"alli", "al", nil},
	{"fulness", "ful", nil},
	{"ousli", "ous", nil},
	{"ousness", "ous", nil},
	{"iveness", "ive", nil},
	{"iviti", "ive", nil},
	{"biliti", "ble", nil},
	{"bli", "ble", nil},
	{"ogi", "og", precededByL},
	{"fulli", "ful", nil},
	{"lessli", "less", nil},
	{"li", "", precededByValidLI},
})

// step3Rules all need R1; "ative" additionally needs R2, which step3 checks.
var step3Rules = newRuleTable([]rule{
	{"tional", "tion", nil},
	{"ational", "ate", nil},
	{"alize", "al", nil},
	{"icate", "ic", nil},
	{"iciti", "ic", nil},
	{"ical", "ic", nil},
	{"ful", "", nil},
	{"ness", "", nil},
	{"ative", "", nil},
})

var step4Rules = newRuleTable([]rule{
	{"al", "", nil},
	{"ance", "", nil},
	{"ence", "", nil},
	{"er", "", nil},
	{"ic", "", nil},
	{"able", "", nil},
	{"ible", "", nil},
	{"ant", "", nil},
	{"ement", "", nil},
	{"ment", "", nil},
	{"ent", "", nil},
	{"ism", "", nil},
	{"ate", "", nil},
	{"iti", "", nil},
	{"ous", "", nil},
	{"ive", "", nil},
	{"ize", "", nil},
	{"ion", "", precededBySOrT},
})

// ruleTable groups a step's rules by the last letter of their suffix,
// longest suffix first, so finding the longest matching suffix looks at a
// handful of candidates instead of the whole list.
type ruleTable [256][]rule

func newRuleTable(rules []rule) *ruleTable {
	var t ruleTable
	for _, r := range rules {
		last := r.suffix[len(r.suffix)-1]
		t[last] = append(t[last], r)
	}
	for i := range t {
		slices.SortStableFunc(t[i], func(a, b rule) int { return len(b.suffix) - len(a.suffix) })
	}
	return &t
}

// longest returns the rule with the longest suffix that w ends with, or nil.
// Snowball's among() picks the longest match before testing anything else,
// so the caller must not try shorter suffixes when this one fails.
func (t *ruleTable) longest(w []byte) *rule {
	if len(w) == 0 {
		return nil
	}
	rules := t[w[len(w)-1]]
	for i := range rules {
		if hasSuffix(w, rules[i].suffix) {
			return &rules[i]
		}
	}
	return nil
}

// applyRule applies r if its suffix starts at or after region and its
// condition holds.
func applyRule(w []byte, r *rule, region int) []byte {
	if r == nil {
		return w
	}
	start := len(w) - len(r.suffix)
	if start < region || (r.cond != nil && !r.cond(w[:start])) {
		return w
	}
	return append(w[:start], r.repl...)
}

// step2 maps double suffixes to single ones ("-ization" → "-ize") within R1.
func step2(w []byte, p1 int) []byte {
	return applyRule(w, step2Rules.longest(w), p1)
}

// step3 simplifies further suffixes within R1 ("-icate" → "-ic").
func step3(w []byte, p1, p2 int) []byte {
	r := step3Rules.longest(w)
	if r != nil && r.suffix == "ative" {
		// "-ative" is removed only when it lies in R2.
		return applyRule(w, r, p2)
	}
	return applyRule(w, r, p1)
}

// step4 removes residual suffixes that lie in R2.
func step4(w []byte, p2 int) []byte {
	return applyRule(w, step4Rules.longest(w), p2)
}

// step5 removes a final e (in R2, or in R1 unless it follows a short
// syllable, so "hope" keeps its e) and undoubles a final ll in R2.
func step5(w []byte, p1, p2 int) []byte {
	n := len(w)
	switch {
	case hasSuffix(w, "e"):
		if n-1 >= p2 || (n-1 >= p1 && !endsShortSyllable(w, n-1)) {
			return w[:n-1]
		}
	case hasSuffix(w, "l"):
		if n-1 >= p2 && n >= 2 && w[n-2] == 'l' {
			return w[:n-1]
		}
	}
	return w
}
