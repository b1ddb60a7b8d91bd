// Package store is metachat's database access: one API over SQLite (the
// embedded default) and PostgreSQL (scale-out). Portable SQL is written once
// with $N placeholders, which both drivers accept; dialect-specific SQL lives
// in files named for their dialect. Every tenant-owned query takes its tenant
// from the transaction's scope, never from a parameter a caller could mix up.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/metachat/metachat/internal/apperr"
)

// Dialect names the SQL dialect behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the database. It is safe for concurrent use.
type Store struct {
	dialect Dialect
	// write takes every read-write transaction. On SQLite it holds exactly
	// one connection, so writers queue in Go instead of failing with
	// SQLITE_BUSY; read holds several read-only connections (WAL lets them
	// run beside the writer). On PostgreSQL both are the same pool.
	write *sql.DB
	read  *sql.DB
	// migrator is the connection that owns the schema (PostgreSQL: without
	// the restricted application role).
	migrator *sql.DB
	closers  []func() error
	// restricted: queries run as the application role (PostgreSQL, when
	// the configured user could bypass row security).
	restricted bool
	// locks are TryExclusive's locks on SQLite (name → *sync.Mutex).
	locks sync.Map
	// sys is WriteSystemSession's connection.
	sys systemSession
}

// Dialect reports which SQL dialect the store speaks.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB is the read-write pool, for metrics and for libraries (such as a job
// queue) that need their own handle.
func (s *Store) DB() *sql.DB { return s.write }

// MigratorDB is the schema owner's connection (the same as DB on SQLite),
// for libraries that bring their own migrations (the job queue).
func (s *Store) MigratorDB() *sql.DB { return s.migrator }

// GrantAppRole gives the application role its privileges on every table,
// including tables other libraries' migrations created.
func (s *Store) GrantAppRole(ctx context.Context) error { return s.grantAppRole(ctx) }

// SQL is the transaction's database/sql handle, for libraries that write
// in the caller's transaction (the job queue inserts jobs with the data
// that needs them). Tenant-owned tables are for the store's methods only.
func (t *Tx) SQL() *sql.Tx { return t.tx }

// Dialect is the database the transaction runs on.
func (t *Tx) Dialect() Dialect { return t.dialect }

// Close releases the database.
func (s *Store) Close() error {
	s.sys.mu.Lock()
	s.sys.closed = true
	s.sys.discard()
	s.sys.mu.Unlock()
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return err
	}
	return s.read.PingContext(ctx)
}

// Scope says whose rows a transaction may touch: one tenant's, or (for
// sign-in lookups and platform administration only) every tenant's.
type Scope struct {
	tenantID string
	system   bool
}

// TenantScope confines a transaction to one tenant.
func TenantScope(tenantID string) Scope { return Scope{tenantID: tenantID} }

// SystemScope is for the few operations that precede knowing the tenant
// (authenticating a key or session) or span tenants (platform admin).
var SystemScope = Scope{system: true}

// Tx is a transaction bound to a scope.
type Tx struct {
	tx      *sql.Tx
	scope   Scope
	dialect Dialect
	// Now is stamped once per transaction so that every row it writes
	// agrees on the time.
	Now time.Time
}

// TenantID is the tenant the transaction is confined to ("" in system scope).
func (t *Tx) TenantID() string { return t.scope.tenantID }

// Write runs fn in a read-write transaction; fn's error rolls it back.
func (s *Store) Write(ctx context.Context, scope Scope, fn func(*Tx) error) error {
	return s.run(ctx, s.write, false, scope, true, fn)
}

// systemSession is a PostgreSQL connection whose session is in the system
// scope; it serves WriteSystemSession only and never goes back to the pool.
type systemSession struct {
	mu     sync.Mutex
	conn   *sql.Conn
	closed bool
}

// discard ends the connection (and with it the session's scope) instead
// of returning it to the pool; mu is held.
func (ss *systemSession) discard() {
	if ss.conn != nil {
		_ = ss.conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = ss.conn.Close()
		ss.conn = nil
	}
}

