package llm

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultFallback is the extractive provider's answer when no passage is
// relevant and Request.Fallback is empty.
const DefaultFallback = "I don't know the answer to that yet — I can connect you with a person."

// Finish reasons of the extractive provider.
const (
	FinishStop     = "stop"
	FinishNoAnswer = "no_answer"
)

// Extractive is the provider that needs no model: it answers by quoting the
// most relevant sentences of the retrieved passages (Request.Passages) for
// Request.Question, one line per passage:
//
//	From "Shipping policy": "Shipping to EU countries costs €9.99." [1]
//
// with Response.Citations in [n] order. When nothing is relevant it answers
// Request.Fallback (or DefaultFallback) with FinishReason "no_answer". The
// line prefix follows the question's language (English, Croatian, German).
// Usage is always zero.
type Extractive struct{}

const (
	maxQuotedPassages  = 3
	maxQuotedSentences = 3
	maxQuoteRunes      = 450 // per passage
	maxSentenceRunes   = 300
	wordsPerDelta      = 4
	strongMatch        = 0.85 // an equal word, stem or long prefix
)

// Chat implements Provider.
func (Extractive) Chat(ctx context.Context, req Request, onDelta func(string)) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	question := req.Question
	if strings.TrimSpace(question) == "" {
		question = lastUserMessage(req.Messages)
	}
	resp := answerExtractive(question, req.Passages)
	if resp.Text == "" {
		resp.Text = strings.TrimSpace(req.Fallback)
		if resp.Text == "" {
			resp.Text = DefaultFallback
		}
		resp.FinishReason = FinishNoAnswer
		resp.Citations = nil
	}
	for _, piece := range wordPieces(resp.Text, wordsPerDelta) {
		if err := ctx.Err(); err != nil {
			return Response{}, err
		}
		if onDelta != nil {
			onDelta(piece)
		}
	}
	return resp, nil
}

// answerExtractive builds the quoted answer; Text is empty when nothing is
// relevant.
func answerExtractive(question string, passages []Passage) Response {
	qterms := queryTerms(question)
	if len(qterms) == 0 || len(passages) == 0 {
		return Response{}
	}
	lang := detectLanguage(question)
	idf := termWeights(qterms, passages)

	type candidate struct {
		p       Passage
		doc     *document
		matched []float64
		score   float64
	}
	var cands []candidate
	seen := map[string]bool{}
	for _, p := range passages {
		key := strings.Join(tokenize(p.Text), " ")
		if strings.TrimSpace(p.Text) == "" || seen[key] {
			continue
		}
		seen[key] = true
		doc := parseDocument(p)
		matched := matchTerms(qterms, doc.allTokens)
		if !relevant(matched) {
			continue
		}
		score := 0.0
		for j, m := range matched {
			score += m * idf[j]
		}
		cands = append(cands, candidate{p: p, doc: doc, matched: matched, score: score})
	}
	if len(cands) == 0 {
		return Response{}
	}
	// Best first; equal scores keep the retrieval order.
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	best := cands[0].score

	var lines []string
	var cites []Passage
	quoted := map[string]bool{}          // sentences already quoted (chunks overlap)
	covered := make([]bool, len(qterms)) // question terms answered by the passages taken
	for _, c := range cands {
		if len(cites) == maxQuotedPassages {
			break
		}
		// Further passages must be nearly as good as the best, or fairly
		// good and about a part of the question not covered yet ("…and
		// what about returns?").
		novel := false
		for i, m := range c.matched {
			if m >= strongMatch && !covered[i] {
				novel = true
			}
		}
		if c.score < 0.75*best && (c.score < 0.5*best || !novel) {
			continue
		}
		quote := c.doc.quote(qterms, idf, quoted)
		if quote == "" {
			continue
		}
		for i, m := range c.matched {
			if m >= strongMatch {
				covered[i] = true
			}
		}
		cites = append(cites, c.p)
		lines = append(lines, formatQuote(lang, c.p.Title, quote, len(cites)))
	}
	if len(lines) == 0 {
		return Response{}
	}
	return Response{Text: strings.Join(lines, "\n"), FinishReason: FinishStop, Citations: cites}
}

// relevant decides whether a passage answers enough of the question: about a
// third of the question's terms must match and at least one of them well,
// so a passage sharing one incidental word with a long question is not
// quoted.
func relevant(matched []float64) bool {
	sum, strong := 0.0, false
	for _, m := range matched {
		sum += m
		if m >= strongMatch {
			strong = true
		}
	}
	return strong && sum/float64(len(matched)) >= 0.3
}

