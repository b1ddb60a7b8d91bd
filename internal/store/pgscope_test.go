package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// settings reads the row-security variables as a transaction sees them.
func settings(t *testing.T, tx *store.Tx) (tenant, system string) {
	t.Helper()
	err := tx.SQL().QueryRowContext(context.Background(),
		`SELECT coalesce(current_setting('app.tenant_id', true), ''), coalesce(current_setting('app.system', true), '')`).Scan(&tenant, &system)
	if err != nil {
		t.Fatal(err)
	}
	return tenant, system
}

func TestEveryPostgresTransactionBeginsInItsScopeAndLeavesNoneBehind(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.Postgres, true)
	ctx := context.Background()
	a := storetest.NewTenant(t, st, "A")
	cases := []struct {
		name       string
		scope      store.Scope
		wantTenant string
		wantSystem string
	}{
		{"a tenant", store.TenantScope(a), a, "off"},
		// Not a UUID: the scope cannot be written as a literal, so it is
		// set by its own statement, with the same effect.
		{"a tenant id that is not a UUID", store.TenantScope("not-a-uuid'); SELECT 1; --"), "not-a-uuid'); SELECT 1; --", "off"},
		{"the system", store.SystemScope, "", "on"},
	}
	for _, c := range cases {
		for _, run := range []func(context.Context, store.Scope, func(*store.Tx) error) error{st.Read, st.Write} {
			err := run(ctx, c.scope, func(tx *store.Tx) error {
				if tenant, system := settings(t, tx); tenant != c.wantTenant || system != c.wantSystem {
					t.Errorf("%s: app.tenant_id %q, app.system %q; want %q, %q", c.name, tenant, system, c.wantTenant, c.wantSystem)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
	}

	// The settings are the transaction's own: a connection back in the
	// pool carries none of them. Holding every pooled connection at once
	// makes sure the ones used above are among them.
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 20 {
		conn, err := st.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		var tenant, system string
		err = conn.QueryRowContext(ctx, `SELECT coalesce(current_setting('app.tenant_id', true), ''), coalesce(current_setting('app.system', true), '')`).Scan(&tenant, &system)
		if err != nil {
			t.Fatal(err)
		}
		if tenant != "" || (system != "" && system != "off") {
			t.Errorf("a pooled connection kept app.tenant_id %q, app.system %q outside any transaction", tenant, system)
		}
	}
}

func TestAFailedStatementInAScopedTransactionRollsBackAndTheConnectionServesOn(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.Postgres, true)
	ctx := context.Background()
	a := storetest.NewTenant(t, st, "A")
	for range 30 { // more than the pool holds, so every connection is reused
		err := st.Write(ctx, store.TenantScope(a), func(tx *store.Tx) error {
			_, err := tx.SQL().ExecContext(ctx, `SELECT 1/0`)
			return err
		})
		if err == nil {
			t.Fatal("division by zero succeeded")
		}
		err = st.Read(ctx, store.TenantScope(a), func(tx *store.Tx) error {
			if tenant, _ := settings(t, tx); tenant != a {
				t.Errorf("app.tenant_id %q after a failed transaction, want %q", tenant, a)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the next transaction failed: %v", err)
		}
	}
}

func TestATenantScopeIsWrittenIntoTheBeginOnlyWhenItIsACanonicalUUID(t *testing.T) {
	const id = "0190f3a2-7c1e-7b4a-9d2e-3f4a5b6c7d8e"
	cases := []struct {
		name  string
		scope store.Scope
		ro    bool
		want  string
		ok    bool
	}{
		{"a tenant", store.TenantScope(id), false, "BEGIN; SELECT set_config('app.tenant_id', '" + id + "', true), set_config('app.system', 'off', true)", true},
		{"a tenant, read only", store.TenantScope(id), true, "BEGIN READ ONLY; SELECT set_config('app.tenant_id', '" + id + "', true), set_config('app.system', 'off', true)", true},
		{"upper case", store.TenantScope("0190F3A2-7C1E-7B4A-9D2E-3F4A5B6C7D8E"), false, "", false},
		{"the system", store.SystemScope, false, "BEGIN; SELECT set_config('app.tenant_id', '', true), set_config('app.system', 'on', true)", true},
		{"a quote", store.TenantScope("x', true); DROP TABLE messages; --"), false, "", false},
		{"braces around a UUID", store.TenantScope("{" + id + "}"), false, "", false},
	}
	for _, c := range cases {
		got, ok := store.BeginsInOneQuery(c.scope, c.ro)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
