package llm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func ask(t *testing.T, question string, passages []Passage, fallback string) (Response, []string) {
	t.Helper()
	var got []string
	resp, err := Extractive{}.Chat(context.Background(), Request{Question: question, Passages: passages, Fallback: fallback}, func(s string) { got = append(got, s) })
	if err != nil {
		t.Fatalf("Chat(%q): %v", question, err)
	}
	if strings.Join(got, "") != resp.Text {
		t.Fatalf("Chat(%q): deltas %q do not concatenate to %q", question, got, resp.Text)
	}
	return resp, got
}

func citedIDs(ps []Passage) string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.DocumentID)
	}
	return strings.Join(ids, ",")
}

func mustContain(t *testing.T, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Fatalf("answer %q does not contain %q", text, p)
		}
	}
}

func mustNotContain(t *testing.T, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(text, p) {
			t.Fatalf("answer %q contains %q", text, p)
		}
	}
}

var (
	englishKB  = []Passage{passShippingEN, passReturnsEN, passHoursEN}
	croatianKB = []Passage{passShippingHR, passHoursHR, passReturnsHR}
	germanKB   = []Passage{passShippingDE, passHoursDE, passReturnsDE}
)

func TestTheExtractiveProviderQuotesTheRelevantSentencesWithACitation(t *testing.T) {
	t.Parallel()
	resp, _ := ask(t, "How much does shipping cost to Germany?", englishKB, "")
	want := `From "Shipping policy": "Standard shipping within Croatia costs €3.99 and takes 1–3 business days. Shipping to EU countries, including Germany and Austria, costs €9.99 and takes 3–5 business days." [1]`
	if resp.Text != want {
		t.Fatalf("answer:\n%s\nwant:\n%s", resp.Text, want)
	}
	if citedIDs(resp.Citations) != "doc-ship" || resp.Citations[0].Text != passShippingEN.Text {
		t.Fatalf("citations = %+v", resp.Citations)
	}
	if resp.FinishReason != "stop" || resp.Usage != (Usage{}) {
		t.Fatalf("finish %q usage %+v", resp.FinishReason, resp.Usage)
	}
}

func TestTheExtractiveProviderQuotesSentencesNotWholeChunks(t *testing.T) {
	t.Parallel()
	resp, _ := ask(t, "What is your phone number?", englishKB, "")
	mustContain(t, resp.Text, `From "Opening hours": "Customer support answers the phone (+385 1 234 5678)`, "[1]")
	mustNotContain(t, resp.Text, "Saturdays", "[2]", "tracking number")
	if citedIDs(resp.Citations) != "doc-hours" {
		t.Fatalf("citations = %s", citedIDs(resp.Citations))
	}
}

func TestTheExtractiveProviderAnswersEnglishQuestions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		question, doc string
		contains      []string
	}{
		{"What are your opening hours?", "doc-hours", []string{"open Monday to Friday from 9:00 to 20:00", "Saturdays"}},
		{"Are you open on Sunday?", "doc-hours", []string{"closed on Sundays"}},
		{"Can I return an item after 30 days?", "doc-ret", []string{"within 30 days of delivery"}},
		{"How do I get a refund?", "doc-ret", []string{"Refunds are issued"}},
		{"do you ship free?", "doc-ship", []string{"Orders over €50 ship free"}},
	}
	for _, c := range cases {
		resp, _ := ask(t, c.question, englishKB, "")
		mustContain(t, resp.Text, c.contains...)
		if len(resp.Citations) == 0 || resp.Citations[0].DocumentID != c.doc {
			t.Fatalf("%q: cited %s, want %s first", c.question, citedIDs(resp.Citations), c.doc)
		}
	}
}

func TestTheExtractiveProviderAnswersCroatianQuestions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		question, doc string
		contains      []string
	}{
		{"Koliko košta dostava u Njemačku?", "doc-dostava", []string{`Iz dokumenta "Dostava": "`, "uključujući Njemačku i Austriju, košta 9,99 €"}},
		{"koliko kosta dostava u njemacku", "doc-dostava", []string{"košta 9,99 €"}}, // typed without diacritics
		{"Koje je vaše radno vrijeme?", "doc-radno", []string{"od ponedjeljka do petka od 9 do 20 sati"}},
		{"Radite li nedjeljom?", "doc-radno", []string{"Nedjeljom i praznicima ne radimo."}},
		{"Mogu li vratiti proizvod?", "doc-povrat", []string{"možete vratiti u roku od 30 dana"}},
	}
	for _, c := range cases {
		resp, _ := ask(t, c.question, croatianKB, "")
		mustContain(t, resp.Text, c.contains...)
		if len(resp.Citations) == 0 || resp.Citations[0].DocumentID != c.doc {
			t.Fatalf("%q: cited %s, want %s first", c.question, citedIDs(resp.Citations), c.doc)
		}
	}
}

