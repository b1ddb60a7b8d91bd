package config_test

import (
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/config"
)

// mapEnv is a Lookup backed by a map, so tests never touch the process
// environment and can run in parallel.
func mapEnv(m map[string]string) config.Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// testKey is a valid 32-byte server key.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// summary is the comparable part of a Config (url.URL and netip.Prefix are
// flattened so cmp can compare them).
type summary struct {
	Addr             string
	BaseURL          string
	BaseURLDerived   bool
	DatabaseURL      string
	Embedded         bool
	SecretKey        []byte
	LLMProvider      string
	LLMBaseURL       string
	LLMAPIKey        string
	LLMModel         string
	MetaGraphURL     string
	TelegramAPIURL   string
	LogFormat        string
	LogLevel         string
	MaxBodyBytes     int64
	RateLimitIP      float64
	RateLimitKey     float64
	SessionIdle      time.Duration
	SessionAbsolute  time.Duration
	KeyRotationGrace time.Duration
	TrustedProxies   []string
	SecureCookies    bool
	ChunkWords       int
	ChunkOverlap     int
	Workers          int
}

func summarise(c *config.Config) summary {
	s := summary{
		Addr:             c.Addr,
		BaseURL:          c.BaseURL.String(),
		BaseURLDerived:   c.BaseURLDerived,
		DatabaseURL:      c.DatabaseURL,
		Embedded:         c.Embedded(),
		SecretKey:        c.SecretKey,
		LLMProvider:      c.LLMProvider,
		LLMBaseURL:       c.LLMBaseURL,
		LLMAPIKey:        c.LLMAPIKey,
		LLMModel:         c.LLMModel,
		MetaGraphURL:     c.MetaGraphURL,
		TelegramAPIURL:   c.TelegramAPIURL,
		LogFormat:        c.LogFormat,
		LogLevel:         c.LogLevel,
		MaxBodyBytes:     c.MaxBodyBytes,
		RateLimitIP:      c.RateLimitIP,
		RateLimitKey:     c.RateLimitKey,
		SessionIdle:      c.SessionIdle,
		SessionAbsolute:  c.SessionAbsolute,
		KeyRotationGrace: c.KeyRotationGrace,
		SecureCookies:    c.SecureCookies(),
		ChunkWords:       c.ChunkWords,
		ChunkOverlap:     c.ChunkOverlapWords,
		Workers:          c.Workers,
	}
	for _, p := range c.TrustedProxies {
		s.TrustedProxies = append(s.TrustedProxies, p.String())
	}
	return s
}

func mustLoad(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	c, err := config.Load(mapEnv(env))
	if err != nil {
		t.Fatalf("Load(%v) = %v, want no error", env, err)
	}
	return c
}

func TestLoadWithEmptyEnvironmentUsesDocumentedDefaults(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, nil)
	want := summary{
		Addr:             "127.0.0.1:8080",
		BaseURL:          "http://127.0.0.1:8080",
		BaseURLDerived:   true,
		Embedded:         true,
		LLMProvider:      "extractive",
		MetaGraphURL:     "https://graph.facebook.com/v25.0",
		TelegramAPIURL:   "https://api.telegram.org",
		LogLevel:         "info",
		MaxBodyBytes:     1 << 20,
		RateLimitIP:      20,
		RateLimitKey:     50,
		SessionIdle:      2 * time.Hour,
		SessionAbsolute:  7 * 24 * time.Hour,
		KeyRotationGrace: 24 * time.Hour,
		ChunkWords:       220,
		ChunkOverlap:     30,
		Workers:          100,
	}
	if diff := cmp.Diff(want, summarise(c)); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
	if !filepath.IsAbs(c.DataDir) || filepath.Base(c.DataDir) != "metachat-data" {
		t.Errorf("DataDir = %q, want an absolute path ending in metachat-data", c.DataDir)
	}
	if got, want := c.SQLitePath(), filepath.Join(c.DataDir, "metachat.db"); got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}
	if got, want := c.SecretKeyPath(), filepath.Join(c.DataDir, "secret.key"); got != want {
		t.Errorf("SecretKeyPath() = %q, want %q", got, want)
	}
}

