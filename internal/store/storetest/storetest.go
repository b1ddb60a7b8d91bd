// Package storetest opens real databases for tests: a temporary SQLite file
// and, when PostgreSQL answers, a fresh schema on it. Set
// METACHAT_TEST_POSTGRES=require (CI does) to make an unreachable
// PostgreSQL a failure instead of a skip; METACHAT_TEST_POSTGRES_URL names
// the server (default postgres://postgres@127.0.0.1:5432/test).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/metachat/metachat/internal/store"
)

// DefaultPostgresURL is used when METACHAT_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects lists the dialects every store test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// ForEachDialect runs fn as a subtest per dialect, each with a migrated,
// empty store of its own.
func ForEachDialect(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, d, true))
		})
	}
}

// Open returns a store of dialect d, migrated when migrate is set, closed
// and removed when the test ends.
func Open(t testing.TB, d store.Dialect, migrate bool) *store.Store {
	t.Helper()
	ctx := context.Background()
	var st *store.Store
	var err error
	switch d {
	case store.SQLite:
		st, err = store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "test.db"))
	case store.Postgres:
		st, err = store.OpenPostgres(ctx, PostgresSchemaURL(t))
	}
	if err != nil {
		t.Fatalf("open %s store: %v", d, err)
	}
	t.Cleanup(func() { st.Close() })
	if migrate {
		if _, err := st.MigrateUp(ctx); err != nil {
			t.Fatalf("migrate %s: %v", d, err)
		}
	}
	return st
}

var (
	pgOnce sync.Once
	pgErr  error
)

// PostgresURL returns the server URL, skipping the test (or failing it,
// when PostgreSQL is required) if the server does not answer.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("METACHAT_TEST_POSTGRES_URL")
	if u == "" {
		u = DefaultPostgresURL
	}
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", u)
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	if pgErr != nil {
		if os.Getenv("METACHAT_TEST_POSTGRES") == "require" {
			t.Fatalf("PostgreSQL is required (METACHAT_TEST_POSTGRES=require) but %s does not answer: %v", u, pgErr)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v); set METACHAT_TEST_POSTGRES_URL to run the PostgreSQL suites", u, pgErr)
	}
	return u
}

// PostgresSchemaURL creates an empty schema for this test and returns a URL
// whose search_path selects it. The schema is dropped afterwards.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NewTenant creates a tenant directly in the store and returns its id.
func NewTenant(t testing.TB, st *store.Store, name string) string {
	t.Helper()
	var id string
	err := st.Write(context.Background(), store.SystemScope, func(tx *store.Tx) error {
		tn, err := tx.CreateTenant(context.Background(), name)
		id = tn.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
