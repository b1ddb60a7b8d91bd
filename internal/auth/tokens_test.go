package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/auth"
)

func TestNewAPIKeyReturnsARecognisableKeyItsPrefixAndItsHash(t *testing.T) {
	t.Parallel()
	key, prefix, hash := auth.NewAPIKey()
	if !strings.HasPrefix(key, auth.KeyPrefix) || auth.KeyPrefix != "mc_" {
		t.Errorf("key %q does not start with mc_", key)
	}
	if !auth.LooksLikeAPIKey(key) {
		t.Errorf("LooksLikeAPIKey(%q) = false for a fresh key", key)
	}
	if !strings.HasPrefix(key, prefix) {
		t.Errorf("prefix %q is not a prefix of key %q", prefix, key)
	}
	if len(prefix) <= len(auth.KeyPrefix) || len(prefix) >= len(key)/2 {
		t.Errorf("prefix %q should show a few characters past mc_ and far less than the key", prefix)
	}
	if hash != auth.HashToken(key) {
		t.Errorf("hash = %q, want HashToken(key) = %q", hash, auth.HashToken(key))
	}
	if strings.Contains(hash, key[len(auth.KeyPrefix):]) {
		t.Error("hash contains the key")
	}
}

func TestNewAPIKeyNeverRepeats(t *testing.T) {
	t.Parallel()
	keys := map[string]bool{}
	prefixes := map[string]bool{}
	hashes := map[string]bool{}
	for range 1000 {
		key, prefix, hash := auth.NewAPIKey()
		if keys[key] || hashes[hash] {
			t.Fatalf("key %q repeated", key)
		}
		keys[key], prefixes[prefix], hashes[hash] = true, true, true
	}
	// 8 random characters = 48 bits: 1000 prefixes collide with negligible
	// probability, so a repeat means the prefix is not random.
	if len(prefixes) != 1000 {
		t.Errorf("1000 keys share prefixes: only %d distinct", len(prefixes))
	}
}

func TestHashTokenIsHexSHA256(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("mc_example"))
	if got, want := auth.HashToken("mc_example"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("HashToken = %q, want %q", got, want)
	}
	if auth.HashToken("a") == auth.HashToken("b") {
		t.Error("HashToken maps different tokens to one hash")
	}
}

func TestRandomTokenEncodesNBytesURLSafe(t *testing.T) {
	t.Parallel()
	for _, n := range []int{16, 32} {
		tok := auth.RandomToken(n)
		if want := (n*8 + 5) / 6; len(tok) != want {
			t.Errorf("RandomToken(%d) has %d characters, want %d", n, len(tok), want)
		}
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("RandomToken(%d) = %q is not URL-safe unpadded base64", n, tok)
		}
	}
	if a, b := auth.RandomToken(32), auth.RandomToken(32); a == b {
		t.Error("RandomToken repeated")
	}
}

func TestLooksLikeAPIKeyRejectsWrongPrefixLengthOrAlphabet(t *testing.T) {
	t.Parallel()
	key, _, _ := auth.NewAPIKey()
	body := key[len(auth.KeyPrefix):]
	tests := []struct {
		name, s string
	}{
		{"empty", ""},
		{"prefix only", auth.KeyPrefix},
		{"no prefix", body},
		{"wrong prefix", "mk_" + body},
		{"upper-case prefix", "MC_" + body},
		{"one character short", key[:len(key)-1]},
		{"one character long", key + "A"},
		{"padded", key[:len(key)-1] + "="},
		{"standard alphabet plus", key[:len(key)-1] + "+"},
		{"standard alphabet slash", key[:len(key)-1] + "/"},
		{"punctuation", key[:len(key)-1] + "!"},
		{"space", key[:len(key)-1] + " "},
		{"a session id", auth.RandomToken(32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if auth.LooksLikeAPIKey(tt.s) {
				t.Errorf("LooksLikeAPIKey(%q) = true, want false", tt.s)
			}
		})
	}
}
