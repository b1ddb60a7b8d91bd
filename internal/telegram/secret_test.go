package telegram

import (
	"strings"
	"testing"
)

func TestNewSecretTokenIsAcceptableToTelegramAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		s := NewSecretToken()
		if len(s) != 43 || !ValidSecretToken(s) {
			t.Fatalf("secret %q: %d chars, valid %v; want 43 valid chars", s, len(s), ValidSecretToken(s))
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
	}
}

func TestValidSecretTokenFollowsTheBotAPIRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		want bool
	}{
		{"a", true},
		{"Az09_-", true},
		{strings.Repeat("x", 256), true},
		{strings.Repeat("x", 257), false},
		{"", false},
		{"has space", false},
		{"slash/", false},
		{"ümlaut", false},
	}
	for _, tt := range tests {
		if got := ValidSecretToken(tt.s); got != tt.want {
			t.Errorf("ValidSecretToken(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestCheckSecretMatchesOnlyTheExactSecret(t *testing.T) {
	t.Parallel()
	const want = "s3cr3t_Token-x"
	tests := []struct {
		name   string
		header string
		secret string
		ok     bool
	}{
		{"exact", want, want, true},
		{"missing header", "", want, false},
		{"different case", strings.ToUpper(want), want, false},
		{"prefix", want[:5], want, false},
		{"longer", want + "x", want, false},
		{"no secret registered never matches", "", "", false},
	}
	for _, tt := range tests {
		if got := CheckSecret(tt.header, tt.secret); got != tt.ok {
			t.Errorf("%s: CheckSecret = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
