package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
)

// Options tune the service; zero values take the defaults.
type Options struct {
	SessionIdle      time.Duration
	SessionAbsolute  time.Duration
	KeyRotationGrace time.Duration
}

// Sign-in throttling limits within throttleWindow.
const (
	throttleWindow     = 15 * time.Minute
	maxFailsPerAccount = 5
	maxFailsPerIP      = 30
)

// Service authenticates requests and manages sessions and API keys.
type Service struct {
	store    *store.Store
	opts     Options
	throttle *Throttle
}

// NewService returns the auth service.
func NewService(st *store.Store, opts Options) *Service {
	if opts.SessionIdle == 0 {
		opts.SessionIdle = 2 * time.Hour
	}
	if opts.SessionAbsolute == 0 {
		opts.SessionAbsolute = 7 * 24 * time.Hour
	}
	if opts.KeyRotationGrace == 0 {
		opts.KeyRotationGrace = 24 * time.Hour
	}
	return &Service{store: st, opts: opts, throttle: NewThrottle(throttleWindow)}
}

// touchEvery limits last-used writes: one per key or session per interval
// keeps a busy key from turning every read into a write.
const touchEvery = time.Minute

// AuthenticateKey resolves a bearer API key to its principal. Any failure
// is the same Unauthenticated error, so a caller learns nothing about which
// keys exist.
func (s *Service) AuthenticateKey(ctx context.Context, key string) (*Principal, error) {
	denied := apperr.New(apperr.Unauthenticated, "invalid or expired API key")
	if !LooksLikeAPIKey(key) {
		return nil, denied
	}
	var k store.APIKey
	var status string
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		k, status, err = tx.APIKeyByHash(ctx, HashToken(key))
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, denied
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		return nil, denied
	}
	if status != "active" {
		return nil, apperr.New(apperr.Forbidden, "this tenant is suspended")
	}
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > touchEvery {
		err := s.store.Write(ctx, store.TenantScope(k.TenantID), func(tx *store.Tx) error {
			return tx.TouchAPIKey(ctx, k.TenantID, k.ID)
		})
		if err != nil {
			return nil, err
		}
	}
	return &Principal{Kind: "api_key", TenantID: k.TenantID, KeyID: k.ID, Scopes: k.Scopes}, nil
}

