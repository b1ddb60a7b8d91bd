// Package accounts is account self-service: password reset by a one-time
// link, the lookups behind the invitation accept page, and optional
// self-service sign-up with email verification. Links go out by SMTP when
// a server is configured, else to the log at WARN so that an operator can
// hand them over (`metachat admin reset-link` prints a fresh reset link).
//
// Every link carries a 256-bit random token of which only the SHA-256 hash
// is stored; a link works once.
package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/tenants"
)

// How long links work.
const (
	ResetTTL  = time.Hour
	SignupTTL = 24 * time.Hour
)

// Request throttling: reset and sign-up requests per email and per client
// IP within throttleWindow (counted whether or not the email is known, so
// the limit itself reveals nothing).
const (
	throttleWindow = 15 * time.Minute
	maxPerEmail    = 3
	maxPerIP       = 20
)

// Options configure the service.
type Options struct {
	// BaseURL is the public URL that links start with (METACHAT_BASE_URL);
	// empty gives links relative to the site.
	BaseURL string
	// Signup turns on self-service sign-up (METACHAT_SIGNUP=on).
	Signup bool
	// Mail delivers the links; nil writes them to Log at WARN.
	Mail Mailer
	Log  *slog.Logger
}

// Service is account self-service.
type Service struct {
	store    *store.Store
	opts     Options
	throttle *auth.Throttle
	sending  sync.WaitGroup
}

// New returns the service.
func New(st *store.Store, opts Options) *Service {
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Service{store: st, opts: opts, throttle: auth.NewThrottle(throttleWindow)}
}

// SignupEnabled reports whether self-service sign-up is on.
func (s *Service) SignupEnabled() bool { return s.opts.Signup }

// Wait blocks until the emails being sent in the background are sent (or
// have failed): for shutdown and tests.
func (s *Service) Wait() { s.sending.Wait() }

var errLinkInvalid = apperr.New(apperr.NotFound, "this link is no longer valid: ask for a new one")

// limit counts one request against an email and an IP, refusing it once
// either has reached its limit.
func (s *Service) limit(kind, email, ip string) error {
	for _, c := range []struct {
		key   string
		limit int
	}{{kind + ":ip:" + ip, maxPerIP}, {kind + ":email:" + email, maxPerEmail}} {
		if blocked, wait := s.throttle.Blocked(c.key, c.limit); blocked {
			return &apperr.Error{Kind: apperr.RateLimited, Message: "too many requests: try again later", RetryAfter: int(wait.Seconds() + 0.999)}
		}
	}
	s.throttle.Fail(kind + ":ip:" + ip)
	s.throttle.Fail(kind + ":email:" + email)
	return nil
}

// RequestReset sends a reset link to email if it belongs to a user. The
// answer is the same whether or not it does (nil), except for a
// malformed address or too many requests.
func (s *Service) RequestReset(ctx context.Context, email, ip string) error {
	email, err := auth.ValidEmail("email", email)
	if err != nil {
		return err
	}
	if err := s.limit("reset", email, ip); err != nil {
		return err
	}
	link, err := s.newReset(ctx, email)
	if apperr.Is(err, apperr.NotFound) {
		s.opts.Log.Info("password reset asked for an unknown email")
		return nil
	}
	if err != nil {
		return err
	}
	s.deliver(ctx, "password reset", Message{To: email, Subject: "Reset your metachat password",
		Body: fmt.Sprintf("Someone (hopefully you) asked to reset the password of your metachat account %s.\n\nChoose a new password here within the next hour:\n\n%s\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n", email, link)}, link)
	return nil
}

// ResetLink makes a fresh reset link for a user (the CLI's admin
// reset-link); NotFound when no user has this email.
func (s *Service) ResetLink(ctx context.Context, email string) (string, error) {
	email, err := auth.ValidEmail("email", email)
	if err != nil {
		return "", err
	}
	link, err := s.newReset(ctx, email)
	if apperr.Is(err, apperr.NotFound) {
		return "", apperr.New(apperr.NotFound, "no user has the email %s", email)
	}
	return link, err
}

