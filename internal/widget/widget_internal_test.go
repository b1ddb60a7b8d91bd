package widget

import (
	"bytes"
	"compress/gzip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/secrets"
)

func TestWidgetScriptsAndStylesFitIn30KBGzipped(t *testing.T) {
	t.Parallel()
	total := 0
	for name, b := range AssetSizes() {
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		t.Logf("%s: %d bytes, %d gzipped", name, len(b), buf.Len())
		total += buf.Len()
	}
	if total > 30*1024 {
		t.Fatalf("widget assets are %d bytes gzipped, over the 30 KB budget", total)
	}
}

// The frame runs under a CSP without unsafe-eval or unsafe-inline, and
// message text must never be parsed as HTML: none of these may appear.
func TestWidgetScriptsNeverParseHTMLOrEvaluateStrings(t *testing.T) {
	t.Parallel()
	forbidden := regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*["'\x60]|setInterval\(\s*["'\x60]`)
	for name, b := range AssetSizes() {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		if m := forbidden.Find(b); m != nil {
			t.Errorf("%s uses %q", name, m)
		}
	}
}

func testKeyring(t *testing.T, seed byte) *secrets.Keyring {
	k, err := secrets.NewKeyring(bytes.Repeat([]byte{seed}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVisitorTokensVerifyOnlyUntamperedUnexpiredAndUnderTheRightKey(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t, 1)
	now := time.Unix(1_800_000_000, 0)
	v := Visitor{TenantID: "t", ChannelID: "c", ExternalID: "v_1", Expires: now.Add(time.Hour).Unix()}
	tok := signToken(keys, v)
	got, err := verifyToken(keys, tok, now)
	if err != nil || got != v {
		t.Fatalf("verify = %+v, %v", got, err)
	}
	payload, mac, _ := strings.Cut(tok, ".")
	flipped := []byte(payload)
	flipped[3] ^= 1
	for name, bad := range map[string]string{
		"tampered payload": string(flipped) + "." + mac,
		"no mac":           payload,
		"garbage mac":      payload + ".AAAA",
		"empty":            "",
		"too long":         strings.Repeat("a", 2000),
	} {
		if _, err := verifyToken(keys, bad, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := verifyToken(keys, tok, now.Add(2*time.Hour)); err == nil {
		t.Error("expired token accepted")
	}
	if _, err := verifyToken(testKeyring(t, 2), tok, now); err == nil {
		t.Error("token verified under another server key")
	}
}

func TestIdentitySignaturesExpireAndBindTheUser(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	sig := SignIdentity("secret", "user-42", now.Unix())
	cases := []struct {
		name   string
		secret string
		user   string
		ts     int64
		sig    string
		want   bool
	}{
		{"valid", "secret", "user-42", now.Unix(), sig, true},
		{"upper-case hex", "secret", "user-42", now.Unix(), strings.ToUpper(sig), true},
		{"other user", "secret", "user-43", now.Unix(), sig, false},
		{"other secret", "other", "user-42", now.Unix(), sig, false},
		{"replayed after 11 minutes", "secret", "user-42", now.Add(-11 * time.Minute).Unix(), SignIdentity("secret", "user-42", now.Add(-11*time.Minute).Unix()), false},
		{"from the future", "secret", "user-42", now.Add(11 * time.Minute).Unix(), SignIdentity("secret", "user-42", now.Add(11*time.Minute).Unix()), false},
		{"no secret configured", "", "user-42", now.Unix(), SignIdentity("", "user-42", now.Unix()), false},
	}
	for _, c := range cases {
		if got := verifyIdentity(c.secret, c.user, c.ts, c.sig, now); got != c.want {
			t.Errorf("%s: verify = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLanguageComesFromTheChannelThenTheBrowser(t *testing.T) {
	t.Parallel()
	cases := []struct{ channel, browser, accept, want string }{
		{"de", "hr-HR", "", "de"},
		{"", "hr-HR", "", "hr"},
		{"", "", "fr-FR,de;q=0.8", "de"},
		{"", "fr", "fr", "en"},
		{"", "", "", "en"},
	}
	for _, c := range cases {
		if got := chooseLanguage(c.channel, c.browser, c.accept); got != c.want {
			t.Errorf("chooseLanguage(%q, %q, %q) = %q, want %q", c.channel, c.browser, c.accept, got, c.want)
		}
	}
	for lang, strs := range catalogue {
		for k := range catalogue["en"] {
			if strs[k] == "" {
				t.Errorf("%s lacks the string %q", lang, k)
			}
		}
	}
}
