// Package cli is the metachat command line: it parses subcommands and
// wires the parts together in plain code. main only calls Run, so tests can
// boot the whole program in-process.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/metachat/metachat/internal/app"
	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/config"
	"github.com/metachat/metachat/internal/dashboard"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/knowledge/fetch"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/ratelimit"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/tenants"
	"github.com/metachat/metachat/internal/widget"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

const usage = `metachat — multi-tenant conversational AI platform

Usage:
  metachat serve [--addr A] [--data-dir D] [--database-url U] [--base-url B] [--no-workers]
  metachat worker
  metachat migrate up | down [N] | status
  metachat admin create --email E         (password on standard input)
  metachat admin reset-link --email E     (prints a one-time password reset link)
  metachat tenant create --name N [--json]
  metachat version

Configuration comes from the environment (see README); the flags above
override the variable of the same name.
`

// IO is the program's standard streams.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run runs the command line and returns the exit code.
func Run(ctx context.Context, args []string, env config.Lookup, stdio IO) int {
	if len(args) == 0 {
		fmt.Fprint(stdio.Stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, env, stdio)
	case "worker":
		err = worker(ctx, rest, env, stdio)
	case "migrate":
		err = migrate(ctx, rest, env, stdio)
	case "admin":
		err = admin(ctx, rest, env, stdio)
	case "tenant":
		err = tenant(ctx, rest, env, stdio)
	case "version", "--version", "-v":
		fmt.Fprintln(stdio.Stdout, "metachat", Version)
	case "help", "--help", "-h":
		fmt.Fprint(stdio.Stdout, usage)
	default:
		fmt.Fprintf(stdio.Stderr, "metachat: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if strings.Contains(err.Error(), flag.ErrHelp.Error()) {
			fmt.Fprint(stdio.Stdout, usage)
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stdio.Stderr, "metachat %s: %s\n", cmd, ue)
			return 2
		}
		fmt.Fprintf(stdio.Stderr, "metachat %s: %s\n", cmd, oneLine(err))
		return 1
	}
	return 0
}

type usageError string

func (u usageError) Error() string { return string(u) }

