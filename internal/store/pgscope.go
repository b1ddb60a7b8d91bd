package store

import (
	"context"
	"database/sql/driver"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Every transaction on PostgreSQL sets its row-security scope before its
// first statement. Sent apart, BEGIN and set_config are two round trips,
// and round trips are what a transaction mostly costs both sides here
// (the reply pipeline makes three transactions per reply). So connections
// begin a transaction whose scope rides in its context with one
// simple-protocol query, "BEGIN; SELECT set_config(…)". The scope is
// written into the query as literals, which is safe only because a tenant
// id must be a UUID in canonical form; any other scope falls back to the
// separate statement.

// scopeRequest asks the connection to set scope as it begins; applied
// reports that it did.
type scopeRequest struct {
	scope   Scope
	applied bool
}

type scopeRequestKey struct{}

// scopedConnector opens connections that honour scope requests.
type scopedConnector struct{ driver.Connector }

func (c scopedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		return conn, nil
	}
	return &scopedConn{pgxDriverConn: pc, pgx: pc.Conn()}, nil
}

// pgxDriverConn is what database/sql uses of pgx's connection; without
// NamedValueChecker it would refuse pgx's own argument types.
type pgxDriverConn interface {
	driverConn
	driver.NamedValueChecker
}

type scopedConn struct {
	pgxDriverConn
	pgx *pgx.Conn
}

func (c *scopedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	req, _ := ctx.Value(scopeRequestKey{}).(*scopeRequest)
	if req == nil || opts.Isolation != driver.IsolationLevel(0) {
		return c.pgxDriverConn.BeginTx(ctx, opts)
	}
	q, ok := beginScoped(req.scope, opts.ReadOnly)
	if !ok {
		return c.pgxDriverConn.BeginTx(ctx, opts)
	}
	if c.pgx.IsClosed() {
		return nil, driver.ErrBadConn
	}
	tx, err := c.pgx.BeginTx(ctx, pgx.TxOptions{BeginQuery: q})
	if err != nil {
		if !c.pgx.IsClosed() && c.pgx.PgConn().TxStatus() != 'I' {
			// BEGIN ran but set_config failed: the transaction is open.
			_, _ = c.pgx.Exec(context.WithoutCancel(ctx), "rollback")
		}
		return nil, err
	}
	req.applied = true
	return scopedTx{ctx: ctx, tx: tx}, nil
}

// beginScoped renders the combined query, or reports that scope cannot be
// written as literals.
func beginScoped(scope Scope, readOnly bool) (string, bool) {
	tenant := ""
	if scope.tenantID != "" {
		// Only the canonical form: uuid.Parse also takes braces, URNs
		// and upper case.
		id, err := uuid.Parse(scope.tenantID)
		if err != nil || id.String() != scope.tenantID {
			return "", false
		}
		tenant = scope.tenantID
	}
	system := "off"
	if scope.system {
		system = "on"
	}
	begin := "BEGIN"
	if readOnly {
		begin = "BEGIN READ ONLY"
	}
	return begin + "; SELECT set_config('app.tenant_id', '" + tenant + "', true), set_config('app.system', '" + system + "', true)", true
}

// scopedTx is pgx's transaction as database/sql wants it (as stdlib's own
// wrapper does it).
type scopedTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t scopedTx) Commit() error   { return t.tx.Commit(t.ctx) }
func (t scopedTx) Rollback() error { return t.tx.Rollback(t.ctx) }
