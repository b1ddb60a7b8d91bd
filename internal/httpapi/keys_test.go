package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/auth"
)

// newKey creates a key through the API and returns its id and secret.
func newKey(t *testing.T, c *client, name string, scopes ...string) (id, secret string) {
	t.Helper()
	m := c.do("POST", "/api/v1/api-keys", map[string]any{"name": name, "scopes": scopes}).must(t, 201).JSON(t)
	id, _ = m["id"].(string)
	secret, _ = m["key"].(string)
	if id == "" || !auth.LooksLikeAPIKey(secret) {
		t.Fatalf("create answer lacks id or key: %v", m)
	}
	return id, secret
}

// keyList is the decoded answer of GET /api/v1/api-keys.
type keyList struct {
	Items      []map[string]any `json:"items"`
	NextCursor string           `json:"next_cursor"`
}

func aKeysSecretIsShownOnlyWhenCreatedOrRotated(t *testing.T, e *env) {
	tn := e.newTenant("Shown Once")
	admin := e.as(tn.Key)
	created := admin.do("POST", "/api/v1/api-keys", map[string]any{"name": "ci", "scopes": []string{"read", "write"}}).must(t, 201)
	m := created.JSON(t)
	secret, _ := m["key"].(string)
	id, _ := m["id"].(string)
	if !auth.LooksLikeAPIKey(secret) || !strings.HasPrefix(secret, m["prefix"].(string)) {
		t.Fatalf("create answer: key %q, prefix %v", secret, m["prefix"])
	}
	if cc := created.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create answer Cache-Control %q, want no-store", cc)
	}
	rotated := admin.do("POST", "/api/v1/api-keys/"+id+"/rotate", map[string]any{"grace_seconds": 60}).must(t, 201).JSON(t)
	newSecret, _ := rotated["key"].(string)
	if !auth.LooksLikeAPIKey(newSecret) || newSecret == secret {
		t.Fatalf("rotate answer key %q", newSecret)
	}

	var bodies []response
	bodies = append(bodies, admin.do("GET", "/api/v1/api-keys/"+id, nil).must(t, 200))
	bodies = append(bodies, admin.do("GET", "/api/v1/api-keys/"+rotated["id"].(string), nil).must(t, 200))
	bodies = append(bodies, admin.do("GET", "/api/v1/api-keys/"+tn.KeyID, nil).must(t, 200))
	list := admin.do("GET", "/api/v1/api-keys", nil).must(t, 200)
	bodies = append(bodies, list)
	bodies = append(bodies, admin.do("GET", "/api/v1/audit-log", nil).must(t, 200))
	for _, b := range bodies {
		for _, s := range []string{secret, newSecret, tn.Key, secret[len("mc_")+8:], auth.HashToken(secret)} {
			if strings.Contains(string(b.Body), s) {
				t.Fatalf("a read answer contains a secret or its hash: %s", b.Body)
			}
		}
	}
	for _, b := range bodies[:3] {
		if _, ok := b.JSON(t)["key"]; ok {
			t.Errorf("GET of a key has a key field: %s", b.Body)
		}
	}
	var kl keyList
	if err := json.Unmarshal(list.Body, &kl); err != nil {
		t.Fatal(err)
	}
	if len(kl.Items) != 3 {
		t.Fatalf("list has %d keys, want 3", len(kl.Items))
	}
	for _, k := range kl.Items {
		if _, ok := k["key"]; ok {
			t.Errorf("listed key has a key field: %v", k)
		}
	}
}

func aNewKeyAuthenticatesAsItsTenantWithItsScopes(t *testing.T, e *env) {
	tn := e.newTenant("New Keys")
	id, secret := newKey(t, e.as(tn.Key), "reader", "read")
	me := e.as(secret).do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	if me["kind"] != "api_key" || me["key_id"] != id || me["tenant_id"] != tn.ID {
		t.Fatalf("me for the new key: %v", me)
	}
	if sc, _ := me["scopes"].([]any); len(sc) != 1 || sc[0] != "read" {
		t.Fatalf("scopes %v, want [read]", me["scopes"])
	}
	tenant := e.as(secret).do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t)
	if tenant["id"] != tn.ID {
		t.Fatalf("tenant %v", tenant)
	}
	// A key that is almost right is not a key.
	forged := secret[:len(secret)-1] + map[bool]string{true: "A", false: "B"}[secret[len(secret)-1] != 'A']
	r := e.as(forged).do("GET", "/api/v1/tenant", nil)
	r.problem(t, 401, "")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 for a bearer key without WWW-Authenticate")
	}
	e.as("not-a-key").do("GET", "/api/v1/tenant", nil).problem(t, 401, "")
}

