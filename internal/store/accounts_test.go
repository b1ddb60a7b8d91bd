package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

func TestPasswordResetsAreSingleUseAndExpire(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var u store.User
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			if u, err = tx.CreateUser(ctx, "ana@example.test", "", "hash", false); err != nil {
				return err
			}
			if err := tx.CreatePasswordReset(ctx, store.PasswordReset{TokenHash: "live", UserID: u.ID, ExpiresAt: tx.Now.Add(time.Hour)}); err != nil {
				return err
			}
			return tx.CreatePasswordReset(ctx, store.PasswordReset{TokenHash: "old", UserID: u.ID, ExpiresAt: tx.Now.Add(-time.Second)})
		})
		use := func(hash string) bool {
			var ok bool
			write(t, st, store.SystemScope, func(tx *store.Tx) error {
				var err error
				ok, err = tx.UsePasswordReset(ctx, hash)
				return err
			})
			return ok
		}
		if use("old") || use("nonexistent") {
			t.Errorf("an expired or unknown reset was usable")
		}
		if !use("live") || use("live") {
			t.Errorf("a live reset is not usable exactly once")
		}
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			r, err := tx.PasswordResetByHash(ctx, "live")
			if err != nil || r.UsedAt == nil || r.UserID != u.ID {
				t.Errorf("after use: %+v %v", r, err)
			}
			if err := tx.DeletePasswordResets(ctx, u.ID, "", tx.Now); err != nil {
				return err
			}
			if _, err := tx.PasswordResetByHash(ctx, "live"); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("after delete: %v", err)
			}
			return nil
		})
		// Tenant scope cannot create one.
		tn := newTenant(t, st, "A")
		err := st.Write(ctx, store.TenantScope(tn.ID), func(tx *store.Tx) error {
			return tx.CreatePasswordReset(ctx, store.PasswordReset{TokenHash: "x", UserID: u.ID, ExpiresAt: tx.Now})
		})
		if err == nil {
			t.Errorf("a tenant-scope transaction created a password reset")
		}
	})
}

func TestSignupsAreSingleUse(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			return tx.CreateSignup(ctx, store.Signup{TokenHash: "t1", Email: "Sam@Shop.test", Name: "Sam", TenantName: "Shop", PasswordHash: "h", ExpiresAt: tx.Now.Add(time.Hour)})
		})
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			s, err := tx.UseSignup(ctx, "t1")
			if err != nil || s.Email != "sam@shop.test" || s.TenantName != "Shop" || s.UsedAt == nil {
				t.Errorf("UseSignup = %+v, %v", s, err)
			}
			return nil
		})
		err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			_, err := tx.UseSignup(ctx, "t1")
			return err
		})
		if !apperr.Is(err, apperr.NotFound) {
			t.Errorf("second use: %v, want not found", err)
		}
	})
}