// newReset stores a reset link for the user with email; it replaces the
// user's earlier links.
func (s *Service) newReset(ctx context.Context, email string) (string, error) {
	token := auth.RandomToken(32)
	err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		u, err := tx.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if err := tx.DeletePasswordResets(ctx, u.ID, "", tx.Now); err != nil {
			return err
		}
		return tx.CreatePasswordReset(ctx, store.PasswordReset{TokenHash: auth.HashToken(token), UserID: u.ID, ExpiresAt: tx.Now.Add(ResetTTL)})
	})
	if err != nil {
		return "", err
	}
	return s.opts.BaseURL + "/login/reset/" + token, nil
}

// CheckReset reports whether a reset token is usable (for the form): nil,
// or NotFound when it is unknown, used or expired.
func (s *Service) CheckReset(ctx context.Context, token string) error {
	if len(token) != 43 {
		return errLinkInvalid
	}
	var r store.PasswordReset
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		r, err = tx.PasswordResetByHash(ctx, auth.HashToken(token))
		return err
	})
	if apperr.Is(err, apperr.NotFound) || err == nil && (r.UsedAt != nil || !time.Now().Before(r.ExpiresAt)) {
		return errLinkInvalid
	}
	return err
}

// ResetPassword sets a new password with a reset token. The token is used
// up, every session of the user ends (whoever knew the old password is
// signed out) and the change is audited. It returns the user's email.
func (s *Service) ResetPassword(ctx context.Context, token, password, ip, requestID string) (string, error) {
	if len(token) != 43 {
		return "", errLinkInvalid
	}
	if err := auth.CheckPasswordPolicy("password", password); err != nil {
		return "", err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	th := auth.HashToken(token)
	email := ""
	err = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		r, err := tx.PasswordResetByHash(ctx, th)
		if err != nil {
			return err
		}
		ok, err := tx.UsePasswordReset(ctx, th)
		if err != nil {
			return err
		}
		if !ok {
			return errLinkInvalid
		}
		u, err := tx.UserByID(ctx, r.UserID)
		if err != nil {
			return err
		}
		email = u.Email
		if err := tx.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return err
		}
		if err := tx.DeletePasswordResets(ctx, u.ID, th, tx.Now); err != nil {
			return err
		}
		return auth.AuditUser(ctx, tx, u.ID, store.AuditEntry{ActorType: "user", ActorID: u.ID, Action: "password.reset", TargetType: "user", TargetID: u.ID, IP: ip, RequestID: requestID})
	})
	if apperr.Is(err, apperr.NotFound) {
		return "", errLinkInvalid
	}
	return email, err
}

// Invitation is what the accept page shows of an invitation.
type Invitation struct {
	TenantID   string
	TenantName string
	Email      string
	Role       string
	// Existing is set when the email already has an account: its owner
	// signs in with their password instead of choosing one.
	Existing bool
}

// Invitation looks up a pending invitation by its token; NotFound when it
// is unknown, used, withdrawn or expired.
func (s *Service) Invitation(ctx context.Context, token string) (Invitation, error) {
	invalid := apperr.New(apperr.NotFound, "this invitation is not valid: ask for a new one")
	if len(token) != 43 {
		return Invitation{}, invalid
	}
	var out Invitation
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		inv, err := tx.InvitationByTokenHash(ctx, auth.HashToken(token))
		if err != nil {
			return err
		}
		if inv.AcceptedAt != nil || inv.RevokedAt != nil || !tx.Now.Before(inv.ExpiresAt) {
			return invalid
		}
		tn, err := tx.GetTenant(ctx, inv.TenantID)
		if err != nil {
			return err
		}
		if tn.Status != "active" {
			return invalid
		}
		out = Invitation{TenantID: tn.ID, TenantName: tn.Name, Email: inv.Email, Role: inv.Role}
		_, err = tx.UserByEmail(ctx, inv.Email)
		out.Existing = err == nil
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return Invitation{}, invalid
	}
	return out, err
}

// SignupRequest is the sign-up form.
type SignupRequest struct {
	Company  string // the new tenant's name
	Name     string
	Email    string
	Password string
}