func formatQuote(lang, title, quote string, n int) string {
	title = strings.TrimSpace(title)
	var prefix string
	switch {
	case title == "" && lang == "hr":
		prefix = "Iz baze znanja"
	case title == "" && lang == "de":
		prefix = "Aus der Wissensdatenbank"
	case title == "":
		prefix = "From the knowledge base"
	case lang == "hr":
		prefix = fmt.Sprintf("Iz dokumenta %q", title)
	case lang == "de":
		prefix = fmt.Sprintf("Aus %q", title)
	default:
		prefix = fmt.Sprintf("From %q", title)
	}
	return fmt.Sprintf("%s: \"%s\" [%d]", prefix, quote, n)
}

// termWeights gives rarer question terms (among the passages) more weight
// when ranking passages and sentences.
func termWeights(qterms []string, passages []Passage) []float64 {
	n := float64(len(passages))
	df := make([]float64, len(qterms))
	for _, p := range passages {
		toks := uniqueTokens(append(tokenize(p.Title), tokenize(p.Text)...))
		for i, m := range matchTerms(qterms, toks) {
			if m > 0 {
				df[i]++
			}
		}
	}
	w := make([]float64, len(qterms))
	for i := range qterms {
		w[i] = math.Log(1 + (n-df[i]+0.5)/(df[i]+0.5)) // BM25's idf
	}
	return w
}

// ---- documents and sentences ----

type sentence struct {
	text    string   // as written, cleaned of markup
	tokens  []string // normalised
	heading []string // tokens of the heading the sentence sits under
	index   int
	// intro is the index of the line introducing the list this bullet
	// belongs to ("We accept:"), or -1.
	intro int
}

type document struct {
	title     []string
	sentences []sentence
	allTokens []string
}

// parseDocument splits a passage into sentences, remembering headings.
func parseDocument(p Passage) *document {
	d := &document{title: tokenize(p.Title)}
	titleKey := strings.Join(d.title, " ")
	var heading []string
	intro := -1
	lines := strings.Split(strings.ReplaceAll(p.Text, "\r\n", "\n"), "\n")
	for ln, raw := range lines {
		line, isHeading, isBullet := cleanLine(raw)
		if line == "" {
			continue
		}
		toks := tokenize(line)
		if len(toks) == 0 {
			continue
		}
		if isHeading || strings.Join(toks, " ") == titleKey || (!isBullet && looksLikeHeading(line, ln, lines)) {
			heading = toks
			intro = -1
			d.allTokens = append(d.allTokens, toks...)
			continue
		}
		parts := []string{line}
		if !isBullet {
			parts = splitSentences(line)
		}
		for _, s := range parts {
			st := tokenize(s)
			if len(st) == 0 {
				continue
			}
			sent := sentence{text: s, tokens: st, heading: heading, index: len(d.sentences), intro: -1}
			switch {
			case isBullet:
				sent.intro = intro
			case strings.HasSuffix(s, ":"):
				intro = sent.index
			default:
				intro = -1
			}
			d.sentences = append(d.sentences, sent)
			d.allTokens = append(d.allTokens, st...)
		}
	}
	d.allTokens = uniqueTokens(append(d.allTokens, d.title...))
	return d
}