func aReadOnlyKeyCanReadButNotManageKeys(t *testing.T, e *env) {
	tn := e.newTenant("Read Only")
	_, reader := newKey(t, e.as(tn.Key), "reader", "read")
	ro := e.as(reader)
	ro.do("GET", "/api/v1/tenant", nil).must(t, 200)
	ro.do("GET", "/api/v1/members", nil).must(t, 200)
	ro.do("POST", "/api/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"read"}}).problem(t, 403, "")
	ro.do("GET", "/api/v1/api-keys", nil).problem(t, 403, "")
	ro.do("GET", "/api/v1/api-keys/"+tn.KeyID, nil).problem(t, 403, "")
	ro.do("DELETE", "/api/v1/api-keys/"+tn.KeyID, nil).problem(t, 403, "")
	ro.do("POST", "/api/v1/api-keys/"+tn.KeyID+"/rotate", nil).problem(t, 403, "")
	// The admin key is untouched.
	k := e.as(tn.Key).do("GET", "/api/v1/api-keys/"+tn.KeyID, nil).must(t, 200).JSON(t)
	if k["revoked_at"] != nil || k["rotated_to"] != nil {
		t.Fatalf("admin key changed: %v", k)
	}
}

// Creating keys needs the admin scope, so a read/write key is refused at
// the door; a key that has admin but not read or write cannot hand out
// read or write either.
func aKeyCannotCreateAKeyWithScopesItLacks(t *testing.T, e *env) {
	tn := e.newTenant("Escalation")
	admin := e.as(tn.Key)
	_, rw := newKey(t, admin, "read-write", "read", "write")
	e.as(rw).do("POST", "/api/v1/api-keys", map[string]any{"name": "mine now", "scopes": []string{"admin"}}).problem(t, 403, "")
	e.as(rw).do("POST", "/api/v1/api-keys", map[string]any{"name": "mine now", "scopes": []string{"read"}}).problem(t, 403, "")

	_, adminOnly := newKey(t, admin, "admin only", "admin")
	e.as(adminOnly).do("POST", "/api/v1/api-keys", map[string]any{"name": "wider", "scopes": []string{"read", "write", "admin"}}).problem(t, 400, "scopes")
	e.as(adminOnly).do("POST", "/api/v1/api-keys", map[string]any{"name": "wider", "scopes": []string{"write"}}).problem(t, 400, "scopes")
	e.as(adminOnly).do("POST", "/api/v1/api-keys", map[string]any{"name": "same", "scopes": []string{"admin"}}).must(t, 201)

	var kl keyList
	_ = json.Unmarshal(admin.do("GET", "/api/v1/api-keys", nil).must(t, 200).Body, &kl)
	for _, k := range kl.Items {
		if k["name"] == "mine now" || k["name"] == "wider" {
			t.Fatalf("a refused key was created: %v", k)
		}
	}
	if len(kl.Items) != 4 {
		t.Fatalf("%d keys, want 4", len(kl.Items))
	}
}

func aKeyCannotBeCreatedAlreadyExpired(t *testing.T, e *env) {
	tn := e.newTenant("Expired")
	for _, at := range []time.Time{time.Now().Add(-time.Hour), time.Now().Add(-time.Second), time.Unix(0, 0)} {
		e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": "old", "scopes": []string{"read"}, "expires_at": at}).problem(t, 400, "expires_at")
	}
	m := e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": "later", "scopes": []string{"read"}, "expires_at": time.Now().Add(time.Hour)}).must(t, 201).JSON(t)
	if m["expires_at"] == nil {
		t.Fatalf("expires_at not kept: %v", m)
	}
}

func aKeyStopsWorkingWhenItExpires(t *testing.T, e *env) {
	tn := e.newTenant("Short Lived")
	expires := time.Now().Add(1500 * time.Millisecond)
	m := e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": "brief", "scopes": []string{"read"}, "expires_at": expires}).must(t, 201).JSON(t)
	c := e.as(m["key"].(string))
	c.do("GET", "/api/v1/tenant", nil).must(t, 200)
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	c.do("GET", "/api/v1/tenant", nil).problem(t, 401, "")
	c.do("GET", "/api/v1/auth/me", nil).problem(t, 401, "")
	// Expired keys cannot be rotated back to life.
	e.as(tn.Key).do("POST", "/api/v1/api-keys/"+m["id"].(string)+"/rotate", nil).problem(t, 409, "")
}

func aRevokedKeyStopsOnTheVeryNextRequest(t *testing.T, e *env) {
	tn := e.newTenant("Revocation")
	id, secret := newKey(t, e.as(tn.Key), "doomed", "read", "write", "admin")
	c := e.as(secret)
	c.do("GET", "/api/v1/tenant", nil).must(t, 200)
	e.as(tn.Key).do("DELETE", "/api/v1/api-keys/"+id, nil).must(t, 204)
	c.do("GET", "/api/v1/tenant", nil).problem(t, 401, "")
	c.do("POST", "/api/v1/api-keys", map[string]any{"name": "comeback", "scopes": []string{"read"}}).problem(t, 401, "")
	k := e.as(tn.Key).do("GET", "/api/v1/api-keys/"+id, nil).must(t, 200).JSON(t)
	if k["revoked_at"] == nil {
		t.Fatalf("revoked_at not set: %v", k)
	}
	// Revoking again is harmless; a revoked key cannot be rotated.
	e.as(tn.Key).do("DELETE", "/api/v1/api-keys/"+id, nil).must(t, 204)
	e.as(tn.Key).do("POST", "/api/v1/api-keys/"+id+"/rotate", nil).problem(t, 409, "")
	// A key can revoke itself, and that request is its last.
	selfID, self := newKey(t, e.as(tn.Key), "self", "admin")
	e.as(self).do("DELETE", "/api/v1/api-keys/"+selfID, nil).must(t, 204)
	e.as(self).do("GET", "/api/v1/api-keys", nil).problem(t, 401, "")
}

func rotationKeepsTheOldKeyForTheGracePeriodOnly(t *testing.T, e *env) {
	tn := e.newTenant("Rotation")
	admin := e.as(tn.Key)

	oldID, oldKey := newKey(t, admin, "with grace", "read", "write")
	r := admin.do("POST", "/api/v1/api-keys/"+oldID+"/rotate", map[string]any{"grace_seconds": 60}).must(t, 201).JSON(t)
	newKeySecret := r["key"].(string)
	if r["name"] != "with grace" || r["id"] == oldID {
		t.Fatalf("rotate answer: %v", r)
	}
	if sc, _ := r["scopes"].([]any); len(sc) != 2 {
		t.Fatalf("replacement scopes %v, want the old key's", r["scopes"])
	}
	e.as(newKeySecret).do("GET", "/api/v1/tenant", nil).must(t, 200)
	e.as(oldKey).do("GET", "/api/v1/tenant", nil).must(t, 200)
	old := admin.do("GET", "/api/v1/api-keys/"+oldID, nil).must(t, 200).JSON(t)
	if old["rotated_to"] != r["id"] || old["expires_at"] == nil {
		t.Fatalf("old key after rotation: %v", old)
	}
	if exp, err := time.Parse(time.RFC3339Nano, old["expires_at"].(string)); err != nil || time.Until(exp) < 50*time.Second || time.Until(exp) > 61*time.Second {
		t.Fatalf("old key expires at %v, want about a minute from now", old["expires_at"])
	}
	// Rotating it again is a conflict: rotate the replacement instead.
	admin.do("POST", "/api/v1/api-keys/"+oldID+"/rotate", map[string]any{"grace_seconds": 60}).problem(t, 409, "")

	nowID, nowKey := newKey(t, admin, "no grace", "read")
	r2 := admin.do("POST", "/api/v1/api-keys/"+nowID+"/rotate", map[string]any{"grace_seconds": 0}).must(t, 201).JSON(t)
	e.as(nowKey).do("GET", "/api/v1/tenant", nil).problem(t, 401, "")
	e.as(r2["key"].(string)).do("GET", "/api/v1/tenant", nil).must(t, 200)

	for _, g := range []any{-1, 2592001, "60", 1.5} {
		id, _ := newKey(t, admin, "bad grace", "read")
		field := "grace_seconds"
		admin.do("POST", "/api/v1/api-keys/"+id+"/rotate", map[string]any{"grace_seconds": g}).problem(t, 400, field)
	}
}

func lastUsedAtIsSetOnceAKeyIsUsed(t *testing.T, e *env) {
	tn := e.newTenant("Usage")
	id, secret := newKey(t, e.as(tn.Key), "fresh", "read")
	k := e.as(tn.Key).do("GET", "/api/v1/api-keys/"+id, nil).must(t, 200).JSON(t)
	if k["last_used_at"] != nil {
		t.Fatalf("unused key has last_used_at %v", k["last_used_at"])
	}
	before := time.Now().Add(-time.Second)
	e.as(secret).do("GET", "/api/v1/tenant", nil).must(t, 200)
	k = e.as(tn.Key).do("GET", "/api/v1/api-keys/"+id, nil).must(t, 200).JSON(t)
	s, _ := k["last_used_at"].(string)
	used, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || used.Before(before) || used.After(time.Now().Add(time.Second)) {
		t.Fatalf("last_used_at %v after use, want about now", k["last_used_at"])
	}
}

func aSuspendedTenantsKeysAreRefusedUntilItIsReactivated(t *testing.T, e *env) {
	tn := e.newTenant("Suspendable")
	other := e.newTenant("Bystander")
	ctx := context.Background()
	actor := &auth.Principal{Kind: "session"}
	if _, err := e.tenants.SetStatus(ctx, actor, tn.ID, "suspended"); err != nil {
		t.Fatal(err)
	}
	e.as(tn.Key).do("GET", "/api/v1/tenant", nil).problem(t, 403, "")
	e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"read"}}).problem(t, 403, "")
	e.as(other.Key).do("GET", "/api/v1/tenant", nil).must(t, 200)
	if _, err := e.tenants.SetStatus(ctx, actor, tn.ID, "active"); err != nil {
		t.Fatal(err)
	}
	m := e.as(tn.Key).do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t)
	if m["status"] != "active" {
		t.Fatalf("tenant %v", m)
	}
}