// AuthenticateSession resolves a session cookie value to its principal,
// enforcing idle and absolute expiry and the tenant's status.
func (s *Service) AuthenticateSession(ctx context.Context, sessionID string) (*Principal, error) {
	denied := apperr.New(apperr.Unauthenticated, "session expired: sign in again")
	if len(sessionID) != 43 {
		return nil, denied
	}
	hash := HashToken(sessionID)
	var p *Principal
	err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		sess, err := tx.SessionByHash(ctx, hash)
		if err != nil {
			return err
		}
		if !tx.Now.Before(sess.ExpiresAt) || tx.Now.Sub(sess.LastSeenAt) > s.opts.SessionIdle {
			return tx.DeleteSession(ctx, hash)
		}
		u, err := tx.UserByID(ctx, sess.UserID)
		if err != nil {
			return err
		}
		p = &Principal{Kind: "session", UserID: u.ID, Email: u.Email, PlatformAdmin: u.PlatformAdmin, SessionHash: hash, CSRFToken: sess.CSRFToken}
		if sess.TenantID != "" {
			// A tenant that was suspended, or a membership that ended,
			// leaves the user signed in with no tenant selected: they can
			// still sign out or switch, but reach no tenant's data.
			if err := s.fillTenantRole(ctx, tx, p, sess.TenantID); err != nil && !apperr.Is(err, apperr.Forbidden) && !apperr.Is(err, apperr.NotFound) {
				return err
			}
		}
		if tx.Now.Sub(sess.LastSeenAt) > min(touchEvery, s.opts.SessionIdle/4) {
			return tx.TouchSession(ctx, hash)
		}
		return nil
	})
	if apperr.Is(err, apperr.NotFound) || (err == nil && p == nil) {
		return nil, denied
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// fillTenantRole sets p's tenant, role and scopes. Platform admins who are
// not members act as admins of any tenant they switch to.
func (s *Service) fillTenantRole(ctx context.Context, tx *store.Tx, p *Principal, tenantID string) error {
	tn, err := tx.GetTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	if tn.Status != "active" {
		return apperr.New(apperr.Forbidden, "this tenant is suspended")
	}
	role := ""
	memberships, err := tx.UserMemberships(ctx, p.UserID)
	if err != nil {
		return err
	}
	for _, m := range memberships {
		if m.TenantID == tenantID {
			role = m.Role
		}
	}
	if role == "" && p.PlatformAdmin {
		role = RoleAdmin
	}
	if role == "" {
		return apperr.New(apperr.NotFound, "tenant not found")
	}
	p.TenantID, p.TenantName, p.Role, p.Scopes = tn.ID, tn.Name, role, roleScopes[role]
	return nil
}

// NewSession is what a sign-in returns: the cookie value (never stored)
// and the CSRF token the client echoes on writes.
type NewSession struct {
	ID        string
	CSRFToken string
	ExpiresAt time.Time
	Principal *Principal
}

// Login checks an email and password and starts a new session (a fresh
// id every time: session fixation is impossible). Failures are throttled
// per account and per IP and audited.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent, requestID string) (*NewSession, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	acctKey, ipKey := "acct:"+email, "ip:"+ip
	for _, c := range []struct {
		key   string
		limit int
	}{{acctKey, maxFailsPerAccount}, {ipKey, maxFailsPerIP}} {
		if blocked, wait := s.throttle.Blocked(c.key, c.limit); blocked {
			return nil, &apperr.Error{Kind: apperr.RateLimited, Message: "too many failed sign-ins: try again later", RetryAfter: ceilSeconds(wait)}
		}
	}
	var u store.User
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByEmail(ctx, email)
		return err
	})
	hash := u.PasswordHash
	if err != nil {
		if !apperr.Is(err, apperr.NotFound) {
			return nil, err
		}
		hash = dummyHash()
	}
	ok, verr := VerifyPassword(hash, password)
	if verr != nil {
		return nil, fmt.Errorf("verify password: %w", verr)
	}
	if err != nil || !ok {
		s.throttle.Fail(acctKey)
		s.throttle.Fail(ipKey)
		if u.ID != "" {
			_ = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
				return AuditUser(ctx, tx, u.ID, store.AuditEntry{ActorType: "user", ActorID: u.ID, Action: "login.failed", TargetType: "user", TargetID: u.ID, IP: ip, RequestID: requestID})
			})
		}
		return nil, apperr.New(apperr.Unauthenticated, "wrong email or password")
	}
	s.throttle.Reset(acctKey)

	ns := &NewSession{ID: RandomToken(32), CSRFToken: RandomToken(32)}
	err = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		memberships, err := tx.UserMemberships(ctx, u.ID)
		if err != nil {
			return err
		}
		tenant := ""
		if len(memberships) > 0 {
			tenant = memberships[0].TenantID
		}
		ns.ExpiresAt = tx.Now.Add(s.opts.SessionAbsolute)
		if err := tx.CreateSession(ctx, store.Session{IDHash: HashToken(ns.ID), UserID: u.ID, TenantID: tenant, CSRFToken: ns.CSRFToken, ExpiresAt: ns.ExpiresAt, IP: ip, UserAgent: truncate(userAgent, 300)}); err != nil {
			return err
		}
		if err := tx.TouchLogin(ctx, u.ID); err != nil {
			return err
		}
		ns.Principal = &Principal{Kind: "session", UserID: u.ID, Email: u.Email, PlatformAdmin: u.PlatformAdmin, SessionHash: HashToken(ns.ID), CSRFToken: ns.CSRFToken}
		if tenant != "" {
			if err := s.fillTenantRole(ctx, tx, ns.Principal, tenant); err != nil {
				return err
			}
		}
		return AuditUser(ctx, tx, u.ID, store.AuditEntry{ActorType: "user", ActorID: u.ID, Action: "login.succeeded", TargetType: "user", TargetID: u.ID, IP: ip, RequestID: requestID})
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// AuditUser writes an event about a user (sign-in, password) into the
// audit log of every tenant the user belongs to (each tenant sees its
// members' sign-ins), or a platform-level entry for a user in none.
func AuditUser(ctx context.Context, tx *store.Tx, userID string, e store.AuditEntry) error {
	ms, err := tx.UserMemberships(ctx, userID)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return tx.Audit(ctx, e)
	}
	for _, m := range ms {
		e.TenantID = m.TenantID
		if err := tx.Audit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// CheckPassword verifies an existing user's password outside sign-in (for
// example when they accept an invitation) under the same per-account and
// per-IP throttle as Login, so no other path allows unlimited guessing.
func (s *Service) CheckPassword(u store.User, password, ip, field string) error {
	acctKey, ipKey := "acct:"+u.Email, "ip:"+ip
	if blocked, wait := s.throttle.Blocked(acctKey, maxFailsPerAccount); blocked {
		return &apperr.Error{Kind: apperr.RateLimited, Message: "too many failed attempts: try again later", RetryAfter: ceilSeconds(wait)}
	}
	if blocked, wait := s.throttle.Blocked(ipKey, maxFailsPerIP); blocked {
		return &apperr.Error{Kind: apperr.RateLimited, Message: "too many failed attempts: try again later", RetryAfter: ceilSeconds(wait)}
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil || !ok {
		s.throttle.Fail(acctKey)
		s.throttle.Fail(ipKey)
		return apperr.Field(field, "is not the password of the existing account "+u.Email)
	}
	s.throttle.Reset(acctKey)
	return nil
}

// Logout ends the session.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	return s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		return tx.DeleteSession(ctx, p.SessionHash)
	})
}