func TestLoadTreatsBlankValuesAsUnsetAndTrimsSpace(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"METACHAT_ADDR":      "  ",
		"METACHAT_LOG_LEVEL": " debug\n",
		"METACHAT_DATA_DIR":  "",
	})
	if c.Addr != "127.0.0.1:8080" {
		t.Errorf("Addr = %q, want the default for a blank value", c.Addr)
	}
	if c.LogLevel != "debug" {
		t.Errorf("LogLevel = %q, want %q (trimmed)", c.LogLevel, "debug")
	}
	if filepath.Base(c.DataDir) != "metachat-data" {
		t.Errorf("DataDir = %q, want the default for an empty value", c.DataDir)
	}
}

func TestLoadDerivesBaseURLFromAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, want string
	}{
		{"127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"0.0.0.0:9000", "http://localhost:9000"},
		{":9000", "http://localhost:9000"},
		{"[::]:9000", "http://localhost:9000"},
		{"[::1]:9000", "http://[::1]:9000"},
		{"chat.internal:80", "http://chat.internal:80"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, map[string]string{"METACHAT_ADDR": tt.addr})
			if got := c.BaseURL.String(); got != tt.want {
				t.Errorf("BaseURL = %q, want %q", got, tt.want)
			}
			if !c.BaseURLDerived {
				t.Error("BaseURLDerived = false for a base URL derived from METACHAT_ADDR")
			}
			if c.SecureCookies() {
				t.Error("SecureCookies() = true for a derived http base URL")
			}
		})
	}
}

func TestLoadSecureCookiesFollowsBaseURLScheme(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base       string
		wantSecure bool
		wantURL    string
	}{
		{"https://chat.example.com", true, "https://chat.example.com"},
		{"https://chat.example.com/app/", true, "https://chat.example.com/app"},
		{"http://chat.example.com/", false, "http://chat.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, map[string]string{"METACHAT_BASE_URL": tt.base})
			if got := c.SecureCookies(); got != tt.wantSecure {
				t.Errorf("SecureCookies() = %v, want %v", got, tt.wantSecure)
			}
			if got := c.BaseURL.String(); got != tt.wantURL {
				t.Errorf("BaseURL = %q, want %q (trailing slash trimmed)", got, tt.wantURL)
			}
			if c.BaseURLDerived {
				t.Error("BaseURLDerived = true for an explicit METACHAT_BASE_URL")
			}
		})
	}
}

