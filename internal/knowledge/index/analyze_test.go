package index

import (
	"slices"
	"strings"
	"testing"
)

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"lowercases and stems English words", "Running Mice were STUDIED", []string{"run", "mice", "were", "studi"}},
		{"folds common Latin diacritics", "Café naïve Škoda Müller Straße Łódź Æther", []string{"cafe", "naiv", "skoda", "muller", "strass", "lodz", "aether"}},
		{"folds a decomposed accent like the precomposed letter", "cafe\u0301 café", []string{"cafe", "cafe"}},
		{"splits hyphenated words into their parts", "state-of-the-art IL-6", []string{"state", "art", "il", "6"}},
		{"keeps digits inside words", "COVID19 p53 h1n1 1990s", []string{"covid19", "p53", "h1n1", "1990s"}},
		{"splits numbers at punctuation", "3.5 mg/kg 1,000", []string{"3", "5", "mg", "kg", "1", "000"}},
		{"drops Lucene's English stop words", "The effect of a drug is not such that it will", []string{"effect", "drug"}},
		{"keeps words outside the short stop list", "after during were", []string{"after", "dure", "were"}},
		{"drops words longer than 64 bytes", strings.Repeat("7", 65) + " " + strings.Repeat("8", 64), []string{strings.Repeat("8", 64)}},
		{"returns nothing for empty text", "", nil},
		{"returns nothing for punctuation only", " ,;!? -- ... ", nil},
		{"makes each Han ideograph a term", "中文检索", []string{"中", "文", "检", "索"}},
		{"keeps non-Latin words whole and unstemmed", "Привет мир TNF-α", []string{"привет", "мир", "tnf", "α"}},
		{"treats invalid UTF-8 as a separator", "abc\xffdef", []string{"abc", "def"}},
		{"splits at apostrophes", "patient's", []string{"patient", "s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Analyze(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("Analyze(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestAnalyzeDoesNotAllocatePerWord(t *testing.T) {
	text := strings.Repeat("Patients receiving higher doses showed improved outcomes. ", 20)
	var a analyzer
	allocs := testing.AllocsPerRun(10, func() {
		a.run(text, func([]byte) {})
	})
	if allocs > 0 {
		t.Errorf("analysing a chunk allocated %v times, want 0", allocs)
	}
}