func TestTheExtractiveProviderAnswersGermanQuestions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		question, doc string
		contains      []string
	}{
		{"Was kostet der Versand nach Österreich?", "doc-versand", []string{`Aus "Versand": "`, "Österreich kostet 9,99 €"}},
		{"Wie sind Ihre Öffnungszeiten?", "doc-zeiten", []string{"Montag bis Freitag von 9:00 bis 20:00 Uhr"}},
		{"Kann ich Artikel zurückgeben?", "doc-rueck", []string{"innerhalb von 30 Tagen"}},
		{"Wie lange dauert die Lieferung?", "doc-versand", []string{"dauert 3–5 Werktage"}},
	}
	for _, c := range cases {
		resp, _ := ask(t, c.question, germanKB, "")
		mustContain(t, resp.Text, c.contains...)
		if len(resp.Citations) == 0 || resp.Citations[0].DocumentID != c.doc {
			t.Fatalf("%q: cited %s, want %s first", c.question, citedIDs(resp.Citations), c.doc)
		}
	}
}

func TestIrrelevantPassagesGiveTheFallbackWithoutCitations(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		question string
		kb       []Passage
	}{
		{"Do you sell gift cards?", englishKB},
		{"What's the weather like tomorrow?", englishKB},
		{"Hello!", englishKB},
		{"Imate li poklon bonove?", croatianKB},
		{"Verkaufen Sie Geschenkgutscheine?", germanKB},
	} {
		resp, got := ask(t, c.question, c.kb, "Let me get a colleague for you.")
		if resp.Text != "Let me get a colleague for you." || len(resp.Citations) != 0 || resp.FinishReason != "no_answer" {
			t.Fatalf("%q: %+v", c.question, resp)
		}
		if len(got) < 2 {
			t.Fatalf("%q: the fallback arrived in %d delta(s)", c.question, len(got))
		}
	}
}

func TestTheDefaultFallbackIsUsedWhenNoneIsConfigured(t *testing.T) {
	t.Parallel()
	resp, _ := ask(t, "Do you sell gift cards?", englishKB, "")
	if resp.Text != "I don't know the answer to that yet — I can connect you with a person." || resp.FinishReason != FinishNoAnswer {
		t.Fatalf("%+v", resp)
	}
	resp, _ = ask(t, "How much is shipping?", nil, "")
	if resp.Text != DefaultFallback {
		t.Fatalf("without passages: %+v", resp)
	}
}

func TestSeveralRelevantPassagesAreCitedInOrderOfRelevance(t *testing.T) {
	t.Parallel()
	resp, _ := ask(t, "What does return shipping cost and how long does shipping take?", englishKB, "")
	lines := strings.Split(resp.Text, "\n")
	if len(lines) != 2 || len(resp.Citations) != 2 {
		t.Fatalf("answer:\n%s", resp.Text)
	}
	for i, l := range lines {
		want := "[" + string(rune('1'+i)) + "]"
		if !strings.HasPrefix(l, `From "`+resp.Citations[i].Title+`": "`) || !strings.HasSuffix(l, want) {
			t.Fatalf("line %d %q does not match citation %q", i, l, resp.Citations[i].Title)
		}
	}
}

func TestOverlappingChunksAreNotQuotedTwice(t *testing.T) {
	t.Parallel()
	dup := passShippingEN
	dup.ChunkID = "c1-copy"
	second := Passage{DocumentID: "doc-ship", ChunkID: "c2", Title: "Shipping policy",
		Text: "Shipping to EU countries, including Germany and Austria, costs €9.99 and takes 3–5 business days. Express shipping to Germany costs €19.99."}
	resp, _ := ask(t, "How much does shipping cost to Germany?", []Passage{passShippingEN, dup, second}, "")
	if strings.Count(resp.Text, "including Germany and Austria") != 1 {
		t.Fatalf("a sentence is quoted twice:\n%s", resp.Text)
	}
	if len(resp.Citations) != 2 || resp.Citations[1].ChunkID != "c2" {
		t.Fatalf("citations = %+v", resp.Citations)
	}
	mustContain(t, resp.Text, "Express shipping to Germany costs €19.99.")
}