// SwitchTenant moves a session to another tenant the user belongs to (or
// any tenant, for a platform admin).
func (s *Service) SwitchTenant(ctx context.Context, p *Principal, tenantID string) error {
	if p.Kind != "session" {
		return apperr.New(apperr.Forbidden, "only dashboard sessions can switch tenants")
	}
	return s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		q := *p
		if err := s.fillTenantRole(ctx, tx, &q, tenantID); err != nil {
			return err
		}
		return tx.SetSessionTenant(ctx, p.SessionHash, tenantID)
	})
}

// ChangePassword replaces the signed-in user's password after checking the
// current one, and signs out every other session of that user.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) error {
	if p.Kind != "session" {
		return apperr.New(apperr.Forbidden, "only a signed-in user can change a password")
	}
	if err := CheckPasswordPolicy("new_password", next); err != nil {
		return err
	}
	var u store.User
	if err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByID(ctx, p.UserID)
		return err
	}); err != nil {
		return err
	}
	if ok, err := VerifyPassword(u.PasswordHash, current); err != nil || !ok {
		return apperr.Field("current_password", "is not your current password")
	}
	hash, err := HashPassword(next)
	if err != nil {
		return err
	}
	return s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		if err := tx.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID, p.SessionHash); err != nil {
			return err
		}
		return AuditUser(ctx, tx, u.ID, store.AuditEntry{ActorType: "user", ActorID: u.ID, Action: "password.changed", TargetType: "user", TargetID: u.ID, IP: p.IP, RequestID: p.RequestID})
	})
}

// KeyRequest describes a key to create.
type KeyRequest struct {
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
}

func (r *KeyRequest) validate(now time.Time) error {
	var fe apperr.Fields
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || utf8.RuneCountInString(r.Name) > 100 {
		fe.Add("name", "is required and at most 100 characters")
	}
	if len(r.Scopes) == 0 {
		fe.Add("scopes", "must name at least one of read, write, admin")
	}
	for i, sc := range r.Scopes {
		if !ValidScope(sc) {
			fe.Add(fmt.Sprintf("scopes[%d]", i), "must be read, write or admin")
		}
	}
	slices.Sort(r.Scopes)
	r.Scopes = slices.Compact(r.Scopes)
	if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
		fe.Add("expires_at", "must be in the future")
	}
	return fe.Err()
}

// CreateKey issues a key for the principal's tenant. A key can be given no
// scope its creator lacks. The returned secret is shown once.
func (s *Service) CreateKey(ctx context.Context, p *Principal, req KeyRequest) (store.APIKey, string, error) {
	if err := req.validate(time.Now()); err != nil {
		return store.APIKey{}, "", err
	}
	for _, sc := range req.Scopes {
		if !p.Can(sc) {
			return store.APIKey{}, "", apperr.Field("scopes", "cannot grant a scope you do not hold: "+sc)
		}
	}
	scope, err := p.Scope()
	if err != nil {
		return store.APIKey{}, "", err
	}
	var out store.APIKey
	var secret string
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		var err error
		out, secret, err = IssueKey(ctx, tx, p, req)
		return err
	})
	return out, secret, err
}

// IssueKey creates a key inside an open tenant transaction (used by tenant
// creation too, so the first key is written with its tenant).
func IssueKey(ctx context.Context, tx *store.Tx, p *Principal, req KeyRequest) (store.APIKey, string, error) {
	key, prefix, hash := NewAPIKey()
	_, by := p.ActorID()
	k, err := tx.CreateAPIKey(ctx, store.APIKey{Name: req.Name, Prefix: prefix, KeyHash: hash, Scopes: req.Scopes, CreatedBy: by, ExpiresAt: req.ExpiresAt})
	if err != nil {
		return store.APIKey{}, "", err
	}
	if err := tx.Audit(ctx, p.Audit("api_key.created", "api_key", k.ID, fmt.Sprintf(`{"name":%q,"scopes":%q}`, k.Name, strings.Join(k.Scopes, " ")))); err != nil {
		return store.APIKey{}, "", err
	}
	return k, key, nil
}

