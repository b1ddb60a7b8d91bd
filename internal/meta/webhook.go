package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"strings"
)

// SignatureHeader is the header carrying the webhook signature.
const SignatureHeader = "X-Hub-Signature-256"

// MaxWebhookBytes is the largest webhook body Meta documents (3 MB). Read
// request bodies through http.MaxBytesReader with at least this limit.
const MaxWebhookBytes = 3 << 20

// VerifySignature reports whether header (the X-Hub-Signature-256 value,
// "sha256=<hex>") is the HMAC-SHA256 of body under appSecret.
//
// body must be the raw request bytes: Meta signs the payload as sent, with
// non-ASCII characters escaped as \uXXXX, so re-serialised JSON never
// matches. A missing or malformed header, or an empty secret, is false.
// Meta's signature has no timestamp, so a captured request verifies forever:
// deduplicate on provider ids (see the package documentation).
func VerifySignature(appSecret string, body []byte, header string) bool {
	if appSecret == "" {
		return false
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// VerifyChallenge answers the GET handshake Meta makes when a callback URL
// or verify token is saved: hub.mode must be "subscribe" and
// hub.verify_token must equal verifyToken. On success it returns
// hub.challenge, which the handler must send back as the whole body of a 200
// response — as text/plain, since the value comes from the query string and
// must not be rendered as HTML. Anything else should get a 403.
// An empty verifyToken never matches, so an unconfigured channel cannot be
// verified by accident.
func VerifyChallenge(q url.Values, verifyToken string) (challenge string, ok bool) {
	if verifyToken == "" || q.Get("hub.mode") != "subscribe" {
		return "", false
	}
	if !equalSecret(q.Get("hub.verify_token"), verifyToken) {
		return "", false
	}
	challenge = q.Get("hub.challenge")
	if challenge == "" {
		return "", false
	}
	return challenge, true
}

// equalSecret compares two secrets in constant time. Hashing first makes the
// time independent of the lengths too, which subtle.ConstantTimeCompare
// alone would reveal.
func equalSecret(a, b string) bool {
	ha := sha256.Sum256([]byte(a))
	hb := sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
