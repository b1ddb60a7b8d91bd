package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// invite invites email with role through c and returns the invitation id
// and the token from its link.
func invite(t *testing.T, c *client, email, role string) (id, token string) {
	t.Helper()
	r := c.do("POST", "/api/v1/members", map[string]string{"email": email, "role": role}).must(t, 201)
	var out struct {
		Invitation struct {
			ID, Email, Role string
		} `json:"invitation"`
		InviteURL string `json:"invite_url"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(out.InviteURL)
	if err != nil || !strings.HasPrefix(out.InviteURL, c.e.srv.URL+"/") {
		t.Fatalf("invite_url %q is not a link to this server", out.InviteURL)
	}
	token = u.Query().Get("token")
	if len(token) != 43 || out.Invitation.ID == "" || out.Invitation.Email != strings.ToLower(email) || out.Invitation.Role != role {
		t.Fatalf("invite answer: %s", r.Body)
	}
	return out.Invitation.ID, token
}

// accept redeems an invitation as a new person and returns their user id.
func accept(t *testing.T, e *env, token, name, password string) string {
	t.Helper()
	m := e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "name": name, "password": password}).must(t, 200).JSON(t)
	id, _ := m["id"].(string)
	if id == "" {
		t.Fatalf("accept answer: %v", m)
	}
	return id
}

func anInvitedPersonJoinsAndCanSignIn(t *testing.T, e *env) {
	tn := e.newTenant("Joiners")
	admin := e.as(tn.Key)
	invID, token := invite(t, admin, "New.Person@Join.Example", "agent")
	m := e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "name": "New Person", "password": "new-person-pw"}).must(t, 200).JSON(t)
	if m["email"] != "new.person@join.example" || m["role"] != "agent" || m["name"] != "New Person" {
		t.Fatalf("accept answer: %v", m)
	}
	got := admin.do("GET", "/api/v1/members/"+m["id"].(string), nil).must(t, 200).JSON(t)
	if got["role"] != "agent" {
		t.Fatalf("member: %v", got)
	}
	var invs struct{ Items []map[string]any }
	_ = json.Unmarshal(admin.do("GET", "/api/v1/invitations", nil).must(t, 200).Body, &invs)
	if len(invs.Items) != 1 || invs.Items[0]["id"] != invID || invs.Items[0]["accepted_at"] == nil {
		t.Fatalf("invitation after accepting: %v", invs.Items)
	}
	if strings.Contains(fmtJSON(invs), token) {
		t.Fatalf("the invitation list shows the token")
	}
	me := e.login("new.person@join.example", "new-person-pw").do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	if me["tenant_id"] != tn.ID || me["role"] != "agent" {
		t.Fatalf("the new member signed in as %v", me)
	}
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func anInvitationIsRefusedWhenBadOrSpent(t *testing.T, e *env) {
	tn := e.newTenant("Spent")
	admin := e.as(tn.Key)
	_, token := invite(t, admin, "once@spent.example", "viewer")
	accept(t, e, token, "Once", "once-password")
	// Accepting twice is refused, whatever the password.
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": "once-password"}).problem(t, 404, "")
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": "another-password"}).problem(t, 404, "")

	revID, revToken := invite(t, admin, "revoked@spent.example", "viewer")
	admin.do("DELETE", "/api/v1/invitations/"+revID, nil).must(t, 204)
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": revToken, "password": "revoked-password"}).problem(t, 404, "")

	for _, bad := range []string{"nope", strings.Repeat("A", 43), token + "x"} {
		e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": bad, "password": "any-password-1"}).problem(t, 404, "")
	}
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"password": "any-password-1"}).problem(t, 400, "token")
	_, weak := invite(t, admin, "weak@spent.example", "viewer")
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": weak, "password": "short"}).problem(t, 400, "password")

	var ms struct{ Items []map[string]any }
	_ = json.Unmarshal(admin.do("GET", "/api/v1/members", nil).must(t, 200).Body, &ms)
	if len(ms.Items) != 1 || ms.Items[0]["email"] != "once@spent.example" {
		t.Fatalf("members: %v", ms.Items)
	}
	e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "revoked@spent.example", "password": "revoked-password"}).problem(t, 401, "")
}

func anAgentWorksButManagesNothing(t *testing.T, e *env) {
	tn := e.newTenant("Agents")
	e.addUserFast(tn.ID, "agent@agents.example", "agent-password-1", "agent", false)
	c := e.login("agent@agents.example", "agent-password-1")
	c.do("GET", "/api/v1/members", nil).must(t, 200)
	c.do("GET", "/api/v1/tenant", nil).must(t, 200)
	c.do("GET", "/api/v1/api-keys", nil).problem(t, 403, "")
	c.do("POST", "/api/v1/api-keys", map[string]any{"name": "mine", "scopes": []string{"read"}}).problem(t, 403, "")
	c.do("POST", "/api/v1/members", map[string]string{"email": "friend@agents.example", "role": "viewer"}).problem(t, 403, "")
	c.do("GET", "/api/v1/invitations", nil).problem(t, 403, "")
	c.do("GET", "/api/v1/audit-log", nil).problem(t, 403, "")
	var invs struct{ Items []any }
	_ = json.Unmarshal(e.as(tn.Key).do("GET", "/api/v1/invitations", nil).must(t, 200).Body, &invs)
	if len(invs.Items) != 0 {
		t.Fatalf("a refused invite was written: %v", invs.Items)
	}
}

func aViewerCannotWrite(t *testing.T, e *env) {
	tn := e.newTenant("Viewers")
	viewerID := e.addUserFast(tn.ID, "viewer@viewers.example", "viewer-password-1", "viewer", false)
	agentID := e.addUserFast(tn.ID, "agent@viewers.example", "agent-password-1", "agent", false)
	invID, _ := invite(t, e.as(tn.Key), "pending@viewers.example", "viewer")
	c := e.login("viewer@viewers.example", "viewer-password-1")
	before := snapshot(t, e.as(tn.Key))
	c.do("GET", "/api/v1/tenant", nil).must(t, 200)
	c.do("GET", "/api/v1/members/"+agentID, nil).must(t, 200)
	for _, w := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/api-keys", map[string]any{"name": "mine", "scopes": []string{"read"}}},
		{"DELETE", "/api/v1/api-keys/" + tn.KeyID, nil},
		{"POST", "/api/v1/api-keys/" + tn.KeyID + "/rotate", nil},
		{"POST", "/api/v1/members", map[string]string{"email": "friend@viewers.example", "role": "viewer"}},
		{"PATCH", "/api/v1/members/" + agentID, map[string]string{"role": "viewer"}},
		{"PATCH", "/api/v1/members/" + viewerID, map[string]string{"role": "owner"}},
		{"DELETE", "/api/v1/members/" + agentID, nil},
		{"DELETE", "/api/v1/invitations/" + invID, nil},
	} {
		r := c.do(w.method, w.path, w.body)
		if r.Status != 403 {
			t.Errorf("%s %s as a viewer: %d, want 403: %s", w.method, w.path, r.Status, r.Body)
			continue
		}
		r.problem(t, 403, "")
	}
	if after := snapshot(t, e.as(tn.Key)); after != before {
		t.Fatalf("a viewer changed data:\nbefore %s\nafter  %s", before, after)
	}
}

func onlyAnOwnerGrantsTheOwnerRole(t *testing.T, e *env) {
	tn := e.newTenant("Owners Only")
	ownerID := e.addUserFast(tn.ID, "owner@oo.example", "owner-password-1", "owner", false)
	e.addUserFast(tn.ID, "admin@oo.example", "admin-password-1", "admin", false)
	agentID := e.addUserFast(tn.ID, "agent@oo.example", "agent-password-1", "agent", false)
	admin := e.login("admin@oo.example", "admin-password-1")
	before := snapshot(t, e.as(tn.Key))
	for name, c := range map[string]*client{"an admin's session": admin, "an admin key": e.as(tn.Key)} {
		for _, w := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/members", map[string]string{"email": "boss@oo.example", "role": "owner"}},
			{"PATCH", "/api/v1/members/" + agentID, map[string]string{"role": "owner"}},
			{"PATCH", "/api/v1/members/" + ownerID, map[string]string{"role": "viewer"}},
			{"DELETE", "/api/v1/members/" + ownerID, nil},
		} {
			r := c.do(w.method, w.path, w.body)
			if r.Status != 403 {
				t.Errorf("%s %s as %s: %d, want 403: %s", w.method, w.path, name, r.Status, r.Body)
				continue
			}
			r.problem(t, 403, "")
		}
	}
	if after := snapshot(t, e.as(tn.Key)); after != before {
		t.Fatalf("refused role changes changed data:\nbefore %s\nafter  %s", before, after)
	}
	// An admin may still manage the roles below owner.
	admin.do("PATCH", "/api/v1/members/"+agentID, map[string]string{"role": "viewer"}).must(t, 200)
	invite(t, admin, "helper@oo.example", "admin")
	// The owner may grant it.
	owner := e.login("owner@oo.example", "owner-password-1")
	if m := owner.do("PATCH", "/api/v1/members/"+agentID, map[string]string{"role": "owner"}).must(t, 200).JSON(t); m["role"] != "owner" {
		t.Fatalf("after promotion: %v", m)
	}
	invite(t, owner, "boss@oo.example", "owner")
}

func theLastOwnerCannotBeDemotedOrRemoved(t *testing.T, e *env) {
	tn := e.newTenant("Last Owner")
	aID := e.addUserFast(tn.ID, "a@last.example", "a-password-12", "owner", false)
	bID := e.addUserFast(tn.ID, "b@last.example", "b-password-12", "agent", false)
	a := e.login("a@last.example", "a-password-12")
	a.do("PATCH", "/api/v1/members/"+aID, map[string]string{"role": "admin"}).problem(t, 409, "")
	a.do("DELETE", "/api/v1/members/"+aID, nil).problem(t, 409, "")
	if m := a.do("GET", "/api/v1/members/"+aID, nil).must(t, 200).JSON(t); m["role"] != "owner" {
		t.Fatalf("the last owner is now %v", m["role"])
	}
	// Keeping the role is fine.
	a.do("PATCH", "/api/v1/members/"+aID, map[string]string{"role": "owner"}).must(t, 200)

	a.do("PATCH", "/api/v1/members/"+bID, map[string]string{"role": "owner"}).must(t, 200)
	if m := a.do("PATCH", "/api/v1/members/"+aID, map[string]string{"role": "admin"}).must(t, 200).JSON(t); m["role"] != "admin" {
		t.Fatalf("demotion answer: %v", m)
	}
	// A is an admin now and B the only owner.
	b := e.login("b@last.example", "b-password-12")
	b.do("PATCH", "/api/v1/members/"+bID, map[string]string{"role": "viewer"}).problem(t, 409, "")
	b.do("DELETE", "/api/v1/members/"+bID, nil).problem(t, 409, "")
	b.do("PATCH", "/api/v1/members/"+aID, map[string]string{"role": "owner"}).must(t, 200)
	b.do("DELETE", "/api/v1/members/"+aID, nil).must(t, 204)
	b.do("GET", "/api/v1/members/"+aID, nil).problem(t, 404, "")
	// A removed member's session no longer reaches the tenant.
	r := a.do("GET", "/api/v1/tenant", nil)
	if r.Status != 404 && r.Status != 403 && r.Status != 401 {
		t.Fatalf("a removed member still reaches the tenant: %d %s", r.Status, r.Body)
	}
}

func anExistingUserJoinsASecondTenantWithTheirOwnPassword(t *testing.T, e *env) {
	first := e.newTenant("First")
	second := e.newTenant("Second")
	uid := e.addUserFast(first.ID, "ana@two.example", "ana-password-1", "agent", false)
	_, token := invite(t, e.as(second.Key), "ana@two.example", "viewer")
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": "a-new-password"}).problem(t, 400, "password")
	e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": ""}).problem(t, 400, "password")
	// The refused attempts neither joined nor spent the invitation.
	e.as(second.Key).do("GET", "/api/v1/members/"+uid, nil).problem(t, 404, "")
	m := e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "name": "Ignored", "password": "ana-password-1"}).must(t, 200).JSON(t)
	if m["id"] != uid || m["role"] != "viewer" {
		t.Fatalf("accept answer: %v", m)
	}
	// The password did not change.
	e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@two.example", "password": "a-new-password"}).problem(t, 401, "")
	me := e.login("ana@two.example", "ana-password-1").do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	ts, _ := me["tenants"].([]any)
	if len(ts) != 2 {
		t.Fatalf("tenants %v, want First and Second", me["tenants"])
	}
	roles := map[string]string{}
	for _, x := range ts {
		mm := x.(map[string]any)
		roles[mm["tenant_id"].(string)] = mm["role"].(string)
	}
	if roles[first.ID] != "agent" || roles[second.ID] != "viewer" {
		t.Fatalf("memberships %v", roles)
	}
}

// Accepting an invitation for an existing account checks that account's
// password, so it must be throttled like sign-in: otherwise whoever holds
// an invite link (the inviting tenant admin sees it) can guess the
// password of any existing user without limit.
func TestAcceptingAnInvitationForAnExistingAccountIsThrottledLikeSignIn(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		victim := e.newTenant("Victim Home")
		e.addUserFast(victim.ID, "victim@home.example", "victim-password-1", "owner", false)
		attacker := e.newTenant("Attacker")
		_, token := invite(t, e.as(attacker.Key), "victim@home.example", "viewer")
		for i := range 5 {
			e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": "guess-" + strconv.Itoa(i)}).problem(t, 400, "password")
		}
		e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": "guess-again"}).problem(t, 429, "")
	})
}

func theAuditLogRecordsWhoDidWhatInWhichRequest(t *testing.T, e *env) {
	tn := e.newTenant("Audited")
	ownerID := e.addUserFast(tn.ID, "owner@audit.example", "owner-password-1", "owner", false)
	admin := e.as(tn.Key)
	type want struct{ action, actorType, actorID, targetID, requestID string }
	var wants []want

	login := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "owner@audit.example", "password": "owner-password-1"}).must(t, 200)
	wants = append(wants, want{"login.succeeded", "user", ownerID, ownerID, login.Header.Get("X-Request-Id")})

	created := admin.do("POST", "/api/v1/api-keys", map[string]any{"name": "audited key", "scopes": []string{"read"}}).must(t, 201)
	wants = append(wants, want{"api_key.created", "api_key", tn.KeyID, created.JSON(t)["id"].(string), created.Header.Get("X-Request-Id")})

	inv := admin.do("POST", "/api/v1/members", map[string]string{"email": "joiner@audit.example", "role": "agent"}).must(t, 201)
	var invOut struct {
		Invitation struct{ ID string } `json:"invitation"`
		InviteURL  string              `json:"invite_url"`
	}
	_ = json.Unmarshal(inv.Body, &invOut)
	wants = append(wants, want{"member.invited", "api_key", tn.KeyID, invOut.Invitation.ID, inv.Header.Get("X-Request-Id")})

	u, _ := url.Parse(invOut.InviteURL)
	acc := e.anonymous().do("POST", "/api/v1/invitations/accept", map[string]string{"token": u.Query().Get("token"), "password": "joiner-password"}).must(t, 200)
	joinerID := acc.JSON(t)["id"].(string)
	wants = append(wants, want{"member.joined", "user", joinerID, invOut.Invitation.ID, acc.Header.Get("X-Request-Id")})

	owner := e.login("owner@audit.example", "owner-password-1")
	changed := owner.do("PATCH", "/api/v1/members/"+joinerID, map[string]string{"role": "viewer"}).must(t, 200)
	wants = append(wants, want{"member.role_changed", "user", ownerID, joinerID, changed.Header.Get("X-Request-Id")})

	removed := admin.do("DELETE", "/api/v1/members/"+joinerID, nil).must(t, 204)
	wants = append(wants, want{"member.removed", "api_key", tn.KeyID, joinerID, removed.Header.Get("X-Request-Id")})

	var log struct {
		Items []struct {
			Action     string `json:"action"`
			ActorType  string `json:"actor_type"`
			ActorID    string `json:"actor_id"`
			TargetID   string `json:"target_id"`
			RequestID  string `json:"request_id"`
			IP         string `json:"ip"`
			Details    string `json:"details"`
			CreatedAt  string `json:"created_at"`
			TargetType string `json:"target_type"`
		} `json:"items"`
	}
	if err := json.Unmarshal(admin.do("GET", "/api/v1/audit-log?limit=200", nil).must(t, 200).Body, &log); err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		if w.requestID == "" {
			t.Fatalf("%s: the answer had no X-Request-Id", w.action)
		}
		found := false
		for _, it := range log.Items {
			if it.Action != w.action || it.RequestID != w.requestID {
				continue
			}
			found = true
			if it.ActorType != w.actorType || it.ActorID != w.actorID || it.TargetID != w.targetID {
				t.Errorf("%s: actor %s/%s target %s, want %s/%s target %s", w.action, it.ActorType, it.ActorID, it.TargetID, w.actorType, w.actorID, w.targetID)
			}
			if it.IP == "" || it.CreatedAt == "" || !json.Valid([]byte(it.Details)) {
				t.Errorf("%s: incomplete entry %+v", w.action, it)
			}
		}
		if !found {
			t.Errorf("no %s entry with request_id %s in %+v", w.action, w.requestID, log.Items)
		}
	}
	// Newest first.
	if len(log.Items) == 0 || log.Items[0].Action != "member.removed" {
		t.Errorf("the audit log is not newest first: %+v", log.Items)
	}
	// No secret reaches the audit log.
	raw := string(admin.do("GET", "/api/v1/audit-log?limit=200", nil).must(t, 200).Body)
	if strings.Contains(raw, created.JSON(t)["key"].(string)) || strings.Contains(raw, u.Query().Get("token")) || strings.Contains(raw, "joiner-password") {
		t.Fatalf("a secret is in the audit log")
	}
}

// TestMembersAndInvitationsBehaveAsDocumented runs the member and
// invitation scenarios above on one server per dialect.
func TestMembersAndInvitationsBehaveAsDocumented(t *testing.T) {
	t.Parallel()
	runScenarios(t, envOptions{}, []scenario{
		{"an invited person joins and can sign in", anInvitedPersonJoinsAndCanSignIn},
		{"an invitation is refused when bad or spent", anInvitationIsRefusedWhenBadOrSpent},
		{"an agent works but manages nothing", anAgentWorksButManagesNothing},
		{"a viewer cannot write", aViewerCannotWrite},
		{"only an owner grants the owner role", onlyAnOwnerGrantsTheOwnerRole},
		{"the last owner cannot be demoted or removed", theLastOwnerCannotBeDemotedOrRemoved},
		{"an existing user joins a second tenant with their own password", anExistingUserJoinsASecondTenantWithTheirOwnPassword},
		{"the audit log records who did what in which request", theAuditLogRecordsWhoDidWhatInWhichRequest},
	})
}
