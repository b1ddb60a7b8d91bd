package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
)

// OpenSQLite opens (creating if needed) the SQLite database at path.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	pragmas := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(ON)", "synchronous(NORMAL)"} {
		pragmas.Add("_pragma", p)
	}
	// The writer starts transactions IMMEDIATE: a deferred transaction that
	// reads and then writes could fail to upgrade its lock.
	wq := url.Values{"_txlock": {"immediate"}}
	for _, p := range pragmas["_pragma"] {
		wq.Add("_pragma", p)
	}
	w := sql.OpenDB(cachingConnector{dsn: "file:" + path + "?" + wq.Encode(), drv: &sqlite.Driver{}})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)

	rq := url.Values{}
	for _, p := range pragmas["_pragma"] {
		rq.Add("_pragma", p)
	}
	rq.Add("_pragma", "query_only(1)")
	r := sql.OpenDB(cachingConnector{dsn: "file:" + path + "?" + rq.Encode(), drv: &sqlite.Driver{}})
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)

	s := &Store{dialect: SQLite, write: w, read: r, migrator: w, closers: []func() error{w.Close, r.Close}}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}
