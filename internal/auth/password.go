package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/metachat/metachat/internal/apperr"
)

// Argon2id parameters: the OWASP Password Storage Cheat Sheet's first
// recommended configuration (m=19 MiB, t=2, p=1).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashSlots bounds concurrent password hashing: each hash takes 19 MiB, and
// a burst of logins must not exhaust memory.
var hashSlots = make(chan struct{}, 4)

// Password length bounds. The upper bound stops a megabyte "password" from
// becoming a denial of service.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// CheckPasswordPolicy validates a new password, naming field in the error.
func CheckPasswordPolicy(field, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return apperr.Field(field, "must be valid UTF-8")
	case n < MinPasswordLen:
		return apperr.Field(field, fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	case n > MaxPasswordLen:
		return apperr.Field(field, fmt.Sprintf("must be at most %d characters", MaxPasswordLen))
	}
	return nil
}

// HashPassword returns a PHC-format argon2id hash.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a hash from HashPassword in constant time.
func VerifyPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("unknown password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("unsupported argon2 version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) {
		return false, errors.New("bad argon2 parameters")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, err
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, err
	}
	// Refuse degenerate or abusive parameters before hashing: argon2
	// panics on some, and a huge memory cost would be a denial of service.
	if t < 1 || t > 10 || p < 1 || m < 8*uint32(p) || m > 256*1024 || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, errors.New("unsupported argon2 parameters")
	}
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when an email is unknown, so that a wrong
// email and a wrong password take the same time.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("metachat-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
})