// quote picks the 1–3 sentences that best answer the question, in reading
// order, skipping sentences already quoted from another passage.
func (d *document) quote(qterms []string, idf []float64, quoted map[string]bool) string {
	type scored struct {
		s     sentence
		score float64
	}
	var all []scored
	for _, s := range d.sentences {
		if quoted[s.text] {
			continue
		}
		score := 0.0
		own := matchTerms(qterms, s.tokens)
		var head []float64
		if len(s.heading) > 0 {
			head = matchTerms(qterms, s.heading)
		}
		for i := range qterms {
			m := own[i]
			if head != nil && head[i]*0.5 > m {
				m = head[i] * 0.5 // the section heading speaks for its sentences
			}
			score += m * idf[i]
		}
		all = append(all, scored{s, score})
	}
	if len(all) == 0 {
		return ""
	}
	byScore := make([]scored, len(all))
	copy(byScore, all)
	sort.SliceStable(byScore, func(i, j int) bool { return byScore[i].score > byScore[j].score })

	var picked []sentence
	if byScore[0].score == 0 {
		// The passage matched through its title only: it is about the
		// question's topic as a whole, so its opening sentences answer.
		for _, s := range all[:min(2, len(all))] {
			picked = append(picked, s.s)
		}
	} else {
		best := byScore[0].score
		total := 0
		for _, c := range byScore {
			if len(picked) == maxQuotedSentences || c.score <= 0 || c.score < 0.5*best {
				break
			}
			n := utf8.RuneCountInString(c.s.text)
			if len(picked) > 0 && total+n > maxQuoteRunes {
				continue
			}
			picked = append(picked, c.s)
			total += n
		}
	}
	picked = d.completeLists(picked)
	sort.Slice(picked, func(i, j int) bool { return picked[i].index < picked[j].index })

	var b strings.Builder
	for i, s := range picked {
		quoted[s.text] = true
		text := truncateWords(s.text, maxSentenceRunes)
		if i > 0 {
			prev := picked[i-1]
			switch {
			case s.index != prev.index+1:
				b.WriteString(" … ")
			case !endsSentence(prev.text) && !strings.HasSuffix(prev.text, ":"):
				b.WriteString("; ")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString(text)
	}
	return b.String()
}

// completeLists adds what a quoted list needs to be read: the items after
// a quoted introduction ("We accept:") and the introduction before a quoted
// item, within the quote length.
func (d *document) completeLists(picked []sentence) []sentence {
	in := map[int]bool{}
	total := 0
	for _, s := range picked {
		in[s.index] = true
		total += utf8.RuneCountInString(s.text)
	}
	add := func(s sentence) {
		if in[s.index] || total+utf8.RuneCountInString(s.text) > maxQuoteRunes {
			return
		}
		in[s.index] = true
		total += utf8.RuneCountInString(s.text)
		picked = append(picked, s)
	}
	for _, s := range append([]sentence(nil), picked...) {
		if s.intro >= 0 {
			add(d.sentences[s.intro])
		}
		if strings.HasSuffix(s.text, ":") {
			items := 0
			for _, next := range d.sentences[s.index+1:] {
				if next.intro != s.index || items == 8 {
					break
				}
				add(next)
				items++
			}
		}
	}
	return picked
}

// cleanLine strips Markdown markup from a line and reports headings and
// list items.
func cleanLine(raw string) (line string, heading, bullet bool) {
	line = strings.TrimSpace(raw)
	if strings.HasPrefix(line, "#") {
		heading = true
		line = strings.TrimLeft(line, "#")
	}
	for _, marker := range []string{"- ", "* ", "• ", "+ ", "– "} {
		if strings.HasPrefix(line, marker) {
			line = strings.TrimPrefix(line, marker)
			bullet = true
		}
	}
	line = strings.TrimPrefix(line, "> ")
	// "1. " / "2) " list numbers
	if i := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsDigit(r) }); i > 0 && i <= 3 && i+1 < len(line) &&
		(line[i] == '.' || line[i] == ')') && line[i+1] == ' ' {
		line = line[i+2:]
		bullet = true
	}
	line = strings.NewReplacer("**", "", "__", "", "`", "").Replace(line)
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "|") || strings.Trim(line, "-=|: ") == "" {
		// Table rules and separators.
		line = strings.Trim(line, "| ")
		if strings.Trim(line, "-=|: ") == "" {
			return "", false, false
		}
		line = strings.Join(strings.Fields(strings.ReplaceAll(line, "|", " · ")), " ")
	}
	return line, heading, bullet
}

// looksLikeHeading: a short line without final punctuation followed by a
// longer paragraph ("Opening hours" above the text about them).
func looksLikeHeading(line string, ln int, lines []string) bool {
	if endsSentence(line) || strings.HasSuffix(line, ":") || len(strings.Fields(line)) > 6 || strings.ContainsAny(line, "0123456789") {
		return false
	}
	for _, next := range lines[ln+1:] {
		next = strings.TrimSpace(next)
		if next == "" {
			continue
		}
		return endsSentence(next) && len(strings.Fields(next)) > len(strings.Fields(line))
	}
	return false
}

func endsSentence(s string) bool {
	s = strings.TrimRight(s, `"'”“»«)]`)
	return strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "…")
}

// abbreviations that end in a dot without ending the sentence.
var abbreviations = map[string]bool{
	"e.g": true, "i.e": true, "etc": true, "vs": true, "approx": true, "no": true, "nr": true, "tel": true,
	"mr": true, "mrs": true, "ms": true, "dr": true, "st": true, "min": true, "max": true, "incl": true,
	"npr": true, "tj": true, "itd": true, "sl": true, "br": true, "god": true, "oko": true, "ul": true, "tzv": true,
	"z.b": true, "bzw": true, "ca": true, "usw": true, "inkl": true, "ggf": true, "evtl": true, "str": true, "d.h": true, "u.a": true,
}