// RotateKey issues a replacement for key id with the same name and scopes;
// the old key keeps working for grace (the configured default when zero).
func (s *Service) RotateKey(ctx context.Context, p *Principal, id string, grace time.Duration) (store.APIKey, string, error) {
	if grace == 0 {
		grace = s.opts.KeyRotationGrace
	}
	scope, err := p.Scope()
	if err != nil {
		return store.APIKey{}, "", err
	}
	var out store.APIKey
	var secret string
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		old, err := tx.GetAPIKey(ctx, id)
		if err != nil {
			return err
		}
		if old.RevokedAt != nil || (old.ExpiresAt != nil && !tx.Now.Before(*old.ExpiresAt)) {
			return apperr.New(apperr.Conflict, "this key is revoked or expired: create a new key instead")
		}
		if old.RotatedTo != "" {
			return apperr.New(apperr.Conflict, "this key was already rotated: rotate its replacement instead")
		}
		for _, sc := range old.Scopes {
			if !p.Can(sc) {
				return apperr.New(apperr.Forbidden, "cannot rotate a key with a scope you do not hold")
			}
		}
		out, secret, err = IssueKey(ctx, tx, p, KeyRequest{Name: old.Name, Scopes: old.Scopes})
		if err != nil {
			return err
		}
		if err := tx.MarkRotated(ctx, old.ID, out.ID, tx.Now.Add(grace)); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("api_key.rotated", "api_key", old.ID, fmt.Sprintf(`{"replacement":%q,"grace_seconds":%d}`, out.ID, int(grace.Seconds()))))
	})
	return out, secret, err
}

// RevokeKey revokes a key at once.
func (s *Service) RevokeKey(ctx context.Context, p *Principal, id string) error {
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	return s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("api_key.revoked", "api_key", id, ""))
	})
}

// ValidEmail normalises and checks an email address.
func ValidEmail(field, email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return "", apperr.Field(field, "must be an email address such as ana@example.com")
	}
	return email, nil
}

// CreatePlatformAdmin adds a platform admin (the CLI's admin create).
func (s *Service) CreatePlatformAdmin(ctx context.Context, email, password string) (store.User, error) {
	return s.createAdmin(ctx, email, password, nil)
}

// createAdmin validates and inserts a platform admin; check, when given,
// runs first in the same transaction (the setup token must still be valid
// when the admin is written, so two racing setups cannot both succeed).
func (s *Service) createAdmin(ctx context.Context, email, password string, check func(*store.Tx) error) (store.User, error) {
	email, err := ValidEmail("email", email)
	if err != nil {
		return store.User{}, err
	}
	if err := CheckPasswordPolicy("password", password); err != nil {
		return store.User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	err = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		var err error
		if u, err = tx.CreateUser(ctx, email, "", hash, true); err != nil {
			return err
		}
		if err := tx.DeleteSetting(ctx, setupTokenSetting); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{ActorType: "system", Action: "platform_admin.created", TargetType: "user", TargetID: u.ID})
	})
	return u, err
}

const setupTokenSetting = "setup_token_hash"

// SetupToken returns a fresh one-time setup token while no platform admin
// exists ("" once one does). Each call replaces the previous token, so only
// the link printed by the latest start works.
func (s *Service) SetupToken(ctx context.Context) (string, error) {
	token := ""
	err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		n, err := tx.CountPlatformAdmins(ctx)
		if err != nil || n > 0 {
			return err
		}
		token = RandomToken(32)
		return tx.SetSetting(ctx, setupTokenSetting, HashToken(token))
	})
	return token, err
}

// SetupTokenValid reports whether token is the current setup token.
func (s *Service) SetupTokenValid(ctx context.Context, token string) bool {
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error { return checkSetupToken(ctx, tx, token) })
	return err == nil
}

func checkSetupToken(ctx context.Context, tx *store.Tx, token string) error {
	want, ok, err := tx.Setting(ctx, setupTokenSetting)
	if err != nil {
		return err
	}
	if !ok || subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(want)) != 1 {
		return apperr.New(apperr.NotFound, "this setup link is no longer valid")
	}
	return nil
}

// CompleteSetup creates the first platform admin with a valid setup token.
func (s *Service) CompleteSetup(ctx context.Context, token, email, password string) (store.User, error) {
	return s.createAdmin(ctx, email, password, func(tx *store.Tx) error { return checkSetupToken(ctx, tx, token) })
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
