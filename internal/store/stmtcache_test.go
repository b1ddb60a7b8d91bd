package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

// countingDriver counts the statements its connections prepare.
type countingDriver struct {
	inner    driver.Driver
	prepares atomic.Int64
}

func (d *countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return countingConn{cacheableConn: c.(cacheableConn), d: d}, nil
}

type countingConn struct {
	cacheableConn
	d *countingDriver
}

func (c countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.d.prepares.Add(1)
	return c.cacheableConn.PrepareContext(ctx, q)
}

func openCached(t *testing.T) (*sql.DB, *countingDriver) {
	t.Helper()
	d := &countingDriver{inner: &sqlite.Driver{}}
	db := sql.OpenDB(cachingConnector{dsn: "file:" + filepath.Join(t.TempDir(), "c.db"), drv: d})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	return db, d
}

func TestARepeatedStatementIsPreparedOnce(t *testing.T) {
	db, d := openCached(t)
	before := d.prepares.Load()
	for i := range 50 {
		if _, err := db.Exec(`INSERT INTO t (id, v) VALUES ($1, $2)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := db.QueryRow(`SELECT v FROM t WHERE id = $1`, i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("row %d: %q, %v", i, v, err)
		}
	}
	if got := d.prepares.Load() - before; got != 2 {
		t.Fatalf("prepared %d statements for two texts run 50 times each, want 2", got)
	}
}

func TestTheSameTextRunsAgainWhileItsRowsAreOpen(t *testing.T) {
	db, _ := openCached(t)
	for i := range 3 {
		if _, err := db.Exec(`INSERT INTO t (id, v) VALUES ($1, 'x')`, i); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT id FROM t ORDER BY id`
	outer, err := tx.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var a int
		if err := outer.Scan(&a); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for inner.Next() {
			n++
		}
		inner.Close()
		pairs = append(pairs, fmt.Sprint(a, ":", n))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if fmt.Sprint(pairs) != "[0:3 1:3 2:3]" {
		t.Fatalf("nested use of one text gave %v", pairs)
	}
}

func TestManyDistinctTextsStayCorrectPastTheCacheBound(t *testing.T) {
	db, _ := openCached(t)
	for i := range stmtCacheSize*2 + 10 {
		var got int
		if err := db.QueryRow(fmt.Sprintf(`SELECT %d + $1`, i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("text %d: %d, %v", i, got, err)
		}
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Raw(func(c any) error {
		if n := c.(*cachingConn).lru.Len(); n > stmtCacheSize {
			t.Errorf("%d statements kept, bound %d", n, stmtCacheSize)
		}
		return nil
	})
}

func TestCachedStatementsFollowSchemaChangesAndDoNotBlockThem(t *testing.T) {
	db, _ := openCached(t)
	if _, err := db.Exec(`INSERT INTO t (id, v) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	// A cached statement on t must not keep DROP TABLE from running.
	if _, err := db.Exec(`DROP TABLE t`); err != nil {
		t.Fatalf("drop while a statement on it is cached: %v", err)
	}
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w TEXT)`); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count after re-creating the table %d, %v", n, err)
	}
	if _, err := db.Exec(`SELECT nope FROM t`); err == nil {
		t.Fatal("a bad statement ran")
	}
}