func TestLoadAcceptsExplicitValues(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"DATABASE_URL":                 "postgresql://u:p@db:5432/metachat?sslmode=require",
		"METACHAT_SECRET_KEY":          base64.StdEncoding.EncodeToString(testKey),
		"METACHAT_LLM_PROVIDER":        "openai",
		"METACHAT_LLM_MODEL":           "gpt-test",
		"METACHAT_LLM_BASE_URL":        "http://llm.local:11434/v1",
		"METACHAT_LLM_API_KEY":         "sk-test",
		"METACHAT_LOG_FORMAT":          "text",
		"METACHAT_MAX_BODY_BYTES":      "1024",
		"METACHAT_RATE_LIMIT_IP":       "0.5",
		"METACHAT_RATE_LIMIT_KEY":      "1000000",
		"METACHAT_SESSION_IDLE":        "30m",
		"METACHAT_SESSION_ABSOLUTE":    "30m",
		"METACHAT_KEY_ROTATION_GRACE":  "90s",
		"METACHAT_TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.1.1/32,fd00::/8",
		"METACHAT_CHUNK_WORDS":         "120",
		"METACHAT_CHUNK_OVERLAP_WORDS": "0",
		"METACHAT_WORKERS":             "8",
	})
	got := summarise(c)
	if got.Embedded {
		t.Error("Embedded() = true with DATABASE_URL set")
	}
	if diff := cmp.Diff(testKey, got.SecretKey); diff != "" {
		t.Errorf("SecretKey mismatch (-want +got):\n%s", diff)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"LLMProvider", got.LLMProvider, "openai"},
		{"LLMModel", got.LLMModel, "gpt-test"},
		{"LLMBaseURL", got.LLMBaseURL, "http://llm.local:11434/v1"},
		{"LLMAPIKey", got.LLMAPIKey, "sk-test"},
		{"LogFormat", got.LogFormat, "text"},
		{"MaxBodyBytes", got.MaxBodyBytes, int64(1024)},
		{"RateLimitIP", got.RateLimitIP, 0.5},
		{"RateLimitKey", got.RateLimitKey, 1e6},
		{"SessionIdle", got.SessionIdle, 30 * time.Minute},
		{"SessionAbsolute", got.SessionAbsolute, 30 * time.Minute},
		{"KeyRotationGrace", got.KeyRotationGrace, 90 * time.Second},
		{"TrustedProxies", got.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.1/32", "fd00::/8"}},
		{"ChunkWords", got.ChunkWords, 120},
		{"ChunkOverlap", got.ChunkOverlap, 0},
		{"Workers", got.Workers, 8},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", ch.name, diff)
		}
	}
	if want := netip.MustParsePrefix("10.0.0.0/8"); c.TrustedProxies[0] != want {
		t.Errorf("TrustedProxies[0] = %v, want %v", c.TrustedProxies[0], want)
	}
}

