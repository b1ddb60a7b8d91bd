package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLockBusy: the named lock is held, by this process or another.
var ErrLockBusy = errors.New("store: the lock is held elsewhere")

// TryExclusive runs fn while holding the lock called name, or returns
// ErrLockBusy at once when it is held. On PostgreSQL the lock is a session
// advisory lock, on a connection kept for the duration, so it excludes
// every process that shares the database (the name is taken within the
// schema, so deployments sharing a database do not hold each other up). On
// SQLite it excludes within the
// process (the embedded set-up is one process; processes sharing a SQLite
// file share its one writer anyway).
func (s *Store) TryExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if s.dialect != Postgres {
		mu, _ := s.locks.LoadOrStore(name, new(sync.Mutex))
		if !mu.(*sync.Mutex).TryLock() {
			return ErrLockBusy
		}
		defer mu.(*sync.Mutex).Unlock()
		return fn(ctx)
	}
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':' || $1, 0))`, name).Scan(&got); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	if !got {
		return ErrLockBusy
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock(hashtextextended(current_schema() || ':' || $1, 0))`, name); err != nil {
			// A connection still holding the lock must not go back to
			// the pool: closing it ends the session and the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(ctx)
}
