package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
)

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return h
}

func TestHashPasswordThenVerifyAcceptsOnlyTheSamePassword(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	h := mustHash(t, pw)
	tests := []struct {
		name, pw string
		want     bool
	}{
		{"same password", pw, true},
		{"different password", "correct horse battery stapler", false},
		{"different case", strings.ToUpper(pw), false},
		{"trailing space", pw + " ", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.VerifyPassword(h, tt.pw)
			if err != nil {
				t.Fatalf("VerifyPassword error = %v", err)
			}
			if got != tt.want {
				t.Errorf("VerifyPassword(hash of %q, %q) = %v, want %v", pw, tt.pw, got, tt.want)
			}
		})
	}
}

func TestHashPasswordUsesOWASPArgon2idParametersInPHCFormat(t *testing.T) {
	t.Parallel()
	h := mustHash(t, "a long enough password")
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(h, prefix) {
		t.Fatalf("hash = %q, want prefix %q", h, prefix)
	}
	parts := strings.Split(strings.TrimPrefix(h, prefix), "$")
	if len(parts) != 2 {
		t.Fatalf("hash = %q, want salt$key after the parameters", h)
	}
	// 16-byte salt and 32-byte key, raw standard base64.
	if got := []int{len(parts[0]), len(parts[1])}; !cmp.Equal(got, []int{22, 43}) {
		t.Errorf("salt and key lengths = %v characters, want [22 43]", got)
	}
	if strings.Contains(h, "a long enough password") {
		t.Error("hash contains the password")
	}
}

func TestHashingOnePasswordTwiceGivesDifferentSaltedHashes(t *testing.T) {
	t.Parallel()
	const pw = "same password twice"
	a, b := mustHash(t, pw), mustHash(t, pw)
	if a == b {
		t.Fatalf("two hashes of one password are identical: %q", a)
	}
	saltOf := func(h string) string { return strings.Split(h, "$")[4] }
	if saltOf(a) == saltOf(b) {
		t.Errorf("two hashes share the salt %q", saltOf(a))
	}
	for _, h := range []string{a, b} {
		if ok, err := auth.VerifyPassword(h, pw); err != nil || !ok {
			t.Errorf("VerifyPassword(%q) = %v, %v; want true, nil", h, ok, err)
		}
	}
}

func TestVerifyPasswordRejectsMalformedHashesWithAnError(t *testing.T) {
	t.Parallel()
	good := mustHash(t, "a long enough password")
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct {
		name, hash string
	}{
		{"empty", ""},
		{"plain text", "a long enough password"},
		{"bcrypt", "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"too few parts", strings.Join(parts[:5], "$")},
		{"too many parts", good + "$extra"},
		{"argon2i", with(1, "argon2i")},
		{"argon2d", with(1, "argon2d")},
		{"old version", with(2, "v=16")},
		{"version not a number", with(2, "v=x")},
		{"missing version", with(2, "19")},
		{"parameters not numbers", with(3, "m=a,t=b,p=c")},
		{"parameters missing", with(3, "")},
		{"parallelism out of range", with(3, "m=19456,t=2,p=256")},
		{"salt not base64", with(4, "!!!!")},
		{"key not base64", with(5, "!!!!")},
		{"padded key", with(5, parts[5]+"=")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := auth.VerifyPassword(tt.hash, "a long enough password")
			if err == nil {
				t.Errorf("VerifyPassword(%q) = %v, nil; want an error", tt.hash, ok)
			}
			if ok {
				t.Errorf("VerifyPassword(%q) = true for a malformed hash", tt.hash)
			}
		})
	}
}

// Known bug: VerifyPassword passes parameters and the key length straight
// from the hash to argon2.IDKey, which panics for t=0, p=0 or an empty key.
// The panic also happens while a hashSlots token is held, so each one
// permanently removes one of the four hashing slots.
func TestVerifyPasswordRejectsDegenerateParametersWithoutPanicking(t *testing.T) {
	t.Parallel()
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"
	for _, h := range []string{
		"$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
	} {
		ok, err := auth.VerifyPassword(h, "anything at all")
		if err == nil || ok {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", h, ok, err)
		}
	}
}

func TestCheckPasswordPolicyEnforcesLengthInCharactersAndUTF8NamingTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pw      string
		wantErr bool
	}{
		{"empty", "", true},
		{"one short of the minimum", strings.Repeat("a", auth.MinPasswordLen-1), true},
		{"exactly the minimum", strings.Repeat("a", auth.MinPasswordLen), false},
		{"exactly the maximum", strings.Repeat("a", auth.MaxPasswordLen), false},
		{"one over the maximum", strings.Repeat("a", auth.MaxPasswordLen+1), true},
		{"a megabyte", strings.Repeat("a", 1<<20), true},
		// Lengths count characters, not bytes.
		{"minimum in two-byte characters", strings.Repeat("é", auth.MinPasswordLen), false},
		{"short in two-byte characters", strings.Repeat("é", auth.MinPasswordLen-1), true},
		{"maximum in four-byte characters", strings.Repeat("🔑", auth.MaxPasswordLen), false},
		{"invalid UTF-8", "valid-prefix-\xff\xfe-suffix", true},
		{"truncated multi-byte sequence", strings.Repeat("a", 12) + "\xe2\x82", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := auth.CheckPasswordPolicy("new_password", tt.pw)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("CheckPasswordPolicy(%d bytes) = %v, want nil", len(tt.pw), err)
				}
				return
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("CheckPasswordPolicy(%d bytes) = %v, want *apperr.Error", len(tt.pw), err)
			}
			if ae.Kind != apperr.Invalid {
				t.Errorf("Kind = %v, want Invalid", ae.Kind)
			}
			if len(ae.Fields) != 1 || ae.Fields[0].Field != "new_password" || ae.Fields[0].Message == "" {
				t.Errorf("Fields = %+v, want one error naming new_password with a message", ae.Fields)
			}
		})
	}
}

func TestCheckPasswordPolicyReportsUTF8BeforeLength(t *testing.T) {
	t.Parallel()
	// Short and invalid: the UTF-8 problem is the one to report.
	err := auth.CheckPasswordPolicy("password", "\xff")
	var ae *apperr.Error
	if !errors.As(err, &ae) || len(ae.Fields) != 1 {
		t.Fatalf("CheckPasswordPolicy = %v, want one field error", err)
	}
	if !strings.Contains(ae.Fields[0].Message, "UTF-8") {
		t.Errorf("message = %q, want it to mention UTF-8", ae.Fields[0].Message)
	}
}
