// Package config reads metachat's configuration from the environment into
// one typed, validated struct. A bad value is reported as one line naming
// the variable, so start-up can stop with a message a person can act on.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/secrets"
)

// Config is the whole server configuration.
type Config struct {
	Addr    string   // METACHAT_ADDR
	BaseURL *url.URL // METACHAT_BASE_URL
	// BaseURLDerived is set when BaseURL was derived from Addr, so that it
	// can follow the real port when Addr asks for any free one (":0").
	BaseURLDerived bool
	DataDir        string // METACHAT_DATA_DIR
	DatabaseURL    string // DATABASE_URL; empty selects embedded SQLite
	// SecretKey is the server key; nil when not configured, in which case
	// the caller generates one into the data dir (see SecretKeyPath).
	SecretKey []byte // METACHAT_SECRET_KEY or METACHAT_SECRET_KEY_FILE

	LLMProvider    string // METACHAT_LLM_PROVIDER: openai|anthropic|extractive
	LLMBaseURL     string // METACHAT_LLM_BASE_URL
	LLMAPIKey      string // METACHAT_LLM_API_KEY (or _FILE)
	LLMModel       string // METACHAT_LLM_MODEL
	EmbeddingModel string // METACHAT_EMBEDDING_MODEL

	MetaGraphURL   string // METACHAT_META_GRAPH_URL
	TelegramAPIURL string // METACHAT_TELEGRAM_API_URL

	LogFormat string // METACHAT_LOG_FORMAT: json|text; default json unless stderr is a terminal
	LogLevel  string // METACHAT_LOG_LEVEL: debug|info|warn|error

	// Limits.
	MaxBodyBytes     int64          // METACHAT_MAX_BODY_BYTES
	RateLimitIP      float64        // METACHAT_RATE_LIMIT_IP: requests per second per client IP
	RateLimitKey     float64        // METACHAT_RATE_LIMIT_KEY: requests per second per API key or session
	SessionIdle      time.Duration  // METACHAT_SESSION_IDLE
	SessionAbsolute  time.Duration  // METACHAT_SESSION_ABSOLUTE
	KeyRotationGrace time.Duration  // METACHAT_KEY_ROTATION_GRACE: default grace for rotated API keys
	TrustedProxies   []netip.Prefix // METACHAT_TRUSTED_PROXIES: CIDRs whose X-Forwarded-For is believed
	FetchAllow       []netip.Prefix // METACHAT_FETCH_ALLOW: private ranges URL imports may reach anyway
	MaxUploadBytes   int64          // METACHAT_MAX_UPLOAD_BYTES: largest knowledge document
	// ChunkWords is the target size of a knowledge chunk in words, and
	// ChunkOverlapWords how much of the previous chunk of the same section
	// a chunk repeats (0: none; at most half of ChunkWords).
	ChunkWords        int // METACHAT_CHUNK_WORDS
	ChunkOverlapWords int // METACHAT_CHUNK_OVERLAP_WORDS
	// Workers is how many replies and deliveries a process works on at
	// once; each mostly waits for a model or a provider.
	Workers int // METACHAT_WORKERS

	WidgetSessionRate float64 // METACHAT_WIDGET_SESSION_RATE: widget sessions per second per IP
	WidgetMessageRate float64 // METACHAT_WIDGET_MESSAGE_RATE: messages per second per visitor

	// Account emails (password reset and sign-up verification links). With
	// no SMTP host the links are written to the log at WARN instead.
	SMTPHost     string // METACHAT_SMTP_HOST
	SMTPPort     int    // METACHAT_SMTP_PORT: default 587 (465: implicit TLS)
	SMTPUsername string // METACHAT_SMTP_USERNAME
	SMTPPassword string // METACHAT_SMTP_PASSWORD (or _FILE)
	SMTPFrom     string // METACHAT_SMTP_FROM: the sender address
	Signup       bool   // METACHAT_SIGNUP: off|on; self-service sign-up at /signup
}

// Lookup reads one variable; os.LookupEnv fits.
type Lookup func(name string) (string, bool)

// Error names the variable that is wrong.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Var, e.Reason) }

