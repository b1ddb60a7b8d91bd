package channels

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
)

// WebConfig is the web widget's settings.
type WebConfig struct {
	// AllowedOrigins are the sites that may embed the widget, as origins
	// (scheme://host[:port]). Empty allows none.
	AllowedOrigins []string `json:"allowed_origins"`
	Title          string   `json:"title"`
	AccentColor    string   `json:"accent_color"`
	Greeting       string   `json:"greeting"`
	Position       string   `json:"position"` // right | left
	AvatarURL      string   `json:"avatar_url"`
	Suggestions    []string `json:"suggestions"`
	// Language is en, hr or de; "" follows the visitor's browser.
	Language string `json:"language"`
	// IdentityVerification makes the channel require a signature from the
	// tenant's backend for a visitor's user id (see the widget sessions).
	IdentityVerification bool `json:"identity_verification"`
}

// Languages the widget's own strings are translated into.
var Languages = []string{"en", "hr", "de"}

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// parseWebConfig reads and validates a web channel's config strictly;
// errors name fields as config.<name>.
func parseWebConfig(raw json.RawMessage) (WebConfig, error) {
	cfg := WebConfig{Title: "Chat with us", AccentColor: "#2563eb", Position: "right"}
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			var typ *json.UnmarshalTypeError
			switch {
			case errors.As(err, &typ):
				return cfg, apperr.Field("config."+typ.Field, "has the wrong type")
			case strings.HasPrefix(err.Error(), "json: unknown field "):
				return cfg, apperr.Field("config."+strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known setting")
			}
			return cfg, apperr.Field("config", "must be an object")
		}
		if _, err := dec.Token(); err != io.EOF {
			return cfg, apperr.Field("config", "must be one object")
		}
	}
	var fe apperr.Fields
	if len(cfg.AllowedOrigins) > 50 {
		fe.Add("config.allowed_origins", "at most 50 origins")
	}
	for i, o := range cfg.AllowedOrigins {
		norm, err := NormaliseOrigin(o)
		if err != nil {
			fe.Add(fmt.Sprintf("config.allowed_origins[%d]", i), err.Error())
			continue
		}
		cfg.AllowedOrigins[i] = norm
	}
	if cfg.AllowedOrigins == nil {
		cfg.AllowedOrigins = []string{}
	}
	if utf8.RuneCountInString(cfg.Title) > 60 || strings.TrimSpace(cfg.Title) == "" {
		fe.Add("config.title", "is required, at most 60 characters")
	}
	if !hexColour.MatchString(cfg.AccentColor) {
		fe.Add("config.accent_color", "must be a colour like #2563eb")
	}
	if utf8.RuneCountInString(cfg.Greeting) > 500 {
		fe.Add("config.greeting", "must be at most 500 characters")
	}
	if cfg.Position != "right" && cfg.Position != "left" {
		fe.Add("config.position", "must be right or left")
	}
	if cfg.AvatarURL != "" {
		u, err := url.Parse(cfg.AvatarURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(cfg.AvatarURL) > 500 {
			fe.Add("config.avatar_url", "must be an https URL")
		}
	}
	if len(cfg.Suggestions) > 6 {
		fe.Add("config.suggestions", "at most 6 suggestions")
	}
	for i, s := range cfg.Suggestions {
		if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > 80 {
			fe.Add(fmt.Sprintf("config.suggestions[%d]", i), "must be 1 to 80 characters")
		}
	}
	if cfg.Suggestions == nil {
		cfg.Suggestions = []string{}
	}
	switch cfg.Language {
	case "", "en", "hr", "de":
	default:
		fe.Add("config.language", "must be en, hr, de or empty (follow the browser)")
	}
	return cfg, fe.Err()
}

// NormaliseOrigin turns "https://Example.com:443/" into "https://example.com".
func NormaliseOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be an origin such as https://www.example.com")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	if strings.Contains(u.Hostname(), ":") { // IPv6 literal
		host = "[" + strings.ToLower(u.Hostname()) + "]"
		if port != "" {
			host += ":" + port
		}
	}
	return u.Scheme + "://" + host, nil
}

// AllowsOrigin reports whether origin may embed the widget.
func (c WebConfig) AllowsOrigin(origin string) bool {
	norm, err := NormaliseOrigin(origin)
	if err != nil {
		return false
	}
	for _, o := range c.AllowedOrigins {
		if o == norm {
			return true
		}
	}
	return false
}