// oneLine renders an error for a person: field errors spelled out.
func oneLine(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		parts := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			parts[i] = f.Field + " " + f.Message
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// configFlags registers the flags that override configuration variables.
func configFlags(fs *flag.FlagSet) map[string]*string {
	m := map[string]*string{}
	for flagName, envName := range map[string]string{
		"addr": "METACHAT_ADDR", "data-dir": "METACHAT_DATA_DIR", "database-url": "DATABASE_URL", "base-url": "METACHAT_BASE_URL",
	} {
		m[envName] = fs.String(flagName, "", "overrides "+envName)
	}
	return m
}

func loadConfig(env config.Lookup, overrides map[string]*string) (*config.Config, error) {
	return config.Load(func(name string) (string, bool) {
		if v, ok := overrides[name]; ok && *v != "" {
			return *v, true
		}
		return env(name)
	})
}

func newFlagSet(name string, stdio IO) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Run reports parse errors itself, once; -h prints the usage.
	fs.SetOutput(io.Discard)
	return fs
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text" // a person is watching
			}
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openStore opens the configured database and, when migrate is set, brings
// its schema up to date.
func openStore(ctx context.Context, cfg *config.Config, migrate bool) (*store.Store, error) {
	var st *store.Store
	var err error
	if cfg.Embedded() {
		st, err = store.OpenSQLite(ctx, cfg.SQLitePath())
	} else {
		st, err = store.OpenPostgres(ctx, cfg.DatabaseURL)
	}
	if err != nil {
		return nil, err
	}
	if migrate {
		if _, err := st.MigrateUp(ctx); err != nil {
			st.Close()
			return nil, err
		}
		if err := jobs.Migrate(ctx, st); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// secretKey returns the configured server key, or the one kept in the data
// dir (generated on first start).
func secretKey(cfg *config.Config, log *slog.Logger) (*secrets.Keyring, error) {
	key := cfg.SecretKey
	if key == nil {
		var created bool
		var err error
		key, created, err = secrets.LoadOrCreateKeyFile(cfg.SecretKeyPath())
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("generated a server secret key; back it up with the database", "path", cfg.SecretKeyPath())
		}
	}
	return secrets.NewKeyring(key)
}

func serve(ctx context.Context, args []string, env config.Lookup, stdio IO) error {
	fs := newFlagSet("serve", stdio)
	over := configFlags(fs)
	noWorkers := fs.Bool("no-workers", false, "serve HTTP only; run background jobs in `metachat worker` processes")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg, err := loadConfig(env, over)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdio.Stderr)
	// Bind first: a port in use should fail fast, before anything is
	// written to disk or to the database.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (METACHAT_ADDR): %w", cfg.Addr, err)
	}
	defer ln.Close()
	cfg.Listening(ln.Addr())
	if cfg.Embedded() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	} else if cfg.SecretKey == nil {
		log.Warn("METACHAT_SECRET_KEY is not set: using a key kept in the data dir; processes that share this database must all use the same key")
	}
	keys, err := secretKey(cfg, log)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()

	// Background work stops, and is waited for, before the store closes.
	bg, stopBG := context.WithCancel(ctx)
	var bgDone sync.WaitGroup
	defer func() {
		stopBG()
		bgDone.Wait()
	}()

	// Live events: in process on SQLite; through LISTEN/NOTIFY between
	// processes on PostgreSQL.
	hub := realtime.NewHub()
	var bus realtime.Publisher = hub
	if !cfg.Embedded() {
		pg := realtime.NewPGBus(hub, cfg.DatabaseURL, log, func(ctx context.Context, q string, args ...any) error {
			_, err := st.DB().ExecContext(ctx, q, args...)
			return err
		})
		ready := make(chan struct{})
		bgDone.Go(func() { pg.Listen(bg, ready) })
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			return errors.New("could not LISTEN for events on PostgreSQL within 10s")
		}
		bus = pg
	}

	authSvc := auth.NewService(st, auth.Options{SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionAbsolute, KeyRotationGrace: cfg.KeyRotationGrace})
	sv, err := newServices(st, cfg, keys, bus, hub, !*noWorkers, log)
	if err != nil {
		return err
	}
	chans, convs, assts, kb, msg, queue := sv.Channels, sv.Conversations, sv.Assistants, sv.Knowledge, sv.Messaging, sv.Queue
	if err := queue.Start(bg); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := queue.Stop(stopCtx); err != nil {
			log.Warn("stopping jobs", "error", err)
		}
	}()
	wh, err := widget.New(st, chans, convs, hub, keys, cfg.BaseURL.String(), widget.Limits{
		Sessions: ratelimit.New(cfg.WidgetSessionRate, int(cfg.WidgetSessionRate*60)),
		Messages: ratelimit.New(cfg.WidgetMessageRate, int(cfg.WidgetMessageRate*10)+1),
	}, log)
	if err != nil {
		return err
	}
	tns := tenants.NewService(st, authSvc, cfg.BaseURL.String())
	dash, err := dashboard.New(dashboard.Config{SecureCookies: cfg.SecureCookies()}, log, dashboard.Deps{
		Store: st, Auth: authSvc, Tenants: tns, Assistants: assts, Channels: chans, Conversations: convs, Knowledge: kb, Hub: hub,
	})
	if err != nil {
		return err
	}
	acc := newAccounts(st, cfg, log)
	defer acc.Wait() // account emails still being sent
	dash.SetAccounts(acc)
	api := httpapi.New(httpapi.Config{
		BaseURL: cfg.BaseURL.String(), SecureCookies: cfg.SecureCookies(), MaxBodyBytes: cfg.MaxBodyBytes,
		RateLimitIP: cfg.RateLimitIP, RateLimitKey: cfg.RateLimitKey, TrustedProxies: cfg.TrustedProxies, Version: Version,
	}, log, httpapi.Deps{Store: st, Auth: authSvc, Assistants: assts, Tenants: tns, Channels: chans, Conversations: convs, Widget: wh, Knowledge: kb, Messaging: msg, Dashboard: dash})

	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// Shutdown waits for connections to go idle; these never do: hijacked
	// WebSockets and the dashboard's event streams are ended by their owners.
	srv.RegisterOnShutdown(wh.Shutdown)
	srv.RegisterOnShutdown(dash.Shutdown)
	mode := "embedded SQLite at " + cfg.SQLitePath()
	if !cfg.Embedded() {
		mode = "PostgreSQL"
	}
	fmt.Fprintf(stdio.Stdout, "metachat %s listening on http://%s (%s; public URL %s)\n", Version, ln.Addr(), mode, cfg.BaseURL)

	if token, err := authSvc.SetupToken(ctx); err != nil {
		return err
	} else if token != "" {
		fmt.Fprintf(stdio.Stdout, "No platform admin exists yet. Create one with this one-time link:\n  %s/setup?token=%s\n", cfg.BaseURL, token)
	}

	if !*noWorkers {
		bgDone.Go(func() { runMaintenance(bg, st, cfg, log) })
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newServices assembles the services from the configuration (internal/app
// holds the wiring; this maps the settings onto it).
// hub is the local fan-out when it hears every process's events (nil in a
// worker, which publishes but does not listen).
func newServices(st *store.Store, cfg *config.Config, keys *secrets.Keyring, bus realtime.Publisher, hub *realtime.Hub, work bool, log *slog.Logger) (*app.Services, error) {
	o := app.Options{
		BaseURL: cfg.BaseURL.String(), Keys: keys, Bus: bus, Hub: hub,
		LLM: llm.Config{
			Provider: cfg.LLMProvider, BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel,
			// One client for every model call: a provider is built per reply,
			// and without a shared transport each call opened (and left idle) a
			// new connection until the process ran out of file descriptors.
			HTTPClient: newHTTPClient(0),
		},
		Fetch:          fetch.Options{Allow: cfg.FetchAllow, MaxBytes: cfg.MaxUploadBytes},
		MaxUploadBytes: cfg.MaxUploadBytes,
		ChunkWords:     cfg.ChunkWords, ChunkOverlapWords: cfg.ChunkOverlapWords,
		GraphURL: cfg.MetaGraphURL, TelegramURL: cfg.TelegramAPIURL,
		ProviderHTTP: newHTTPClient(30 * time.Second),
		Work:         work, Periodic: true, Workers: cfg.Workers,
		Log: log,
	}
	if cfg.ChunkOverlapWords == 0 {
		o.ChunkOverlapWords = -1 // configured as none; 0 would mean the default
	}
	if cfg.EmbeddingModel != "" {
		e, err := llm.NewEmbedder(llm.Config{Provider: cfg.LLMProvider, BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.EmbeddingModel,
			HTTPClient: newHTTPClient(0)})
		if err != nil {
			return nil, &config.Error{Var: "METACHAT_EMBEDDING_MODEL", Reason: err.Error()}
		}
		o.Embedder = e
	}
	return app.New(st, o)
}

// runMaintenance does the periodic housekeeping: expired sessions go.
func runMaintenance(ctx context.Context, st *store.Store, cfg *config.Config, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			n, err := tx.DeleteExpiredSessions(ctx, tx.Now.Add(-cfg.SessionIdle))
			if n > 0 {
				log.Info("removed expired sessions", "count", n)
			}
			return err
		})
		if err != nil && ctx.Err() == nil {
			log.Warn("session cleanup failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func worker(ctx context.Context, args []string, env config.Lookup, stdio IO) error {
	fs := newFlagSet("worker", stdio)
	over := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg, err := loadConfig(env, over)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdio.Stderr)
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := secretKey(cfg, log)
	if err != nil {
		return err
	}
	// A worker publishes live events (reply deltas and messages) to the
	// widgets connected to the serve processes.
	var bus realtime.Publisher = realtime.NewHub()
	if !cfg.Embedded() {
		bus = realtime.NewPGBus(realtime.NewHub(), cfg.DatabaseURL, log, func(ctx context.Context, q string, args ...any) error {
			_, err := st.DB().ExecContext(ctx, q, args...)
			return err
		})
	}
	sv, err := newServices(st, cfg, keys, bus, nil, true, log)
	if err != nil {
		return err
	}
	queue := sv.Queue
	if err := queue.Start(ctx); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	fmt.Fprintln(stdio.Stdout, "metachat worker running")
	runMaintenance(ctx, st, cfg, log)
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return queue.Stop(stopCtx)
}

func migrate(ctx context.Context, args []string, env config.Lookup, stdio IO) error {
	fs := newFlagSet("migrate", stdio)
	over := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageError("want up, down [N] or status")
	}
	cfg, err := loadConfig(env, over)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	switch rest[0] {
	case "up":
		done, err := st.MigrateUp(ctx)
		for _, m := range done {
			fmt.Fprintf(stdio.Stdout, "applied %04d_%s\n", m.Version, m.Name)
		}
		if err == nil && len(done) == 0 {
			fmt.Fprintln(stdio.Stdout, "schema is up to date")
		}
		return err
	case "down":
		steps := 1
		if len(rest) > 1 {
			n, err := strconv.Atoi(rest[1])
			if err != nil || n < 1 {
				return usageError("down takes a positive number of steps")
			}
			steps = n
		}
		done, err := st.MigrateDown(ctx, steps)
		for _, m := range done {
			fmt.Fprintf(stdio.Stdout, "reverted %04d_%s\n", m.Version, m.Name)
		}
		return err
	case "status":
		all, err := st.Migrations(ctx)
		if err != nil {
			return err
		}
		for _, m := range all {
			state := "pending"
			if m.AppliedAt != nil {
				state = "applied " + m.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(stdio.Stdout, "%04d_%-24s %s\n", m.Version, m.Name, state)
		}
		return nil
	}
	return usageError("want up, down [N] or status")
}

func admin(ctx context.Context, args []string, env config.Lookup, stdio IO) error {
	if len(args) > 0 && args[0] == "reset-link" {
		return resetLink(ctx, args[1:], env, stdio)
	}
	if len(args) == 0 || args[0] != "create" {
		return usageError("want: admin create --email E (password on standard input), or admin reset-link --email E")
	}
	fs := newFlagSet("admin create", stdio)
	over := configFlags(fs)
	email := fs.String("email", "", "the admin's email")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	if *email == "" {
		return usageError("--email is required")
	}
	cfg, err := loadConfig(env, over)
	if err != nil {
		return err
	}
	pw, err := readPassword(stdio.Stdin)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := auth.NewService(st, auth.Options{}).CreatePlatformAdmin(ctx, *email, pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "platform admin %s created (id %s)\n", u.Email, u.ID)
	return nil
}

// readPassword reads one line from standard input.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", usageError("give the password on standard input")
	}
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", usageError("give the password on standard input, e.g. echo 'secret password' | metachat admin create --email you@example.com")
	}
	return pw, nil
}

func tenant(ctx context.Context, args []string, env config.Lookup, stdio IO) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("want: tenant create --name N [--json]")
	}
	fs := newFlagSet("tenant create", stdio)
	over := configFlags(fs)
	name := fs.String("name", "", "the tenant's name")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	cfg, err := loadConfig(env, over)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := tenants.NewService(st, auth.NewService(st, auth.Options{}), cfg.BaseURL.String()).Create(ctx, nil, *name)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdio.Stdout).Encode(map[string]any{
			"tenant":  map[string]string{"id": c.Tenant.ID, "name": c.Tenant.Name},
			"api_key": c.Secret,
		})
	}
	fmt.Fprintf(stdio.Stdout, "tenant %q created (id %s)\nAPI key (shown once): %s\n", c.Tenant.Name, c.Tenant.ID, c.Secret)
	return nil
}

// newHTTPClient is a client with its own connection pool for calls to one
// kind of outside service; timeout 0 leaves timing to the caller.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
}