// Load reads and validates the configuration.
func Load(env Lookup) (*Config, error) {
	get := func(name, def string) string {
		if v, ok := env(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	c := &Config{
		Addr:           get("METACHAT_ADDR", "127.0.0.1:8080"),
		DataDir:        get("METACHAT_DATA_DIR", "./metachat-data"),
		DatabaseURL:    get("DATABASE_URL", ""),
		LLMProvider:    get("METACHAT_LLM_PROVIDER", "extractive"),
		LLMBaseURL:     get("METACHAT_LLM_BASE_URL", ""),
		LLMModel:       get("METACHAT_LLM_MODEL", ""),
		EmbeddingModel: get("METACHAT_EMBEDDING_MODEL", ""),
		MetaGraphURL:   get("METACHAT_META_GRAPH_URL", "https://graph.facebook.com/v25.0"),
		TelegramAPIURL: get("METACHAT_TELEGRAM_API_URL", "https://api.telegram.org"),
		LogFormat:      get("METACHAT_LOG_FORMAT", ""),
		LogLevel:       get("METACHAT_LOG_LEVEL", "info"),
	}

	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return nil, &Error{"METACHAT_ADDR", "must be host:port, e.g. 127.0.0.1:8080"}
	}
	base := get("METACHAT_BASE_URL", "")
	if base == "" {
		host, port, _ := net.SplitHostPort(c.Addr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		base = "http://" + net.JoinHostPort(host, port)
		c.BaseURLDerived = true
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &Error{"METACHAT_BASE_URL", "must be an absolute http(s) URL without query, e.g. https://chat.example.com"}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c.BaseURL = u

	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	if c.DatabaseURL != "" {
		pu, err := url.Parse(c.DatabaseURL)
		if err != nil || (pu.Scheme != "postgres" && pu.Scheme != "postgresql") {
			return nil, &Error{"DATABASE_URL", "must be a postgres:// URL (leave it unset for embedded SQLite)"}
		}
	}

	secret, err := secretValue(env, "METACHAT_SECRET_KEY")
	if err != nil {
		return nil, err
	}
	if secret != "" {
		k, err := secrets.ParseKey(secret)
		if err != nil {
			return nil, &Error{"METACHAT_SECRET_KEY", err.Error()}
		}
		c.SecretKey = k
	}
	if c.LLMAPIKey, err = secretValue(env, "METACHAT_LLM_API_KEY"); err != nil {
		return nil, err
	}

	switch c.LLMProvider {
	case "extractive":
	case "openai", "anthropic":
		if c.LLMModel == "" {
			return nil, &Error{"METACHAT_LLM_MODEL", "is required when METACHAT_LLM_PROVIDER is " + c.LLMProvider}
		}
	default:
		return nil, &Error{"METACHAT_LLM_PROVIDER", "must be openai, anthropic or extractive"}
	}
	for name, v := range map[string]string{"METACHAT_LLM_BASE_URL": c.LLMBaseURL, "METACHAT_META_GRAPH_URL": c.MetaGraphURL, "METACHAT_TELEGRAM_API_URL": c.TelegramAPIURL} {
		if v == "" {
			continue
		}
		if pu, err := url.Parse(v); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, &Error{name, "must be an absolute http(s) URL"}
		}
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		return nil, &Error{"METACHAT_LOG_FORMAT", "must be json or text"}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, &Error{"METACHAT_LOG_LEVEL", "must be debug, info, warn or error"}
	}

	if c.MaxBodyBytes, err = intVar(get, "METACHAT_MAX_BODY_BYTES", 1<<20, 1024, 1<<30); err != nil {
		return nil, err
	}
	if c.MaxUploadBytes, err = intVar(get, "METACHAT_MAX_UPLOAD_BYTES", 20<<20, 1024, 1<<30); err != nil {
		return nil, err
	}
	workers, err := intVar(get, "METACHAT_WORKERS", 100, 1, 10000)
	if err != nil {
		return nil, err
	}
	c.Workers = int(workers)
	chunkWords, err := intVar(get, "METACHAT_CHUNK_WORDS", 220, 50, 2000)
	if err != nil {
		return nil, err
	}
	c.ChunkWords = int(chunkWords)
	// More overlap than half a chunk would mostly repeat text.
	overlap, err := intVar(get, "METACHAT_CHUNK_OVERLAP_WORDS", min(30, chunkWords/2), 0, chunkWords/2)
	if err != nil {
		return nil, &Error{"METACHAT_CHUNK_OVERLAP_WORDS", fmt.Sprintf("must be a whole number from 0 to %d (half of METACHAT_CHUNK_WORDS, %d)", chunkWords/2, chunkWords)}
	}
	c.ChunkOverlapWords = int(overlap)
	if c.RateLimitIP, err = floatVar(get, "METACHAT_RATE_LIMIT_IP", 20); err != nil {
		return nil, err
	}
	if c.RateLimitKey, err = floatVar(get, "METACHAT_RATE_LIMIT_KEY", 50); err != nil {
		return nil, err
	}
	if c.WidgetSessionRate, err = floatVar(get, "METACHAT_WIDGET_SESSION_RATE", 0.5); err != nil {
		return nil, err
	}
	if c.WidgetMessageRate, err = floatVar(get, "METACHAT_WIDGET_MESSAGE_RATE", 1); err != nil {
		return nil, err
	}
	if c.SessionIdle, err = durationVar(get, "METACHAT_SESSION_IDLE", 2*time.Hour); err != nil {
		return nil, err
	}
	if c.SessionAbsolute, err = durationVar(get, "METACHAT_SESSION_ABSOLUTE", 7*24*time.Hour); err != nil {
		return nil, err
	}
	if c.SessionIdle > c.SessionAbsolute {
		return nil, &Error{"METACHAT_SESSION_IDLE", "must not exceed METACHAT_SESSION_ABSOLUTE"}
	}
	if c.KeyRotationGrace, err = durationVar(get, "METACHAT_KEY_ROTATION_GRACE", 24*time.Hour); err != nil {
		return nil, err
	}
	for _, v := range []struct {
		name string
		dst  *[]netip.Prefix
	}{{"METACHAT_FETCH_ALLOW", &c.FetchAllow}} {
		for _, part := range strings.Split(get(v.name, ""), ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				a, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return nil, &Error{v.name, fmt.Sprintf("%q is not an IP address or CIDR prefix", part)}
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			*v.dst = append(*v.dst, p)
		}
	}
	if err := c.loadAccounts(env, get); err != nil {
		return nil, err
	}
	if v := get("METACHAT_TRUSTED_PROXIES", ""); v != "" {
		for _, part := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(part))
			if err != nil {
				return nil, &Error{"METACHAT_TRUSTED_PROXIES", fmt.Sprintf("%q is not a CIDR prefix", part)}
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	return c, nil
}

// Listening records the address actually bound; a derived base URL follows
// it (METACHAT_ADDR=127.0.0.1:0 binds a free port).
func (c *Config) Listening(addr net.Addr) {
	if !c.BaseURLDerived {
		return
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return
	}
	c.BaseURL.Host = net.JoinHostPort(c.BaseURL.Hostname(), port)
}

// Embedded reports whether the embedded SQLite store is in use.
func (c *Config) Embedded() bool { return c.DatabaseURL == "" }

// SQLitePath is the database file of the embedded store.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "metachat.db") }

// SecretKeyPath is where a generated server key is kept.
func (c *Config) SecretKeyPath() string { return filepath.Join(c.DataDir, "secret.key") }

// SecureCookies reports whether cookies must carry the Secure flag.
func (c *Config) SecureCookies() bool { return c.BaseURL.Scheme == "https" }

// secretValue reads NAME, or the file named by NAME_FILE; not both.
func secretValue(env Lookup, name string) (string, error) {
	v, hasV := env(name)
	f, hasF := env(name + "_FILE")
	v, f = strings.TrimSpace(v), strings.TrimSpace(f)
	hasV, hasF = hasV && v != "", hasF && f != ""
	if hasV && hasF {
		return "", &Error{name, "set either " + name + " or " + name + "_FILE, not both"}
	}
	if hasF {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", &Error{name + "_FILE", "cannot read file: " + err.Error()}
		}
		return strings.TrimSpace(string(b)), nil
	}
	return v, nil
}

func intVar(get func(string, string) string, name string, def, min, max int64) (int64, error) {
	s := get(name, "")
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, &Error{name, fmt.Sprintf("must be a whole number from %d to %d", min, max)}
	}
	return n, nil
}

func floatVar(get func(string, string) string, name string, def float64) (float64, error) {
	s := get(name, "")
	if s == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f <= 1e6) { // the negation also refuses NaN
		return 0, &Error{name, "must be a positive number of requests per second"}
	}
	return f, nil
}

func durationVar(get func(string, string) string, name string, def time.Duration) (time.Duration, error) {
	s := get(name, "")
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, &Error{name, "must be a positive duration such as 30m or 12h"}
	}
	return d, nil
}