func TestLoadRejectsBadValuesNamingTheVariableInOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"addr without port", map[string]string{"METACHAT_ADDR": "localhost"}, "METACHAT_ADDR"},
		{"addr that is a URL", map[string]string{"METACHAT_ADDR": "http://localhost:8080"}, "METACHAT_ADDR"},
		{"base url with ftp scheme", map[string]string{"METACHAT_BASE_URL": "ftp://chat.example.com"}, "METACHAT_BASE_URL"},
		{"base url relative", map[string]string{"METACHAT_BASE_URL": "/chat"}, "METACHAT_BASE_URL"},
		{"base url without host", map[string]string{"METACHAT_BASE_URL": "https://"}, "METACHAT_BASE_URL"},
		{"base url with query", map[string]string{"METACHAT_BASE_URL": "https://chat.example.com/?a=1"}, "METACHAT_BASE_URL"},
		{"base url with fragment", map[string]string{"METACHAT_BASE_URL": "https://chat.example.com/#top"}, "METACHAT_BASE_URL"},
		{"base url unparsable", map[string]string{"METACHAT_BASE_URL": "https://chat example.com:x"}, "METACHAT_BASE_URL"},
		{"database url mysql", map[string]string{"DATABASE_URL": "mysql://u@db/metachat"}, "DATABASE_URL"},
		{"database url sqlite", map[string]string{"DATABASE_URL": "sqlite:///var/lib/metachat.db"}, "DATABASE_URL"},
		{"database url bare path", map[string]string{"DATABASE_URL": "/var/lib/metachat.db"}, "DATABASE_URL"},
		{"secret key not encoded", map[string]string{"METACHAT_SECRET_KEY": "correct horse battery staple"}, "METACHAT_SECRET_KEY"},
		{"secret key too short", map[string]string{"METACHAT_SECRET_KEY": base64.StdEncoding.EncodeToString(testKey[:16])}, "METACHAT_SECRET_KEY"},
		{"secret key and file both set", map[string]string{
			"METACHAT_SECRET_KEY":      base64.StdEncoding.EncodeToString(testKey),
			"METACHAT_SECRET_KEY_FILE": "/run/secrets/metachat",
		}, "METACHAT_SECRET_KEY"},
		{"secret key file missing", map[string]string{"METACHAT_SECRET_KEY_FILE": "/nonexistent/metachat/secret.key"}, "METACHAT_SECRET_KEY_FILE"},
		{"llm api key and file both set", map[string]string{
			"METACHAT_LLM_API_KEY":      "sk-1",
			"METACHAT_LLM_API_KEY_FILE": "/run/secrets/llm",
		}, "METACHAT_LLM_API_KEY"},
		{"llm provider unknown", map[string]string{"METACHAT_LLM_PROVIDER": "gpt"}, "METACHAT_LLM_PROVIDER"},
		{"openai without model", map[string]string{"METACHAT_LLM_PROVIDER": "openai"}, "METACHAT_LLM_MODEL"},
		{"anthropic without model", map[string]string{"METACHAT_LLM_PROVIDER": "anthropic"}, "METACHAT_LLM_MODEL"},
		{"llm base url not http", map[string]string{"METACHAT_LLM_BASE_URL": "localhost:11434"}, "METACHAT_LLM_BASE_URL"},
		{"meta graph url without host", map[string]string{"METACHAT_META_GRAPH_URL": "https:///v21.0"}, "METACHAT_META_GRAPH_URL"},
		{"telegram url not http", map[string]string{"METACHAT_TELEGRAM_API_URL": "tg://api"}, "METACHAT_TELEGRAM_API_URL"},
		{"log format xml", map[string]string{"METACHAT_LOG_FORMAT": "xml"}, "METACHAT_LOG_FORMAT"},
		{"log format wrong case", map[string]string{"METACHAT_LOG_FORMAT": "JSON"}, "METACHAT_LOG_FORMAT"},
		{"log level verbose", map[string]string{"METACHAT_LOG_LEVEL": "verbose"}, "METACHAT_LOG_LEVEL"},
		{"max body below minimum", map[string]string{"METACHAT_MAX_BODY_BYTES": "1023"}, "METACHAT_MAX_BODY_BYTES"},
		{"max body above maximum", map[string]string{"METACHAT_MAX_BODY_BYTES": "1073741825"}, "METACHAT_MAX_BODY_BYTES"},
		{"max body negative", map[string]string{"METACHAT_MAX_BODY_BYTES": "-4096"}, "METACHAT_MAX_BODY_BYTES"},
		{"max body with unit", map[string]string{"METACHAT_MAX_BODY_BYTES": "1MB"}, "METACHAT_MAX_BODY_BYTES"},
		{"rate limit ip zero", map[string]string{"METACHAT_RATE_LIMIT_IP": "0"}, "METACHAT_RATE_LIMIT_IP"},
		{"rate limit ip negative", map[string]string{"METACHAT_RATE_LIMIT_IP": "-1"}, "METACHAT_RATE_LIMIT_IP"},
		{"rate limit ip word", map[string]string{"METACHAT_RATE_LIMIT_IP": "fast"}, "METACHAT_RATE_LIMIT_IP"},
		{"rate limit key too high", map[string]string{"METACHAT_RATE_LIMIT_KEY": "1e7"}, "METACHAT_RATE_LIMIT_KEY"},
		{"rate limit key infinite", map[string]string{"METACHAT_RATE_LIMIT_KEY": "+Inf"}, "METACHAT_RATE_LIMIT_KEY"},
		{"session idle not a duration", map[string]string{"METACHAT_SESSION_IDLE": "forever"}, "METACHAT_SESSION_IDLE"},
		{"session idle zero", map[string]string{"METACHAT_SESSION_IDLE": "0s"}, "METACHAT_SESSION_IDLE"},
		{"session idle negative", map[string]string{"METACHAT_SESSION_IDLE": "-1h"}, "METACHAT_SESSION_IDLE"},
		{"session absolute without unit", map[string]string{"METACHAT_SESSION_ABSOLUTE": "12"}, "METACHAT_SESSION_ABSOLUTE"},
		{"key rotation grace zero", map[string]string{"METACHAT_KEY_ROTATION_GRACE": "0"}, "METACHAT_KEY_ROTATION_GRACE"},
		{"session idle exceeds absolute", map[string]string{
			"METACHAT_SESSION_IDLE":     "48h",
			"METACHAT_SESSION_ABSOLUTE": "24h",
		}, "METACHAT_SESSION_IDLE"},
		{"session idle exceeds default absolute", map[string]string{"METACHAT_SESSION_IDLE": "169h"}, "METACHAT_SESSION_IDLE"},
		{"trusted proxies with a bare address", map[string]string{"METACHAT_TRUSTED_PROXIES": "10.0.0.1"}, "METACHAT_TRUSTED_PROXIES"},
		{"trusted proxies with a bad second entry", map[string]string{"METACHAT_TRUSTED_PROXIES": "10.0.0.0/8,not-a-cidr"}, "METACHAT_TRUSTED_PROXIES"},
		{"trusted proxies with an empty entry", map[string]string{"METACHAT_TRUSTED_PROXIES": "10.0.0.0/8,,192.168.0.0/16"}, "METACHAT_TRUSTED_PROXIES"},
		{"chunk words below minimum", map[string]string{"METACHAT_CHUNK_WORDS": "49"}, "METACHAT_CHUNK_WORDS"},
		{"chunk words above maximum", map[string]string{"METACHAT_CHUNK_WORDS": "2001"}, "METACHAT_CHUNK_WORDS"},
		{"chunk words not a number", map[string]string{"METACHAT_CHUNK_WORDS": "big"}, "METACHAT_CHUNK_WORDS"},
		{"no workers", map[string]string{"METACHAT_WORKERS": "0"}, "METACHAT_WORKERS"},
		{"workers not a number", map[string]string{"METACHAT_WORKERS": "many"}, "METACHAT_WORKERS"},
		{"chunk overlap negative", map[string]string{"METACHAT_CHUNK_OVERLAP_WORDS": "-1"}, "METACHAT_CHUNK_OVERLAP_WORDS"},
		{"chunk overlap over half the default chunk", map[string]string{"METACHAT_CHUNK_OVERLAP_WORDS": "111"}, "METACHAT_CHUNK_OVERLAP_WORDS"},
		{"chunk overlap over half the chunk", map[string]string{"METACHAT_CHUNK_WORDS": "100", "METACHAT_CHUNK_OVERLAP_WORDS": "51"}, "METACHAT_CHUNK_OVERLAP_WORDS"},
		{"trusted proxies with an embedded newline", map[string]string{"METACHAT_TRUSTED_PROXIES": "10.0.0.0/8, bad\nentry"}, "METACHAT_TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(mapEnv(tt.env))
			if err == nil {
				t.Fatalf("Load(%q) = %+v, nil; want an error naming %s", tt.env, c, tt.wantVar)
			}
			if c != nil {
				t.Errorf("Load returned a non-nil config alongside error %v", err)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %T %v, want *config.Error", err, err)
			}
			if ce.Var != tt.wantVar {
				t.Errorf("Error.Var = %q, want %q (error: %v)", ce.Var, tt.wantVar, err)
			}
			if ce.Reason == "" {
				t.Error("Error.Reason is empty; a person needs to know what is wrong")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("Error() = %q, want a single line", msg)
			}
			if !strings.Contains(msg, tt.wantVar) {
				t.Errorf("Error() = %q, want it to name %s", msg, tt.wantVar)
			}
		})
	}
}

func TestLoadReadsSecretKeyFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte("\n"+base64.StdEncoding.EncodeToString(testKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, map[string]string{"METACHAT_SECRET_KEY_FILE": " " + path + " "})
	if diff := cmp.Diff(testKey, c.SecretKey); diff != "" {
		t.Errorf("SecretKey mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadRejectsSecretKeyFileWithBadContentsNamingTheKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(mapEnv(map[string]string{"METACHAT_SECRET_KEY_FILE": path}))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "METACHAT_SECRET_KEY" {
		t.Fatalf("Load error = %v, want *config.Error for METACHAT_SECRET_KEY", err)
	}
}

func TestLoadReadsLLMAPIKeyFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "llm.key")
	if err := os.WriteFile(path, []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, map[string]string{"METACHAT_LLM_API_KEY_FILE": path})
	if c.LLMAPIKey != "sk-from-file" {
		t.Errorf("LLMAPIKey = %q, want %q", c.LLMAPIKey, "sk-from-file")
	}
}

func TestLoadIgnoresBlankFileVariableBesideValue(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"METACHAT_SECRET_KEY":      base64.StdEncoding.EncodeToString(testKey),
		"METACHAT_SECRET_KEY_FILE": "   ",
	})
	if diff := cmp.Diff(testKey, c.SecretKey); diff != "" {
		t.Errorf("SecretKey mismatch (-want +got):\n%s", diff)
	}
}

