package channels

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
)

// Provider channel types: WhatsApp, Messenger and Instagram share one Meta
// implementation; Telegram has its own.
var providerTypes = map[string]bool{"whatsapp": true, "messenger": true, "instagram": true, "telegram": true}

// IsProvider reports whether a channel type delivers through a provider.
func IsProvider(typ string) bool { return providerTypes[typ] }

// IsMeta reports whether a channel type is one of Meta's.
func IsMeta(typ string) bool { return typ == "whatsapp" || typ == "messenger" || typ == "instagram" }

// ProviderConfig is the visible part of a provider channel's settings;
// secrets appear only masked (their last four characters).
type ProviderConfig struct {
	PhoneNumberID string `json:"phone_number_id,omitempty"` // whatsapp
	PageID        string `json:"page_id,omitempty"`         // messenger, instagram (the Page or IG account id)
	AccessToken   string `json:"access_token,omitempty"`
	AppSecret     string `json:"app_secret,omitempty"`
	VerifyToken   string `json:"verify_token,omitempty"`
	BotToken      string `json:"bot_token,omitempty"` // telegram
}

// ProviderSecrets are a provider channel's secrets, sealed at rest.
type ProviderSecrets struct {
	AccessToken   string `json:"access_token,omitempty"`
	AppSecret     string `json:"app_secret,omitempty"`
	VerifyToken   string `json:"verify_token,omitempty"`
	BotToken      string `json:"bot_token,omitempty"`
	TelegramToken string `json:"telegram_secret,omitempty"` // secret_token given to setWebhook
}

var (
	numericID     = regexp.MustCompile(`^[0-9]{1,32}$`)
	telegramToken = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$`)
)

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	if len(secret) <= 8 {
		return "••••"
	}
	return "••••" + secret[len(secret)-4:]
}

// parseProviderConfig validates a provider channel's config. Secrets left
// out (or sent back masked) keep their current values (old); a missing
// verify token is generated. It returns the visible config, the secrets and
// the routing account id.
func parseProviderConfig(typ string, raw json.RawMessage, old ProviderSecrets, oldCfg ProviderConfig) (ProviderConfig, ProviderSecrets, string, error) {
	var in ProviderConfig
	var fe apperr.Fields
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return ProviderConfig{}, ProviderSecrets{}, "", apperr.Field("config", "is not a valid "+typ+" config: "+err.Error())
		}
	}
	sec := old
	keep := func(v string) bool { return v == "" || strings.HasPrefix(v, "••••") }
	secret := func(field, v string, dst *string, required bool) {
		v = strings.TrimSpace(v)
		switch {
		case !keep(v):
			if len(v) > 1024 || strings.ContainsAny(v, " \t\r\n") {
				fe.Add("config."+field, "is not a valid secret")
				return
			}
			*dst = v
		case *dst == "" && required:
			fe.Add("config."+field, "is required")
		}
	}
	out := oldCfg
	account := ""
	switch typ {
	case "whatsapp", "messenger", "instagram":
		idField, id := "page_id", &out.PageID
		if typ == "whatsapp" {
			idField, id = "phone_number_id", &out.PhoneNumberID
		}
		v := in.PageID
		if typ == "whatsapp" {
			v = in.PhoneNumberID
			if in.PageID != "" {
				fe.Add("config.page_id", "is not a whatsapp setting (use phone_number_id)")
			}
		} else if in.PhoneNumberID != "" {
			fe.Add("config.phone_number_id", "is only for whatsapp")
		}
		if v = strings.TrimSpace(v); v != "" {
			*id = v
		}
		if !numericID.MatchString(*id) {
			fe.Add("config."+idField, "is required: the numeric id from Meta's console")
		}
		account = *id
		if in.BotToken != "" {
			fe.Add("config.bot_token", "is only for telegram")
		}
		secret("access_token", in.AccessToken, &sec.AccessToken, true)
		secret("app_secret", in.AppSecret, &sec.AppSecret, true)
		secret("verify_token", in.VerifyToken, &sec.VerifyToken, false)
		if sec.VerifyToken == "" {
			sec.VerifyToken = "vt_" + auth.RandomToken(24)
		}
		out.AccessToken, out.AppSecret, out.VerifyToken = mask(sec.AccessToken), mask(sec.AppSecret), mask(sec.VerifyToken)
	case "telegram":
		if in.PhoneNumberID != "" || in.PageID != "" || in.AccessToken != "" || in.AppSecret != "" || in.VerifyToken != "" {
			fe.Add("config", "telegram takes only bot_token")
		}
		secret("bot_token", in.BotToken, &sec.BotToken, true)
		if sec.BotToken != "" && !telegramToken.MatchString(sec.BotToken) {
			fe.Add("config.bot_token", "is not a bot token from @BotFather (123456:ABC…)")
		}
		account, _, _ = strings.Cut(sec.BotToken, ":")
		out = ProviderConfig{BotToken: mask(sec.BotToken)}
	}
	return out, sec, account, fe.Err()
}