func keyPagesWalkEveryKeyExactlyOnce(t *testing.T, e *env) {
	tn := e.newTenant("Many Keys")
	admin := e.as(tn.Key)
	want := map[string]bool{tn.KeyID: true}
	for i := range 6 {
		id, _ := newKey(t, admin, "key "+string(rune('a'+i)), "read")
		want[id] = true
		// Walk after 4 keys (an even count: the last page is empty)
		// and after 7 (an odd count: the last page is short).
		if n := len(want); n != 4 && n != 7 {
			continue
		}
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			path := "/api/v1/api-keys?limit=2"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			var kl keyList
			if err := json.Unmarshal(admin.do("GET", path, nil).must(t, 200).Body, &kl); err != nil {
				t.Fatal(err)
			}
			pages++
			if len(kl.Items) > 2 {
				t.Fatalf("page of %d items with limit=2", len(kl.Items))
			}
			for _, k := range kl.Items {
				id := k["id"].(string)
				if seen[id] {
					t.Fatalf("key %s on two pages", id)
				}
				seen[id] = true
			}
			if kl.NextCursor == "" {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			cursor = kl.NextCursor
		}
		if len(seen) != len(want) {
			t.Fatalf("walked %d keys, want %d", len(seen), len(want))
		}
		for id := range want {
			if !seen[id] {
				t.Fatalf("key %s never listed", id)
			}
		}
	}
}

