// Package widget serves the web-chat widget: the loader script, the chat
// frame, visitor sessions and the live WebSocket endpoint.
package widget

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/secrets"
)

// TokenTTL is how long a visitor token lasts; every session call renews it.
const TokenTTL = 30 * 24 * time.Hour

const tokenPurpose = "widget-visitor-token"

// Visitor is what a visitor token asserts.
type Visitor struct {
	TenantID  string `json:"t"`
	ChannelID string `json:"c"`
	// ExternalID identifies the visitor on the channel: "v_<random>" for
	// an anonymous visitor, "user:<id>" for a verified logged-in user.
	ExternalID string `json:"v"`
	Expires    int64  `json:"e"`
}

// signToken returns payload.mac, both base64url.
func signToken(keys *secrets.Keyring, v Visitor) string {
	payload, _ := json.Marshal(v)
	p := base64.RawURLEncoding.EncodeToString(payload)
	mac := keys.Sign(tokenPurpose, []byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(mac)
}

var errBadToken = errors.New("invalid visitor token")

// verifyToken checks the MAC in constant time and the expiry.
func verifyToken(keys *secrets.Keyring, token string, now time.Time) (Visitor, error) {
	var v Visitor
	if len(token) > 1024 {
		return v, errBadToken
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return v, errBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !keys.Verify(tokenPurpose, []byte(p), mac) {
		return v, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(payload, &v) != nil {
		return v, errBadToken
	}
	if now.Unix() >= v.Expires || v.TenantID == "" || v.ChannelID == "" || v.ExternalID == "" {
		return v, errBadToken
	}
	return v, nil
}

// IdentitySkew is how far a signed user timestamp may be from now. The
// signature covers the timestamp, so a captured one stops working after
// this window instead of working forever.
const IdentitySkew = 10 * time.Minute

// SignIdentity is what the tenant's backend computes for a logged-in user:
// hex(HMAC-SHA256(secret, user_id + ":" + unix_timestamp)).
func SignIdentity(secret, userID string, ts int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(userID + ":" + strconv.FormatInt(ts, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

func verifyIdentity(secret, userID string, ts int64, sig string, now time.Time) bool {
	if secret == "" || userID == "" || len(userID) > 200 {
		return false
	}
	d := now.Sub(time.Unix(ts, 0))
	if d > IdentitySkew || d < -IdentitySkew {
		return false
	}
	want := SignIdentity(secret, userID, ts)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(sig)))
}
