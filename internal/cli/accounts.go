package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/metachat/metachat/internal/accounts"
	"github.com/metachat/metachat/internal/config"
	"github.com/metachat/metachat/internal/store"
)

// newAccounts builds account self-service: links go out by SMTP when a
// host is configured, else to the log at WARN.
func newAccounts(st *store.Store, cfg *config.Config, log *slog.Logger) *accounts.Service {
	opts := accounts.Options{BaseURL: cfg.BaseURL.String(), Signup: cfg.Signup, Log: log}
	if cfg.SMTPHost != "" {
		opts.Mail = &accounts.SMTP{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword, From: cfg.SMTPFrom}
	}
	return accounts.New(st, opts)
}

// resetLink is `metachat admin reset-link --email E`: it prints a fresh
// one-time password reset link (valid for an hour; it replaces the user's
// earlier links) for an operator to hand over, e.g. when no mail server is
// configured.
func resetLink(ctx context.Context, args []string, env config.Lookup, stdio IO) error {
	fs := newFlagSet("admin reset-link", stdio)
	over := configFlags(fs)
	email := fs.String("email", "", "the user's email")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *email == "" {
		return usageError("--email is required")
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
	link, err := accounts.New(st, accounts.Options{BaseURL: cfg.BaseURL.String()}).ResetLink(ctx, *email)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "password reset link for %s (works once, for %s):\n%s\n", *email, accounts.ResetTTL, link)
	return nil
}
