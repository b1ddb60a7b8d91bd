package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// KeyPrefix starts every API key, so secret scanners and people can
// recognise one.
const KeyPrefix = "mc_"

// visiblePrefixLen is how much of a key is stored in clear for display.
const visiblePrefixLen = len(KeyPrefix) + 8

// RandomToken returns n random bytes, base64url encoded without padding.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewAPIKey returns a new 256-bit key, its visible prefix and its hash.
func NewAPIKey() (key, prefix, hash string) {
	key = KeyPrefix + RandomToken(32)
	return key, key[:visiblePrefixLen], HashToken(key)
}

// HashToken is the stored form of a bearer secret (API key, session id,
// invitation or setup token). These are 256-bit random values, so a fast
// hash is safe: there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// LooksLikeAPIKey reports whether s has the shape of a key (cheap check
// before touching the database).
func LooksLikeAPIKey(s string) bool {
	if !strings.HasPrefix(s, KeyPrefix) || len(s) != len(KeyPrefix)+43 {
		return false
	}
	for _, c := range s[len(KeyPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