func TestTheQuestionDefaultsToTheLastUserMessage(t *testing.T) {
	t.Parallel()
	resp, err := Extractive{}.Chat(context.Background(), Request{
		Messages: []Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "Hello!"}, {Role: "user", Content: "When are you open?"}},
		Passages: englishKB,
	}, nil)
	if err != nil || !strings.Contains(resp.Text, "open Monday to Friday") {
		t.Fatalf("%q, %v", resp.Text, err)
	}
}

func TestTheExtractiveAnswerStreamsInWordSizedPieces(t *testing.T) {
	t.Parallel()
	resp, got := ask(t, "What are your opening hours?", englishKB, "")
	if len(got) < 5 {
		t.Fatalf("only %d deltas", len(got))
	}
	for _, piece := range got {
		if n := len(strings.Fields(piece)); n > wordsPerDelta {
			t.Fatalf("delta %q has %d words", piece, n)
		}
	}
	_ = resp
}

func TestTheExtractiveProviderStopsWhenTheContextIsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Extractive{}.Chat(ctx, Request{Question: "What are your opening hours?", Passages: englishKB}, func(string) {
		n++
		cancel()
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("err = %v after %d deltas", err, n)
	}
}

func TestMarkdownPassagesAreQuotedWithoutMarkup(t *testing.T) {
	t.Parallel()
	md := Passage{DocumentID: "faq", ChunkID: "c9", Title: "FAQ", Text: `## Payment

We accept the following payment methods:
- **Visa** and **Mastercard**
- PayPal
- Cash on delivery (Croatia only)

## Gift wrapping
Gift wrapping costs €2.50 per item.`}
	resp, _ := ask(t, "Which payment methods do you accept?", []Passage{md}, "")
	want := `From "FAQ": "We accept the following payment methods: Visa and Mastercard; PayPal; Cash on delivery (Croatia only)" [1]`
	if resp.Text != want {
		t.Fatalf("answer:\n%s\nwant:\n%s", resp.Text, want)
	}
	mustNotContain(t, resp.Text, "**", "##", "Gift wrapping costs")
	// A quoted list item comes with the line that introduces it.
	resp, _ = ask(t, "Can I pay cash on delivery?", []Passage{md}, "")
	mustContain(t, resp.Text, `"We accept the following payment methods: … Cash on delivery (Croatia only)"`)
	resp, _ = ask(t, "Do you offer gift wrapping?", []Passage{md}, "")
	mustContain(t, resp.Text, `"Gift wrapping costs €2.50 per item."`)
}

func TestAQuotedListIntroductionBringsItsItems(t *testing.T) {
	t.Parallel()
	hours := Passage{DocumentID: "store", Title: "Store", Text: "Opening hours:\n- Monday–Friday: 9:00–20:00\n- Saturday: 9:00–14:00\n- Sunday: closed\n\nParking is free for customers."}
	resp, _ := ask(t, "What are your opening hours?", []Passage{hours}, "")
	want := `From "Store": "Opening hours: Monday–Friday: 9:00–20:00; Saturday: 9:00–14:00; Sunday: closed" [1]`
	if resp.Text != want {
		t.Fatalf("answer:\n%s\nwant:\n%s", resp.Text, want)
	}
}

func TestALongSentenceIsShortenedAtAWordBoundary(t *testing.T) {
	t.Parallel()
	long := "Our warranty covers " + strings.Repeat("manufacturing defects in materials and workmanship ", 12) + "for two years."
	resp, _ := ask(t, "How long is the warranty?", []Passage{{DocumentID: "w", Title: "Warranty", Text: long}}, "")
	if !strings.Contains(resp.Text, "…") || utf8.RuneCountInString(resp.Text) > 400 {
		t.Fatalf("answer (%d chars): %s", utf8.RuneCountInString(resp.Text), resp.Text)
	}
}

func TestSentenceSplittingKeepsPricesAbbreviationsAndOrdinalsTogether(t *testing.T) {
	t.Parallel()
	got := splitSentences("Shipping costs €4.99 e.g. to Split. Wir haben am 24. Dezember geschlossen! Dostava npr. u Zagreb traje 2 dana. Visit www.shop.hr today.")
	want := []string{"Shipping costs €4.99 e.g. to Split.", "Wir haben am 24. Dezember geschlossen!", "Dostava npr. u Zagreb traje 2 dana.", "Visit www.shop.hr today."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestWordPiecesConcatenateBackToTheText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "one", "  leading and trailing  ", "From \"A\": \"x y z\" [1]\nFrom \"B\": \"q\" [2]", "ćevapi u lepinji s kajmakom i lukom"} {
		if got := strings.Join(wordPieces(s, 3), ""); got != s {
			t.Fatalf("%q came back as %q", s, got)
		}
	}
}
