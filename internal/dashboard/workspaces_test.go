package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/metachat/metachat/internal/store"
)

// TestAPlatformAdminCreatesAWorkspaceFromTheOverview: on a fresh install
// (no tenant yet) the admin printed at first start can begin at once.
func TestAPlatformAdminCreatesAWorkspaceFromTheOverview(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.addUser("", "root@x.test", "", true)
		b := e.login("root@x.test")
		b.get("/app/").must(t, 200).contains(t, "No workspace selected", `action="/app/workspaces"`)

		b.post("/app/workspaces", url.Values{"name": {"  "}}).must(t, http.StatusUnprocessableEntity).contains(t, `id="workspace-name-error"`)
		b.post("/app/workspaces", url.Values{"name": {"Acme"}}).must(t, http.StatusSeeOther)
		p := b.get("/app/").must(t, 200)
		p.contains(t, "Workspace created.", `<span class="tenant-name">Acme</span>`, "/app/knowledge")

		// The tenant starts with no API key (its secret could not be shown here).
		ctx := context.Background()
		var tenants []store.Tenant
		if err := e.st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			var err error
			tenants, err = tx.ListTenants(ctx, store.Page{Limit: 10})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(tenants) != 1 || tenants[0].Name != "Acme" {
			t.Fatalf("tenants %v, want Acme alone", tenants)
		}
		var keys []store.APIKey
		if err := e.st.Read(ctx, store.TenantScope(tenants[0].ID), func(tx *store.Tx) error {
			var err error
			keys, err = tx.ListAPIKeys(ctx, store.Page{Limit: 10})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 0 {
			t.Errorf("a workspace made in the dashboard starts with %d API keys, want none", len(keys))
		}

		// Anyone else is refused, and sees no form.
		tn := e.newTenant("Other")
		e.addUser(tn.ID, "owner@x.test", "owner", false)
		o := e.login("owner@x.test")
		o.post("/app/workspaces", url.Values{"name": {"Mine"}}).must(t, http.StatusForbidden)
	})
}
