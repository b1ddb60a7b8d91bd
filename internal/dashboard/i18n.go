package dashboard

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The interface strings live in i18n/<lang>.json and, per area of the
// dashboard, i18n/<lang>.<area>.json (en.inbox.json): flat objects of
// key → text (keys are dotted by area: "keys.title"), merged per
// language; a key defined twice is an error. A text may hold fmt verbs
// filled by the caller: {{t "login.wait" .Seconds}}. English is complete;
// a key missing in another language falls back to English
// (TestCataloguesComplete keeps them complete).
//
//go:embed i18n/*.json
var i18nFS embed.FS

// language is one interface language, named in itself for the picker.
type language struct {
	Code, Name string
}

// languages are the catalogues, English first (the fallback).
var languages = []language{{"en", "English"}, {"hr", "Hrvatski"}, {"de", "Deutsch"}}

// catalogue maps a language to its strings.
type catalogue map[string]map[string]string

func loadCatalogue() (catalogue, error) {
	c := catalogue{}
	for _, l := range languages {
		files, err := fs.Glob(i18nFS, "i18n/"+l.Code+".*json")
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, f := range files {
			b, err := i18nFS.ReadFile(f)
			if err != nil {
				return nil, err
			}
			part := map[string]string{}
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for k, v := range part {
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("%s: %q is defined in another %s catalogue too", f, k, l.Code)
				}
				m[k] = v
			}
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no catalogue for %s", l.Code)
		}
		c[l.Code] = m
	}
	return c, nil
}

// text is the string for key in lang (else English, else the key itself,
// which makes a missing string visible rather than blank).
func (c catalogue) text(lang, key string, args ...any) string {
	s, ok := c[lang][key]
	if !ok {
		if s, ok = c["en"][key]; !ok {
			return key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// has reports whether key is an English catalogue key (flash cookies name
// only such keys; anything else is ignored).
func (c catalogue) has(key string) bool {
	_, ok := c["en"][key]
	return ok
}

func knownLanguage(code string) bool {
	return slices.ContainsFunc(languages, func(l language) bool { return l.Code == code })
}

// language picks the request's language: the lang cookie, else the best
// Accept-Language match, else English.
func (h *Handler) language(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && knownLanguage(c.Value) {
		return c.Value
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// fromAcceptLanguage returns the known language with the highest q value
// ("hr-HR,hr;q=0.9,en;q=0.8" → hr).
func fromAcceptLanguage(header string) string {
	best, bestQ := "en", -1.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if knownLanguage(primary) && q > bestQ && q > 0 {
			best, bestQ = primary, q
		}
	}
	return best
}

// setLanguage serves GET /app/lang?lang=hr&next=/app/keys: it remembers the
// choice in a cookie for a year and goes back. (A preference, not a state
// change worth a CSRF token: the worst a forged link does is switch the
// interface language.)
func (h *Handler) setLanguage(w http.ResponseWriter, r *http.Request) error {
	lang := r.URL.Query().Get("lang")
	if knownLanguage(lang) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", Expires: h.now().Add(365 * 24 * time.Hour), Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	return h.redirect(w, r, localNext(r.URL.Query().Get("next")), "")
}
