package index

import "testing"

func TestStemMatchesTheSnowballReferenceVocabulary(t *testing.T) {
	// Pairs from the Snowball project's English vocabulary (voc.txt and
	// output.txt) and the worked examples of the algorithm's description,
	// chosen to exercise every step, the special R1 prefixes and the
	// exceptional forms.
	tests := []struct{ word, stem string }{
		// Step 1a: plurals.
		{"caresses", "caress"},
		{"ponies", "poni"},
		{"ties", "tie"},
		{"cries", "cri"},
		{"gaps", "gap"},
		{"gas", "gas"},
		{"kiwis", "kiwi"},
		{"abyss", "abyss"},
		{"abysses", "abyss"},
		{"actresses", "actress"},
		{"mauvais", "mauvai"},
		// Step 1b: -ed, -ing and repairs.
		{"abandoned", "abandon"},
		{"abed", "abe"},
		{"abhorred", "abhor"},
		{"hopping", "hop"},
		{"hoped", "hope"},
		{"skating", "skate"},
		{"luxuriated", "luxuri"},
		{"added", "ad"},
		{"addled", "addl"},
		{"aged", "age"},
		{"breed", "breed"},
		{"kneeling", "kneel"},
		{"knitting", "knit"},
		{"losing", "lose"},
		{"marred", "mar"},
		// Step 1c: final y.
		{"cry", "cri"},
		{"by", "by"},
		{"say", "say"},
		{"says", "say"},
		{"academy", "academi"},
		{"aery", "aeri"},
		{"afanasy", "afanasi"},
		// Step 2.
		{"abbreviation", "abbrevi"},
		{"fluently", "fluentli"},
		{"knightly", "knight"},
		{"affectionate", "affection"},
		{"abnormality", "abnorm"},
		{"accountability", "account"},
		{"lovelier", "loveli"},
		{"lowliness", "lowli"},
		{"manfully", "man"},
		{"magnetized", "magnet"},
		// Step 3.
		{"aesthetically", "aesthet"},
		{"abjectness", "abject"},
		{"masterful", "master"},
		{"lucrative", "lucrat"},
		{"affirmative", "affirm"},
		// Step 4.
		{"abundance", "abund"},
		{"adjacent", "adjac"},
		{"accidental", "accident"},
		{"agreement", "agreement"},
		{"abandonment", "abandon"},
		{"abortion", "abort"},
		{"accession", "access"},
		{"admission", "admiss"},
		{"luminous", "lumin"},
		{"lunatic", "lunat"},
		// Step 5.
		{"abate", "abat"},
		{"knave", "knave"},
		{"manatee", "manate"},
		{"mademoiselle", "mademoisell"},
		{"maybe", "mayb"},
		// Special R1 prefixes.
		{"generate", "generat"},
		{"generously", "generous"},
		{"generically", "generic"},
		{"communism", "communism"},
		{"communication", "communic"},
		{"arsenic", "arsenic"},
		{"arsenal", "arsenal"},
		// Consonant y.
		{"abeyance", "abey"},
		{"lothbury", "lothburi"},
		{"matvey", "matvey"},
		// Exceptional forms.
		{"skis", "ski"},
		{"skies", "sky"},
		{"dying", "die"},
		{"lying", "lie"},
		{"early", "earli"},
		{"only", "onli"},
		{"news", "news"},
		{"atlas", "atlas"},
		{"innings", "inning"},
		{"outings", "outing"},
		{"proceeded", "proceed"},
		{"exceeding", "exceed"},
		{"succeeds", "succeed"},
		// Words of two letters or less are left alone.
		{"ai", "ai"},
		{"s", "s"},
	}
	for _, tc := range tests {
		if got := string(stem([]byte(tc.word))); got != tc.stem {
			t.Errorf("stem(%q) = %q, want %q", tc.word, got, tc.stem)
		}
	}
}