func TestListeningMovesADerivedBaseURLToTheBoundPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, base string
		bound            net.Addr
		want             string
	}{
		{"any port on loopback", "127.0.0.1:0", "", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 43210}, "http://127.0.0.1:43210"},
		{"any port on all interfaces", "0.0.0.0:0", "", &net.TCPAddr{IP: net.IPv4zero, Port: 43210}, "http://localhost:43210"},
		{"ipv6 loopback", "[::1]:0", "", &net.TCPAddr{IP: net.IPv6loopback, Port: 43210}, "http://[::1]:43210"},
		{"explicit base url is kept", "127.0.0.1:0", "https://chat.example.com", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 43210}, "https://chat.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, map[string]string{"METACHAT_ADDR": tt.addr, "METACHAT_BASE_URL": tt.base})
			c.Listening(tt.bound)
			if got := c.BaseURL.String(); got != tt.want {
				t.Errorf("after Listening(%v) BaseURL = %q, want %q", tt.bound, got, tt.want)
			}
		})
	}
}

func TestErrorIsOneLineNamingVarAndReason(t *testing.T) {
	t.Parallel()
	err := &config.Error{Var: "METACHAT_X", Reason: "must be y"}
	if got, want := err.Error(), "config: METACHAT_X: must be y"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// Known bug: strconv.ParseFloat accepts "NaN", and NaN fails both "<= 0" and
// "> 1e6", so floatVar lets it through. A NaN rate makes the
// HTTP limiter refuse every request.
func TestLoadRejectsNaNRateLimit(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"METACHAT_RATE_LIMIT_IP", "METACHAT_RATE_LIMIT_KEY"} {
		_, err := config.Load(mapEnv(map[string]string{name: "NaN"}))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != name {
			t.Errorf("Load(%s=NaN) error = %v, want *config.Error naming %s", name, err, name)
		}
	}
}

func TestLoadChunkOverlapDefaultFitsASmallChunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env                    map[string]string
		wantWords, wantOverlap int
	}{
		{map[string]string{"METACHAT_CHUNK_WORDS": "50"}, 50, 25},
		{map[string]string{"METACHAT_CHUNK_WORDS": "2000"}, 2000, 30},
		{map[string]string{"METACHAT_CHUNK_WORDS": "100", "METACHAT_CHUNK_OVERLAP_WORDS": "50"}, 100, 50},
	}
	for _, tt := range tests {
		c := mustLoad(t, tt.env)
		if c.ChunkWords != tt.wantWords || c.ChunkOverlapWords != tt.wantOverlap {
			t.Errorf("Load(%v): chunk words %d overlap %d, want %d and %d", tt.env, c.ChunkWords, c.ChunkOverlapWords, tt.wantWords, tt.wantOverlap)
		}
	}
}