// splitSentences splits one line of prose into sentences.
func splitSentences(line string) []string {
	var out []string
	start := 0
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		if r != '.' && r != '!' && r != '?' && r != '…' {
			continue
		}
		// Include closing quotes/brackets and repeated punctuation.
		j := i + 1
		for j < len(runes) && strings.ContainsRune(`.!?…"'”»)]`, runes[j]) {
			j++
		}
		if j >= len(runes) || !unicode.IsSpace(runes[j]) {
			continue // "4.99", "www.shop.hr", end of line handled below
		}
		k := j
		for k < len(runes) && unicode.IsSpace(runes[k]) {
			k++
		}
		if k >= len(runes) {
			break
		}
		next := runes[k]
		if !(unicode.IsUpper(next) || unicode.IsDigit(next) || strings.ContainsRune(`"'“„«(`, next)) {
			continue
		}
		if r == '.' {
			word := lastWord(runes[start:i])
			lw := strings.ToLower(word)
			if abbreviations[lw] || utf8.RuneCountInString(word) == 1 && unicode.IsLetter([]rune(word)[0]) {
				continue
			}
			if isDigits(word) && utf8.RuneCountInString(word) <= 2 {
				continue // ordinals: "am 24. Dezember", "do 15. Svibnja"
			}
		}
		if s := strings.TrimSpace(string(runes[start:j])); s != "" {
			out = append(out, s)
		}
		start = k
		i = k - 1
	}
	if s := strings.TrimSpace(string(runes[start:])); s != "" {
		out = append(out, s)
	}
	return out
}

