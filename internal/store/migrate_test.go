package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// schemaOf describes the tables, columns, indexes and policies of the
// store's schema, in a form that compares equal for equal schemas.
func schemaOf(t *testing.T, st *store.Store) []string {
	t.Helper()
	ctx := context.Background()
	var q string
	switch st.Dialect() {
	case store.SQLite:
		q = `SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'`
	case store.Postgres:
		q = `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
  FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'
UNION ALL SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'
UNION ALL SELECT 'policy ' || tablename || '.' || policyname || ': ' || COALESCE(qual, '') FROM pg_policies WHERE schemaname = current_schema()
UNION ALL SELECT 'rls ' || relname || ' ' || relrowsecurity::text || ' ' || relforcerowsecurity::text FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND relname <> 'schema_migrations'
UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text <> 'schema_migrations'`
	}
	rows, err := st.DB().QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	sort.Strings(out)
	return out
}

func TestMigrationsGoUpDownAndUpToTheSameSchema(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d, false)
			all, err := st.Migrations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) == 0 {
				t.Fatal("no migrations found")
			}
			if ok, _ := st.MigrationsCurrent(ctx); ok {
				t.Fatal("a fresh database reports its migrations current")
			}
			applied, err := st.MigrateUp(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != len(all) {
				t.Fatalf("applied %d of %d migrations", len(applied), len(all))
			}
			first := schemaOf(t, st)
			if len(first) == 0 {
				t.Fatal("schema is empty after migrating up")
			}
			if ok, err := st.MigrationsCurrent(ctx); err != nil || !ok {
				t.Fatalf("MigrationsCurrent = %v, %v after up", ok, err)
			}
			reverted, err := st.MigrateDown(ctx, len(all))
			if err != nil {
				t.Fatal(err)
			}
			if len(reverted) != len(all) {
				t.Fatalf("reverted %d of %d", len(reverted), len(all))
			}
			if empty := schemaOf(t, st); len(empty) != 0 {
				t.Fatalf("schema left after migrating all the way down:\n%s", strings.Join(empty, "\n"))
			}
			if _, err := st.MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, schemaOf(t, st)); diff != "" {
				t.Fatalf("schema after up-down-up differs (-first +second):\n%s", diff)
			}
			again, err := st.MigrateUp(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("second MigrateUp applied %d, err %v; want none", len(again), err)
			}
		})
	}
}

func TestEachMigrationStepReverts(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d, false)
			all, err := st.Migrations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Up one step at a time, recording the schema; then down one at a
			// time, expecting each earlier schema back.
			var shapes [][]string
			shapes = append(shapes, schemaOf(t, st))
			for range all {
				if err := upOne(ctx, st); err != nil {
					t.Fatal(err)
				}
				shapes = append(shapes, schemaOf(t, st))
			}
			for i := len(all) - 1; i >= 0; i-- {
				if _, err := st.MigrateDown(ctx, 1); err != nil {
					t.Fatalf("down from %d: %v", i+1, err)
				}
				if diff := cmp.Diff(shapes[i], schemaOf(t, st)); diff != "" {
					t.Fatalf("after reverting migration %d the schema differs from before it (-want +got):\n%s", i+1, diff)
				}
			}
		})
	}
}

// upOne applies exactly the next pending migration by migrating all up and
// back down to the wanted count.
func upOne(ctx context.Context, st *store.Store) error {
	all, err := st.Migrations(ctx)
	if err != nil {
		return err
	}
	applied := 0
	for _, m := range all {
		if m.AppliedAt != nil {
			applied++
		}
	}
	if _, err := st.MigrateUp(ctx); err != nil {
		return err
	}
	if extra := len(all) - applied - 1; extra > 0 {
		if _, err := st.MigrateDown(ctx, extra); err != nil {
			return fmt.Errorf("down %d: %w", extra, err)
		}
	}
	return nil
}
