// Package secrets holds the server key and what is derived from it: sealing
// of secrets at rest (AES-256-GCM) and keyed MACs for signed tokens.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the server key length in bytes.
const KeySize = 32

// Keyring derives purpose-bound keys from the server key so that a key used
// to sign one kind of token can never verify another.
type Keyring struct {
	master []byte
}

// NewKeyring wraps a server key of KeySize bytes.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("server key must be %d bytes, got %d", KeySize, len(master))
	}
	return &Keyring{master: append([]byte(nil), master...)}, nil
}

// ParseKey decodes a server key given as base64 (standard or URL alphabet,
// padded or not) or 64 hex digits.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, errors.New("must be 32 bytes, base64 or hex encoded")
}

// LoadOrCreateKeyFile reads the key kept in path, or generates one and keeps
// it there (mode 0600) when the file does not exist yet.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("secret key file %s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read secret key: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data dir: %w", err)
	}
	// Write a complete temporary file and link it into place: the link
	// fails if another process got there first, and nobody ever reads a
	// half-written key.
	tmp, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateKeyFile(path)
		}
		return nil, false, fmt.Errorf("write secret key: %w", err)
	}
	return key, true, nil
}

// Derive returns a 32-byte key bound to purpose.
func (k *Keyring) Derive(purpose string) []byte {
	b, err := hkdf.Key(sha256.New, k.master, nil, "metachat:"+purpose, 32)
	if err != nil {
		panic(err) // only possible for absurd lengths
	}
	return b
}

// Sign returns an HMAC-SHA256 of msg under the purpose-bound key.
func (k *Keyring) Sign(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k.Derive(purpose))
	m.Write(msg)
	return m.Sum(nil)
}

// Verify checks mac in constant time.
func (k *Keyring) Verify(purpose string, msg, mac []byte) bool {
	return hmac.Equal(k.Sign(purpose, msg), mac)
}

// Seal encrypts plaintext for storage; aad binds the ciphertext to its place
// (for example tenant and channel id) so it cannot be moved to another row.
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	block, err := aes.NewCipher(k.Derive("seal"))
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := gcm.Seal(nonce, nonce, plaintext, aad)
	return "v1." + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal produced with the same aad.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, "v1.")
	if !ok {
		return nil, errors.New("unknown sealed format")
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("decode sealed value: %w", err)
	}
	block, err := aes.NewCipher(k.Derive("seal"))
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(raw) < gcm.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], aad)
}
