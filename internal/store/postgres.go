package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// appRole is the role the application's queries run as on PostgreSQL. It
// owns nothing and cannot bypass row-level security, so the policies hold
// even when DATABASE_URL names a superuser (superusers and BYPASSRLS roles
// are exempt from row security, table owners unless FORCE is set).
const appRole = "metachat_app"

// OpenPostgres connects to PostgreSQL. The schema is the first entry of the
// connection's search_path (set search_path in the URL to use another).
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	mig := stdlib.OpenDB(*cfg)
	mig.SetMaxOpenConns(2)
	if err := mig.PingContext(ctx); err != nil {
		mig.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	var privileged bool
	if err := mig.QueryRowContext(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&privileged); err != nil {
		mig.Close()
		return nil, fmt.Errorf("inspect database role: %w", err)
	}
	var opts []stdlib.OptionOpenDB
	if privileged {
		if err := ensureAppRole(ctx, mig); err != nil {
			mig.Close()
			return nil, err
		}
		opts = append(opts, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET ROLE "+appRole)
			return err
		}))
	}
	app := sql.OpenDB(scopedConnector{stdlib.GetConnector(*cfg, opts...)})
	app.SetMaxOpenConns(20)
	app.SetMaxIdleConns(20)
	s := &Store{dialect: Postgres, write: app, read: app, migrator: mig, closers: []func() error{mig.Close, app.Close}}
	s.restricted = privileged
	if err := s.grantAppRole(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ensureAppRole creates the application role once per cluster. Several
// processes may race here, so losing the race is not an error.
func ensureAppRole(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+appRole+`') THEN
        CREATE ROLE `+appRole+` NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`)
	if err != nil {
		return fmt.Errorf("create role %s (the role the application runs as): %w", appRole, err)
	}
	return nil
}

// grantAppRole lets the application role use the tables of the current
// schema, including tables that later migrations create.
func (s *Store) grantAppRole(ctx context.Context) error {
	if !s.restricted {
		return nil
	}
	_, err := s.migrator.ExecContext(ctx, `DO $$
DECLARE sch text := current_schema();
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO `+appRole+`', sch);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO `+appRole+`', sch);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO `+appRole+`', sch);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO `+appRole+`', sch);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO `+appRole+`', sch);
END $$`)
	if err != nil {
		return fmt.Errorf("grant %s its privileges: %w", appRole, err)
	}
	return nil
}

// setPostgresScope sets the row-security variables for this transaction
// only (set_config's third argument), so a pooled connection never carries
// one tenant's setting into another's transaction.
func setPostgresScope(ctx context.Context, tx *sql.Tx, scope Scope) error {
	system := "off"
	if scope.system {
		system = "on"
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('app.tenant_id', $1, true), set_config('app.system', $2, true)`, scope.tenantID, system); err != nil {
		return fmt.Errorf("set row security scope: %w", err)
	}
	return nil
}
