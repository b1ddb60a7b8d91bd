package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"sync"
)

// SQLite parses every statement it runs: modernc's driver prepares the text
// again on each Exec and Query and finalizes it after. For the short,
// repeated statements of this application parsing is a large share of the
// work (a quarter of the webhook intake's CPU went to re-preparing River's
// job insert), so each connection keeps its recently used statements
// prepared. A statement that is in use (its rows are still open) is never
// shared: a second use of the same text then prepares a statement of its
// own, as the driver would have done.

// stmtCacheSize bounds the statements kept per connection; texts built
// with a varying number of placeholders (IN lists, batches) come and go.
const stmtCacheSize = 256

// cachingConnector opens driver connections that keep prepared statements.
type cachingConnector struct {
	dsn string
	drv driver.Driver
}

func (c cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(cacheableConn)
	if !ok {
		return conn, nil
	}
	return &cachingConn{cacheableConn: inner, byText: map[string]*list.Element{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.drv }

// driverConn is what database/sql uses of a driver's connection: a
// wrapper must pass each on, or database/sql takes slower paths.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
}

// cacheableConn is what the cache needs of modernc's connection.
type cacheableConn interface {
	driverConn
	driver.Validator
}

type cachingConn struct {
	cacheableConn
	// database/sql uses a connection from one goroutine at a time, but a
	// Rows' Close may come from another; mu guards the cache.
	mu     sync.Mutex
	lru    list.List // of *cachedStmt, most recently used first
	byText map[string]*list.Element
}

type cachedStmt struct {
	text string
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool
}

// take returns the statement for text, prepared and marked busy, or nil
// when it is in use (the caller then runs the text uncached).
func (c *cachingConn) take(ctx context.Context, text string) (*cachedStmt, error) {
	c.mu.Lock()
	if el, ok := c.byText[text]; ok {
		cs := el.Value.(*cachedStmt)
		if cs.busy {
			c.mu.Unlock()
			return nil, nil
		}
		cs.busy = true
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return cs, nil
	}
	c.mu.Unlock()

	st, err := c.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	full, ok := st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		st.Close()
		return nil, nil
	}
	cs := &cachedStmt{text: text, stmt: full, busy: true}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byText[text] = c.lru.PushFront(cs)
	c.evictLocked()
	return cs, nil
}

// evictLocked closes the least recently used idle statements beyond the
// bound; busy ones are closed later by their release.
func (c *cachingConn) evictLocked() {
	for el := c.lru.Back(); el != nil && c.lru.Len() > stmtCacheSize; {
		prev := el.Prev()
		if cs := el.Value.(*cachedStmt); !cs.busy {
			c.lru.Remove(el)
			delete(c.byText, cs.text)
			cs.stmt.Close()
		}
		el = prev
	}
}

func (c *cachingConn) release(cs *cachedStmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.busy = false
	c.evictLocked()
}

func (c *cachingConn) ExecContext(ctx context.Context, text string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.take(ctx, text)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.cacheableConn.ExecContext(ctx, text, args)
	}
	defer c.release(cs)
	return cs.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, text string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.take(ctx, text)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.cacheableConn.QueryContext(ctx, text, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(cs) }}, nil
}

func (c *cachingConn) Close() error {
	c.mu.Lock()
	for el := c.lru.Front(); el != nil; el = el.Next() {
		el.Value.(*cachedStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.byText)
	c.mu.Unlock()
	return c.cacheableConn.Close()
}

// cachedRows hands its statement back to the cache when closed.
type cachedRows struct {
	driver.Rows
	release func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}
