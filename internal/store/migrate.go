package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

// Migration is one numbered, reversible schema change.
type Migration struct {
	Version   int
	Name      string
	Up, Down  string
	AppliedAt *time.Time // nil when not applied
}

// Migrations lists this dialect's migrations in order, with their state.
func (s *Store) Migrations(ctx context.Context) ([]Migration, error) {
	all, err := loadMigrations(s.dialect)
	if err != nil {
		return nil, err
	}
	if err := s.ensureMigrationTable(ctx); err != nil {
		return nil, err
	}
	rows, err := s.migrator.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		applied[v] = fromMicros(at)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range all {
		if at, ok := applied[all[i].Version]; ok {
			all[i].AppliedAt = &at
		}
	}
	return all, nil
}

// MigrationsCurrent reports whether every migration has been applied.
func (s *Store) MigrationsCurrent(ctx context.Context) (bool, error) {
	all, err := s.Migrations(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range all {
		if m.AppliedAt == nil {
			return false, nil
		}
	}
	return true, nil
}

// MigrateUp applies every pending migration, each in its own transaction,
// and returns those it applied.
func (s *Store) MigrateUp(ctx context.Context) ([]Migration, error) {
	all, err := s.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, m := range all {
		if m.AppliedAt != nil {
			continue
		}
		ran, err := s.applyMigration(ctx, m, true)
		if err != nil {
			return done, err
		}
		if ran {
			done = append(done, m)
		}
	}
	if err := s.grantAppRole(ctx); err != nil {
		return done, err
	}
	return done, nil
}

// MigrateDown reverts the newest steps applied migrations.
func (s *Store) MigrateDown(ctx context.Context, steps int) ([]Migration, error) {
	all, err := s.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for i := len(all) - 1; i >= 0 && len(done) < steps; i-- {
		if all[i].AppliedAt == nil {
			continue
		}
		ran, err := s.applyMigration(ctx, all[i], false)
		if err != nil {
			return done, err
		}
		if ran {
			done = append(done, all[i])
		}
	}
	return done, nil
}

// applyMigration runs one migration, re-checking under a lock that nobody
// else ran it first (several processes may start at once).
func (s *Store) applyMigration(ctx context.Context, m Migration, up bool) (bool, error) {
	tx, err := s.migrator.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7243001)`); err != nil {
			return false, fmt.Errorf("lock migrations: %w", err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
		return false, err
	}
	if (n == 1) == up {
		return false, nil // someone else got there first
	}
	script := m.Up
	if !up {
		script = m.Down
	}
	if _, err := tx.ExecContext(ctx, script); err != nil {
		dir := "up"
		if !up {
			dir = "down"
		}
		return false, fmt.Errorf("migration %04d_%s %s: %w", m.Version, m.Name, dir, err)
	}
	if up {
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, m.Version, m.Name, micros(time.Now()))
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.Version)
	}
	if err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func (s *Store) ensureMigrationTable(ctx context.Context) error {
	_, err := s.migrator.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)`)
	if err != nil && s.dialect == Postgres && isUniqueViolation(err) {
		// Two processes creating the table at once: the other one won.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

// loadMigrations reads NNNN_name.up.sql / .down.sql pairs for a dialect.
func loadMigrations(d Dialect) ([]Migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		name := e.Name()
		base, dirn, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), ".")
		if !ok || (dirn != "up" && dirn != "down") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.up.sql or .down.sql", name)
		}
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s: want a numeric prefix", name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		m := byVersion[v]
		if m == nil {
			m = &Migration{Version: v, Name: label}
			byVersion[v] = m
		} else if m.Name != label {
			return nil, fmt.Errorf("two migrations numbered %04d: %s and %s", v, m.Name, label)
		}
		if dirn == "up" {
			m.Up = string(b)
		} else {
			m.Down = string(b)
		}
	}
	var out []Migration
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migration %04d_%s needs both up and down files", m.Version, m.Name)
		}
		out = append(out, *m)
	}
	// Numbers increase; a gap is allowed (work developed side by side lands
	// in any order), a number used twice is not.
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	if len(out) > 0 && out[0].Version < 1 {
		return nil, fmt.Errorf("migration %04d_%s: numbers start at 1", out[0].Version, out[0].Name)
	}
	return out, nil
}