// WriteSystemSession is Write in the system scope for a hot path of
// system-scope transactions (the webhook intake's batches). On PostgreSQL
// it runs on one connection kept for it, whose session is in the system
// scope, so a transaction does not set its scope first: a round trip
// fewer. The connection serves nothing else and is closed, never pooled,
// after any error. Calls run one at a time.
func (s *Store) WriteSystemSession(ctx context.Context, fn func(*Tx) error) error {
	if s.dialect != Postgres {
		return s.Write(ctx, SystemScope, fn)
	}
	ss := &s.sys
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return errors.New("store: closed")
	}
	if ss.conn == nil {
		c, err := s.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("system session: %w", err)
		}
		ss.conn = c
		if _, err := c.ExecContext(ctx, `SELECT set_config('app.tenant_id', '', false), set_config('app.system', 'on', false)`); err != nil {
			ss.discard()
			return fmt.Errorf("system session: %w", err)
		}
	}
	err := s.run(ctx, ss.conn, false, SystemScope, false, fn)
	if err != nil {
		ss.discard()
	}
	return err
}

// Read runs fn in a read-only transaction.
func (s *Store) Read(ctx context.Context, scope Scope, fn func(*Tx) error) error {
	return s.run(ctx, s.read, true, scope, true, fn)
}

// run runs fn in a transaction begun on db (a pool, or a connection of
// one); setScope: the transaction sets its scope for row security
// (PostgreSQL), unless db's session already has it.
func (s *Store) run(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, readOnly bool, scope Scope, setScope bool, fn func(*Tx) error) (err error) {
	if !scope.system && scope.tenantID == "" {
		return apperr.Wrap(errors.New("tenant scope without a tenant"), "internal error")
	}
	opts := &sql.TxOptions{ReadOnly: readOnly && s.dialect == Postgres}
	var req *scopeRequest
	if s.dialect == Postgres && setScope {
		req = &scopeRequest{scope: scope}
		ctx = context.WithValue(ctx, scopeRequestKey{}, req)
	}
	sqlTx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{tx: sqlTx, scope: scope, dialect: s.dialect, Now: time.Now().UTC().Truncate(time.Microsecond)}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
			return
		}
		if cerr := sqlTx.Commit(); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
	}()
	if req != nil && !req.applied {
		if err := setPostgresScope(ctx, sqlTx, scope); err != nil {
			return err
		}
	}
	return fn(tx)
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, q, args...)
}

// Exists reports whether query (without parameters) returns a row.
func (t *Tx) Exists(ctx context.Context, query string) (bool, error) {
	rows, err := t.query(ctx, query)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := rows.Next()
	return found, rows.Err()
}

// tenant returns the scope's tenant, refusing system scope: a tenant-owned
// query must never run without one.
func (t *Tx) tenant() string {
	if t.scope.tenantID == "" {
		panic("store: tenant-owned query in a scope without a tenant")
	}
	return t.scope.tenantID
}

// EnterTenant narrows a system-scope transaction to one tenant, for work
// that creates a tenant and then writes its first rows atomically.
func (t *Tx) EnterTenant(ctx context.Context, tenantID string) error {
	if !t.scope.system {
		return errors.New("store: EnterTenant from a tenant scope")
	}
	t.scope = TenantScope(tenantID)
	if t.dialect == Postgres {
		return setPostgresScope(ctx, t.tx, t.scope)
	}
	return nil
}

// NewID returns a new time-ordered (version 7) UUID.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ValidID reports whether s has the shape of an id.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

// notFound turns sql.ErrNoRows into the application's NotFound.
func notFound(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.NotFound, "%s not found", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isUniqueViolation recognises a unique or primary key violation on both
// dialects without importing either driver's error type here.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) {
		return coded.SQLState() == "23505"
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "constraint failed: PRIMARY KEY")
}

// mustAffect reports NotFound when an update or delete touched no row.
func mustAffect(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "%s not found", what)
	}
	return nil
}