func lastWord(r []rune) string {
	i := len(r)
	for i > 0 && !unicode.IsSpace(r[i-1]) && r[i-1] != '(' {
		i--
	}
	return string(r[i:])
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

func truncateWords(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:") + "…"
}

// wordPieces splits text into pieces of a few words that concatenate back
// to it exactly.
func wordPieces(text string, words int) []string {
	var out []string
	start, count := 0, 0
	inSpace := false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if !space && inSpace {
			count++
			if count == words {
				out = append(out, text[start:i])
				start, count = i, 0
			}
		}
		inSpace = space
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// ---- terms ----

// queryTerms are the question's content words, deduplicated.
func queryTerms(q string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range tokenize(q) {
		if stopWords[t] || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// matchTerms gives, for every query term, how well the best of toks
// matches it (0..1).
func matchTerms(qterms, toks []string) []float64 {
	out := make([]float64, len(qterms))
	for i, q := range qterms {
		qs := stem(q)
		for _, t := range toks {
			if m := termMatch(q, qs, t); m > out[i] {
				out[i] = m
				if m == 1 {
					break
				}
			}
		}
	}
	return out
}

// termMatch scores how well token t matches query term q (with stem qs):
// equal words or stems 1; one a prefix of the other ("ship" / "shipping",
// "versand" / "versandkosten") 0.9; a shared long prefix ("lieferzeit" /
// "lieferung") 0.8; a compound ending in the term ("versandkosten" for
// "kosten") or a short stem prefix 0.7.
func termMatch(q, qs, t string) float64 {
	if q == t {
		return 1
	}
	if isDigits(q) || isDigits(t) {
		return 0 // numbers match exactly or not at all
	}
	ts := stem(t)
	if qs == ts {
		return 1
	}
	short, long := qs, ts
	if utf8.RuneCountInString(short) > utf8.RuneCountInString(long) {
		short, long = long, short
	}
	ns, nl := utf8.RuneCountInString(short), utf8.RuneCountInString(long)
	if strings.HasPrefix(long, short) {
		if ns >= 4 {
			return 0.9
		}
		if ns == 3 && nl-ns <= 2 {
			return 0.7
		}
	}
	if cp := commonPrefix(qs, ts); cp >= 5 && float64(cp) >= 0.6*float64(ns) {
		return 0.8
	}
	if ns >= 4 && nl >= ns+3 && strings.HasSuffix(long, short) {
		return 0.7
	}
	return 0
}

func commonPrefix(a, b string) int {
	n := 0
	ra, rb := []rune(a), []rune(b)
	for n < len(ra) && n < len(rb) && ra[n] == rb[n] {
		n++
	}
	return n
}

// suffixes stripped by stem, longest first: English, Croatian and German
// inflections.
var suffixes = []string{
	"ungen", "ovima", "evima",
	"ama", "ima", "ing", "imo", "amo", "emo", "ite", "ete", "ove", "eva",
	"en", "es", "ed", "et", "om", "og", "oj", "em", "ih", "im", "ly", "ju",
	"a", "e", "i", "u", "o", "s",
}

// stem strips one inflectional suffix, keeping at least three letters.
func stem(t string) string {
	n := utf8.RuneCountInString(t)
	if n < 4 || isDigits(t) {
		return t
	}
	for _, s := range suffixes {
		if strings.HasSuffix(t, s) && n-len(s) >= 3 {
			return t[:len(t)-len(s)]
		}
	}
	return t
}

// tokenize lower-cases, folds diacritics and splits on anything but
// letters and digits. One-letter words are dropped.
func tokenize(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() == 0 {
			return
		}
		w := b.String()
		b.Reset()
		if utf8.RuneCountInString(w) > 1 || isDigits(w) {
			out = append(out, w)
		}
	}
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			r = unicode.ToLower(r)
			if f, ok := folds[r]; ok {
				b.WriteString(f)
			} else {
				b.WriteRune(r)
			}
			continue
		}
		flush()
	}
	flush()
	return out
}

func uniqueTokens(toks []string) []string {
	seen := make(map[string]bool, len(toks))
	out := toks[:0:0]
	for _, t := range toks {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

var folds = map[rune]string{
	'č': "c", 'ć': "c", 'š': "s", 'ž': "z", 'đ': "d",
	'ä': "a", 'ö': "o", 'ü': "u", 'ß': "ss",
	'á': "a", 'à': "a", 'â': "a", 'å': "a", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'ó': "o", 'ò': "o", 'ô': "o",
	'ú': "u", 'ù': "u", 'û': "u", 'ñ': "n", 'ç': "c", 'ý': "y",
}

// ---- languages ----

var (
	stopEN = `a an the and or but if then so of to in on at by for with from about into over under as
		is are was were be been being am do does did doing done have has had having
		i me my mine we us our ours you your yours he him his she her it its they them their theirs
		this that these those there here what which who whom whose when where why how
		can could would should will shall may might must not no yes any some all each every
		much many more most very just also too only than please thanks thank hi hello hey
		tell know want need get got like let give find show explain help s t re ve ll d m
		anything something way there's it's i'm don't doesn't`
	stopHR = `i a ali ili pa te ni niti da li je su sam si smo ste biti bio bila bilo bili
		će ću ćeš ćemo ćete hoće hoću neće nije nisu nisam ne
		što sto šta sta tko ko koji koja koje kojeg kojem kojoj kojim kojih čiji kada kad gdje kako zašto zasto koliko kamo odakle
		ovaj ova ovo ovi ove taj ta to ti tu tamo ovdje onaj ona ono oni one
		ja mi vi on me mene meni nas nama vas vama vam ga mu njega njemu nju njoj ih njih njima se sebe
		moj moja moje moji vaš vaša vaše vaši vašu vašeg naš naša naše njihov svoj
		u na za od do iz s sa o po pri kod prema kroz bez nad pod među uz k ka
		bi mogu možete može mogao mogla molim hvala bok pozdrav zdravo imate imam ima nema jeli jel dali
		već još samo također sve svi neki neka nešto ništa vrlo jako trebam treba želim htio htjela reći recite`
	stopDE = `der die das den dem des ein eine einer eines einem einen und oder aber wenn dann so
		von zu zum zur im in am an auf aus bei mit nach für über unter vor durch um als
		ist sind war waren bin bist sein seid wird werden wurde hat haben habe hast hatte
		kann können könnte kannst muss müssen soll sollte darf
		ich du er sie es wir ihr mich mir dich dir uns euch ihnen ihre ihren ihrem mein meine meinen meinem dein deine unser unsere
		was wer wie wo wann warum welche welcher welches wieviel viel viele
		nicht kein keine auch noch nur schon sehr man gibt bitte danke hallo dort hier dieser diese dieses mal gerne`

	stopWords = map[string]bool{}
	langWords = map[string]map[string]bool{}
)

func init() {
	for lang, list := range map[string]string{"en": stopEN, "hr": stopHR, "de": stopDE} {
		set := map[string]bool{}
		for _, w := range strings.Fields(list) {
			for _, t := range tokenize(w) {
				set[t] = true
				stopWords[t] = true
			}
		}
		langWords[lang] = set
	}
}

// detectLanguage guesses en, hr or de from a question's function words and
// letters.
func detectLanguage(q string) string {
	score := map[string]float64{}
	for _, t := range tokenize(q) {
		for lang, set := range langWords {
			if set[t] {
				score[lang]++
			}
		}
	}
	for _, r := range strings.ToLower(q) {
		switch r {
		case 'č', 'ć', 'š', 'ž', 'đ':
			score["hr"] += 1.5
		case 'ä', 'ö', 'ü', 'ß':
			score["de"] += 1.5
		}
	}
	best, lang := 0.0, "en"
	for _, l := range []string{"en", "hr", "de"} {
		if score[l] > best {
			best, lang = score[l], l
		}
	}
	return lang
}