// Signup records a pending sign-up and sends its verification link; the
// tenant and its owner are created only when the link is followed. For an
// email that already has an account it sends a note saying so instead;
// the answer is the same.
func (s *Service) Signup(ctx context.Context, req SignupRequest, ip string) error {
	if !s.opts.Signup {
		return apperr.New(apperr.NotFound, "sign-up is off")
	}
	var fe apperr.Fields
	company, err := tenants.ValidName("company", req.Company)
	if err != nil {
		fe.Add("company", "is required, at most 200 characters")
	}
	name := strings.TrimSpace(req.Name)
	if utf8.RuneCountInString(name) > 200 {
		fe.Add("name", "must be at most 200 characters")
	}
	email, err := auth.ValidEmail("email", req.Email)
	if err != nil {
		fe.Add("email", "must be an email address such as ana@example.com")
	}
	if err := auth.CheckPasswordPolicy("password", req.Password); err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if err := fe.Err(); err != nil {
		return err
	}
	if err := s.limit("signup", email, ip); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	token := auth.RandomToken(32)
	exists := false
	err = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		_, err := tx.UserByEmail(ctx, email)
		if err == nil {
			exists = true
			return nil
		}
		if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		if err := tx.DeleteSignups(ctx, "", tx.Now); err != nil { // expired ones
			return err
		}
		return tx.CreateSignup(ctx, store.Signup{TokenHash: auth.HashToken(token), Email: email, Name: name, TenantName: company, PasswordHash: hash, ExpiresAt: tx.Now.Add(SignupTTL)})
	})
	if err != nil {
		return err
	}
	if exists {
		link := s.opts.BaseURL + "/login/reset"
		s.deliver(ctx, "sign-up for an existing account", Message{To: email, Subject: "You already have a metachat account",
			Body: fmt.Sprintf("Someone (hopefully you) tried to sign up for metachat with %s, which already has an account.\n\nSign in instead; if you forgot your password, reset it here:\n\n%s\n", email, link)}, link)
		return nil
	}
	link := s.opts.BaseURL + "/signup/verify/" + token
	s.deliver(ctx, "sign-up verification", Message{To: email, Subject: "Confirm your email for metachat",
		Body: fmt.Sprintf("Welcome to metachat. Confirm your email address to create %q within the next 24 hours:\n\n%s\n\nIf you did not sign up, ignore this message and nothing is created.\n", company, link)}, link)
	return nil
}

// Verify follows a verification link: it creates the tenant, the user and
// the owner membership in one transaction and returns the email (to fill
// in the sign-in form).
func (s *Service) Verify(ctx context.Context, token, ip, requestID string) (string, error) {
	if !s.opts.Signup {
		return "", apperr.New(apperr.NotFound, "sign-up is off")
	}
	if len(token) != 43 {
		return "", errLinkInvalid
	}
	email := ""
	err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		su, err := tx.UseSignup(ctx, auth.HashToken(token))
		if err != nil {
			return err
		}
		email = su.Email
		u, err := tx.CreateUser(ctx, su.Email, su.Name, su.PasswordHash, false)
		if apperr.Is(err, apperr.Conflict) {
			return apperr.New(apperr.Conflict, "this email already has an account: sign in instead")
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteSignups(ctx, su.Email, tx.Now); err != nil {
			return err
		}
		tn, err := tx.CreateTenant(ctx, su.TenantName)
		if err != nil {
			return err
		}
		if err := tx.EnterTenant(ctx, tn.ID); err != nil {
			return err
		}
		if err := tx.AddMember(ctx, u.ID, auth.RoleOwner); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{ActorType: "user", ActorID: u.ID, Action: "tenant.signed_up", TargetType: "tenant", TargetID: tn.ID,
			IP: ip, RequestID: requestID, Details: fmt.Sprintf(`{"name":%q,"email":%q}`, tn.Name, u.Email)})
	})
	if apperr.Is(err, apperr.NotFound) {
		return "", errLinkInvalid
	}
	return email, err
}

// deliver sends m, in the background so that the answer takes as long for
// a known address as for an unknown one; without a mailer the link goes to
// the log at WARN. A failed send logs the link too, so it is not lost.
func (s *Service) deliver(ctx context.Context, purpose string, m Message, link string) {
	if s.opts.Mail == nil {
		s.opts.Log.Warn("no SMTP server is configured (METACHAT_SMTP_HOST): hand this link to the user",
			slog.String("purpose", purpose), slog.String("email", m.To), slog.String("link", link))
		return
	}
	s.sending.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.opts.Mail.Send(ctx, m); err != nil {
			s.opts.Log.Error("sending an account email failed: hand this link to the user",
				slog.String("purpose", purpose), slog.String("email", m.To), slog.String("link", link), slog.String("error", err.Error()))
		}
	})
}