// TestAPIKeysBehaveAsDocumented runs the API key scenarios above on one
// server per dialect.
func TestAPIKeysBehaveAsDocumented(t *testing.T) {
	t.Parallel()
	runScenarios(t, envOptions{}, []scenario{
		{"the secret of a key is shown only when created or rotated", aKeysSecretIsShownOnlyWhenCreatedOrRotated},
		{"a new key authenticates as its tenant with its scopes", aNewKeyAuthenticatesAsItsTenantWithItsScopes},
		{"a read-only key can read but not manage keys", aReadOnlyKeyCanReadButNotManageKeys},
		{"a key cannot create a key with scopes it lacks", aKeyCannotCreateAKeyWithScopesItLacks},
		{"a key cannot be created already expired", aKeyCannotBeCreatedAlreadyExpired},
		{"a key stops working when it expires", aKeyStopsWorkingWhenItExpires},
		{"a revoked key stops on the very next request", aRevokedKeyStopsOnTheVeryNextRequest},
		{"rotation keeps the old key for the grace period only", rotationKeepsTheOldKeyForTheGracePeriodOnly},
		{"last_used_at is set once a key is used", lastUsedAtIsSetOnceAKeyIsUsed},
		{"the keys of a suspended tenant are refused until it is reactivated", aSuspendedTenantsKeysAreRefusedUntilItIsReactivated},
		{"key pages walk every key exactly once", keyPagesWalkEveryKeyExactlyOnce},
	})
}
