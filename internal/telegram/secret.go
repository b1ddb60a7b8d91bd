package telegram

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// SecretHeader carries the webhook's secret_token on every update POST.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// NewSecretToken returns a fresh webhook secret: 32 random bytes as
// unpadded base64url, 43 characters of [A-Za-z0-9_-] — within Telegram's
// 1–256 characters of that alphabet.
func NewSecretToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it aborts the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CheckSecret reports whether header (the SecretHeader value) equals the
// secret registered with SetWebhook, in constant time. An empty want never
// matches, so a bot without a registered secret accepts nothing.
func CheckSecret(header, want string) bool {
	if want == "" {
		return false
	}
	hh := sha256.Sum256([]byte(header))
	hw := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(hh[:], hw[:]) == 1
}

// ValidSecretToken reports whether s is acceptable to setWebhook as a
// secret_token: 1–256 characters of A-Z, a-z, 0-9, _ and -.
func ValidSecretToken(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !secretChar(r) {
			return false
		}
	}
	return true
}
