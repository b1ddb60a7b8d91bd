package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The store conformance suite: every test runs against SQLite and
// PostgreSQL through storetest.ForEachDialect.

func write(t *testing.T, st *store.Store, scope store.Scope, fn func(*store.Tx) error) {
	t.Helper()
	if err := st.Write(context.Background(), scope, fn); err != nil {
		t.Fatal(err)
	}
}

func newTenant(t *testing.T, st *store.Store, name string) store.Tenant {
	t.Helper()
	var tn store.Tenant
	write(t, st, store.SystemScope, func(tx *store.Tx) error {
		var err error
		tn, err = tx.CreateTenant(context.Background(), name)
		return err
	})
	return tn
}

func TestTenantsAreCreatedListedAndSuspended(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var made []store.Tenant
		for _, n := range []string{"A", "B", "C"} {
			made = append(made, newTenant(t, st, n))
		}
		var page1, page2 []store.Tenant
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			var err error
			if page1, err = tx.ListTenants(ctx, store.Page{Limit: 2}); err != nil {
				t.Fatal(err)
			}
			page2, err = tx.ListTenants(ctx, store.Page{Limit: 2, After: page1[1].ID})
			return err
		})
		if len(page1) != 2 || len(page2) != 1 || page2[0].ID != made[2].ID {
			t.Fatalf("pages = %v / %v", page1, page2)
		}
		write(t, st, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, made[0].ID, "suspended") })
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			got, err := tx.GetTenant(ctx, made[0].ID)
			if err != nil || got.Status != "suspended" {
				t.Fatalf("status = %q, %v", got.Status, err)
			}
			return nil
		})
		err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, made[0].ID, "deleted") })
		if err == nil {
			t.Fatal("an unknown status was accepted")
		}
		err = st.Write(ctx, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, store.NewID(), "active") })
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("unknown tenant: %v, want NotFound", err)
		}
	})
}

func TestATenantScopeSeesOnlyItsOwnTenant(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		err := st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			_, err := tx.GetTenant(ctx, b.ID)
			return err
		})
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("tenant A read tenant B: %v", err)
		}
	})
}

func TestUsersHaveUniqueCaseInsensitiveEmails(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			_, err := tx.CreateUser(ctx, "Ana@Example.com", "Ana", "h", false)
			return err
		})
		err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			_, err := tx.CreateUser(ctx, "ana@example.COM", "", "h", false)
			return err
		})
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.Conflict || len(ae.Fields) != 1 || ae.Fields[0].Field != "email" {
			t.Fatalf("duplicate email: %v, want a Conflict naming email", err)
		}
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			u, err := tx.UserByEmail(ctx, "ANA@example.com")
			if err != nil || u.Name != "Ana" || u.Email != "ana@example.com" {
				t.Fatalf("UserByEmail = %+v, %v", u, err)
			}
			return nil
		})
	})
}

func TestMembersAndOwnersAreCountedPerTenant(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		var u1, u2 store.User
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			if u1, err = tx.CreateUser(ctx, "one@example.com", "", "h", false); err != nil {
				return err
			}
			u2, err = tx.CreateUser(ctx, "two@example.com", "", "h", false)
			return err
		})
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			if err := tx.AddMember(ctx, u1.ID, "owner"); err != nil {
				return err
			}
			return tx.AddMember(ctx, u2.ID, "agent")
		})
		write(t, st, store.TenantScope(b.ID), func(tx *store.Tx) error { return tx.AddMember(ctx, u2.ID, "owner") })

		_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			ms, err := tx.ListMembers(ctx, store.Page{Limit: 50})
			if err != nil || len(ms) != 2 {
				t.Fatalf("A members = %v, %v", ms, err)
			}
			if n, _ := tx.CountOwners(ctx); n != 1 {
				t.Fatalf("A owners = %d", n)
			}
			return nil
		})
		_ = st.Read(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error {
			if _, err := tx.GetMember(ctx, u1.ID); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("B sees A's member: %v", err)
			}
			return nil
		})
		if err := st.Write(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error { return tx.RemoveMember(ctx, u1.ID) }); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("B removed A's member: %v", err)
		}
		err := st.Write(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error { return tx.AddMember(ctx, u1.ID, "admin") })
		if !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("adding a member twice: %v, want Conflict", err)
		}
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			ms, err := tx.UserMemberships(ctx, u2.ID)
			if err != nil || len(ms) != 2 {
				t.Fatalf("u2 memberships = %v, %v", ms, err)
			}
			return nil
		})
	})
}

func TestAPIKeysAreFoundByHashAndScopedToTheirTenant(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		var k store.APIKey
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			var err error
			k, err = tx.CreateAPIKey(ctx, store.APIKey{Name: "ci", Prefix: "mc_abc", KeyHash: "hash-a", Scopes: []string{"read", "write"}, ExpiresAt: &exp})
			return err
		})
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			got, status, err := tx.APIKeyByHash(ctx, "hash-a")
			if err != nil || got.ID != k.ID || got.TenantID != a.ID || status != "active" || len(got.Scopes) != 2 || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
				t.Fatalf("APIKeyByHash = %+v, %q, %v", got, status, err)
			}
			if _, _, err := tx.APIKeyByHash(ctx, "nope"); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("unknown hash: %v", err)
			}
			return nil
		})
		err := st.Read(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error {
			_, err := tx.GetAPIKey(ctx, k.ID)
			return err
		})
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("B read A's key: %v", err)
		}
		err = st.Write(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error { return tx.RevokeAPIKey(ctx, k.ID) })
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("B revoked A's key: %v", err)
		}
		until := time.Now().Add(time.Minute)
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			if err := tx.MarkRotated(ctx, k.ID, store.NewID(), until); err != nil {
				return err
			}
			return tx.RevokeAPIKey(ctx, k.ID)
		})
		_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			got, err := tx.GetAPIKey(ctx, k.ID)
			if err != nil || got.RevokedAt == nil || got.RotatedTo == "" || got.ExpiresAt == nil || got.ExpiresAt.After(until) {
				t.Fatalf("after rotate+revoke: %+v, %v", got, err)
			}
			return nil
		})
	})
}

func TestSessionsInvitationsAuditAndSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		var u store.User
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			if u, err = tx.CreateUser(ctx, "s@example.com", "", "h", true); err != nil {
				return err
			}
			if err := tx.CreateSession(ctx, store.Session{IDHash: "sess", UserID: u.ID, TenantID: a.ID, CSRFToken: "csrf", ExpiresAt: tx.Now.Add(time.Hour)}); err != nil {
				return err
			}
			if err := tx.SetSetting(ctx, "k", "v1"); err != nil {
				return err
			}
			return tx.SetSetting(ctx, "k", "v2")
		})
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			s, err := tx.SessionByHash(ctx, "sess")
			if err != nil || s.UserID != u.ID || s.TenantID != a.ID || s.CSRFToken != "csrf" {
				t.Fatalf("session = %+v, %v", s, err)
			}
			if v, ok, err := tx.Setting(ctx, "k"); v != "v2" || !ok || err != nil {
				t.Fatalf("setting = %q %v %v", v, ok, err)
			}
			if _, ok, err := tx.Setting(ctx, "missing"); ok || err != nil {
				t.Fatalf("missing setting: ok=%v err=%v", ok, err)
			}
			if n, _ := tx.CountPlatformAdmins(ctx); n != 1 {
				t.Fatalf("platform admins = %d", n)
			}
			return nil
		})
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			n, err := tx.DeleteExpiredSessions(ctx, tx.Now.Add(time.Minute))
			if n != 1 {
				t.Fatalf("idle session not removed: %d", n)
			}
			return err
		})

		var inv store.Invitation
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			var err error
			inv, err = tx.CreateInvitation(ctx, store.Invitation{Email: "New@Example.com", Role: "agent", TokenHash: "tok", ExpiresAt: tx.Now.Add(time.Hour)})
			if err != nil {
				return err
			}
			return tx.Audit(ctx, store.AuditEntry{ActorType: "user", ActorID: u.ID, Action: "member.invited"})
		})
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			got, err := tx.InvitationByTokenHash(ctx, "tok")
			if err != nil || got.ID != inv.ID || got.Email != "new@example.com" {
				t.Fatalf("invitation = %+v, %v", got, err)
			}
			if err := tx.EnterTenant(ctx, a.ID); err != nil {
				return err
			}
			first, err := tx.AcceptInvitation(ctx, inv.ID)
			if err != nil || !first {
				t.Fatalf("first accept = %v, %v", first, err)
			}
			second, err := tx.AcceptInvitation(ctx, inv.ID)
			if err != nil || second {
				t.Fatalf("second accept = %v, %v; want false", second, err)
			}
			return nil
		})
		_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			es, err := tx.ListAudit(ctx, store.Page{Limit: 10})
			if err != nil || len(es) != 1 || es[0].Action != "member.invited" {
				t.Fatalf("audit = %+v, %v", es, err)
			}
			return nil
		})
	})
}

func TestAFailingTransactionWritesNothing(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			if _, err := tx.CreateTenant(ctx, "half"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			ts, _ := tx.ListTenants(ctx, store.Page{Limit: 10})
			if len(ts) != 0 {
				t.Fatalf("rolled-back tenant is visible: %v", ts)
			}
			return nil
		})
	})
}

func TestConcurrentWritersAllSucceed(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		errs := make(chan error, 20)
		for range 20 {
			go func() {
				errs <- st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
					_, err := tx.CreateTenant(ctx, "t")
					return err
				})
			}()
		}
		for range 20 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Row-level security is PostgreSQL's second line: even a query with no
// tenant filter of its own sees only the scope's rows.
func TestRowSecurityHidesOtherTenantsRowsOnPostgres(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.Postgres, true)
	ctx := context.Background()
	a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
	for _, tn := range []store.Tenant{a, b} {
		write(t, st, store.TenantScope(tn.ID), func(tx *store.Tx) error {
			_, err := tx.CreateAPIKey(ctx, store.APIKey{Name: "k", Prefix: "p", KeyHash: store.NewID(), Scopes: []string{"read"}})
			return err
		})
	}
	for table, want := range map[string]int{"api_keys": 1, "tenants": 1, "audit_log": 0} {
		_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			n, err := tx.CountRows(ctx, table)
			if err != nil || n != want {
				t.Errorf("%s visible to tenant A: %d (%v), want %d", table, n, err, want)
			}
			return nil
		})
	}
	_ = st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		if n, _ := tx.CountRows(ctx, "api_keys"); n != 2 {
			t.Errorf("system scope sees %d keys, want 2", n)
		}
		return nil
	})
	err := st.Write(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error { return tx.InsertForeignKeyRow(ctx, b.ID) })
	if err == nil {
		t.Fatal("tenant A wrote a row into tenant B")
	}
}
