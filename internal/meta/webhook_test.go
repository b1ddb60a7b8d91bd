package meta

import (
	"net/url"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/meta/metafake"
)

func TestVerifySignatureAcceptsOnlyTheHMACOfTheRawBody(t *testing.T) {
	t.Parallel()
	const secret = "app-secret"
	body := metafake.WhatsAppText("1065", "16505551234", "Zoë", "wamid.1", "héllo 👋")
	good := metafake.Sign(secret, body)
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"good signature", secret, body, good, true},
		{"uppercase hex is the same digest", secret, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), true},
		{"missing header", secret, body, "", false},
		{"wrong prefix", secret, body, "sha1=" + strings.TrimPrefix(good, "sha256="), false},
		{"no prefix", secret, body, strings.TrimPrefix(good, "sha256="), false},
		{"not hex", secret, body, "sha256=zz" + good[9:], false},
		{"truncated", secret, body, good[:len(good)-2], false},
		{"wrong secret", "other-secret", body, good, false},
		{"empty secret never verifies", "", body, metafake.Sign("", body), false},
		{"body changed by one byte", secret, append([]byte(" "), body...), good, false},
		{"re-serialised JSON does not match", secret, []byte(strings.ReplaceAll(string(body), `\u00eb`, "ë")), good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := VerifySignature(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyChallengeEchoesTheChallengeOnlyForTheRightToken(t *testing.T) {
	t.Parallel()
	q := func(mode, token, challenge string) url.Values {
		v := url.Values{}
		for k, val := range map[string]string{"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge} {
			if val != "" {
				v.Set(k, val)
			}
		}
		return v
	}
	tests := []struct {
		name   string
		query  url.Values
		token  string
		want   string
		wantOK bool
	}{
		{"subscribe with the right token", q("subscribe", "s3cret", "1158201444"), "s3cret", "1158201444", true},
		{"wrong token", q("subscribe", "guess", "1158201444"), "s3cret", "", false},
		{"token differs in length", q("subscribe", "s3cret-longer", "1"), "s3cret", "", false},
		{"wrong mode", q("unsubscribe", "s3cret", "1"), "s3cret", "", false},
		{"missing mode", q("", "s3cret", "1"), "s3cret", "", false},
		{"missing challenge", q("subscribe", "s3cret", ""), "s3cret", "", false},
		{"unconfigured token never matches", q("subscribe", "", "1"), "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := VerifyChallenge(tt.query, tt.token)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("VerifyChallenge = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
