package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/metachat/metachat/internal/accounts"
	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/browsertest"
	"github.com/metachat/metachat/internal/store"
)

// mailbox is a Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	msgs []accounts.Message
}

func (m *mailbox) Send(_ context.Context, msg accounts.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) all() []accounts.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]accounts.Message(nil), m.msgs...)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var linkRE = regexp.MustCompile(`http://\S+/(?:login/reset|signup/verify)/[A-Za-z0-9_-]{43}`)

// withAccounts gives the env's dashboard an account service whose emails
// land in the returned mailbox.
func (e *env) withAccounts(signup bool) (*accounts.Service, *mailbox) {
	mb := &mailbox{}
	acc := accounts.New(e.st, accounts.Options{BaseURL: e.srv.URL, Signup: signup, Mail: mb, Log: quiet})
	e.dash.SetAccounts(acc)
	return acc, mb
}

// lastLink is the link in the last email to addr.
func lastLink(t *testing.T, acc *accounts.Service, mb *mailbox, addr string) string {
	t.Helper()
	acc.Wait()
	msgs := mb.all()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == addr {
			if l := linkRE.FindString(msgs[i].Body); l != "" {
				return l
			}
			t.Fatalf("the last email to %s has no link:\n%s", addr, msgs[i].Body)
		}
	}
	t.Fatalf("no email to %s (mailbox: %+v)", addr, msgs)
	return ""
}

// formCSRF loads a public form page and returns its token (the browser
// keeps the cookie).
func (b *browser) formCSRF(path string) string {
	b.e.t.Helper()
	p := b.get(path)
	m := hiddenCSRF.FindStringSubmatch(p.Body)
	if p.Status != 200 || m == nil {
		b.e.t.Fatalf("GET %s = %d, no csrf field:\n%s", path, p.Status, p.Body)
	}
	return m[1]
}

func (e *env) auditActions(tenantID string) []string {
	e.t.Helper()
	var out []string
	err := e.st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		list, err := tx.ListAudit(context.Background(), store.Page{Limit: store.MaxPageSize})
		for _, a := range list {
			out = append(out, a.Action)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) passwordWorks(email, password string) bool {
	_, err := e.auth.Login(context.Background(), email, password, "192.0.2.9", "test", "")
	return err == nil
}

func TestPasswordReset(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "ana@acme.test", "admin", false)
		acc, mb := e.withAccounts(false)
		other1, other2 := e.login("ana@acme.test"), e.login("ana@acme.test")

		anon := e.browser()
		anon.get("/login").contains(t, `href="/login/reset"`)
		csrf := anon.formCSRF("/login/reset?email=ana@acme.test")

		// Known and unknown addresses get the same answer; only the known one gets mail.
		known := anon.postRaw("/login/reset", url.Values{"csrf": {csrf}, "email": {"Ana@acme.test"}}).must(t, 200)
		unknown := anon.postRaw("/login/reset", url.Values{"csrf": {csrf}, "email": {"nobody@acme.test"}}).must(t, 200)
		if strings.ReplaceAll(known.Body, "ana@acme.test", "X") != strings.ReplaceAll(unknown.Body, "nobody@acme.test", "X") {
			t.Errorf("the answers for a known and an unknown email differ:\n%s\n---\n%s", known.Body, unknown.Body)
		}
		known.contains(t, "If ana@acme.test belongs to an account")
		link := lastLink(t, acc, mb, "ana@acme.test")
		if n := len(mb.all()); n != 1 {
			t.Errorf("%d emails sent, want 1 (none to the unknown address)", n)
		}
		if !strings.HasPrefix(link, e.srv.URL+"/login/reset/") {
			t.Fatalf("reset link %q", link)
		}
		token := strings.TrimPrefix(link, e.srv.URL+"/login/reset/")
		var stored int
		_ = e.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM password_resets WHERE token_hash = $1`, token).Scan(&stored)
		if stored != 0 {
			t.Errorf("the token is stored in clear")
		}

		path := strings.TrimPrefix(link, e.srv.URL)
		csrf = anon.formCSRF(path)
		anon.postRaw(path, url.Values{"csrf": {csrf}, "password": {"a new password!"}, "confirm_password": {"another one!!"}}).must(t, 422).contains(t, "The two passwords differ.")
		anon.postRaw(path, url.Values{"csrf": {csrf}, "password": {"short"}, "confirm_password": {"short"}}).must(t, 422).contains(t, "at least 10 characters")
		p := anon.postRaw(path, url.Values{"csrf": {csrf}, "password": {"a new password!"}, "confirm_password": {"a new password!"}}).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/login?email=ana%40acme.test" {
			t.Errorf("after the reset: Location %q", loc)
		}
		anon.get("/login?email=ana%40acme.test").contains(t, "Your password is changed")

		// Every other session ended; only the new password works; the link is used up.
		for _, b := range []*browser{other1, other2} {
			if p := b.get("/app/account"); p.Status != http.StatusSeeOther {
				t.Errorf("a session from before the reset still works: %d", p.Status)
			}
		}
		if e.passwordWorks("ana@acme.test", testPassword) || !e.passwordWorks("ana@acme.test", "a new password!") {
			t.Errorf("after the reset the old password works or the new one does not")
		}
		anon.get(path).must(t, 404).contains(t, "This link does not work", `href="/login/reset"`)
		anon.postRaw(path, url.Values{"csrf": {csrf}, "password": {"third password!"}, "confirm_password": {"third password!"}}).must(t, 404)
		if e.passwordWorks("ana@acme.test", "third password!") {
			t.Errorf("a used link set the password again")
		}
		if acts := e.auditActions(tn.ID); !strings.Contains(strings.Join(acts, " "), "password.reset") {
			t.Errorf("audit log %v lacks password.reset", acts)
		}

		// A link expires after an hour (here: made to look old).
		link, err := acc.ResetLink(ctx, "ana@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		anon.get(strings.TrimPrefix(link, e.srv.URL)).must(t, 200)
		if _, err := e.st.DB().ExecContext(ctx, `UPDATE password_resets SET expires_at = $1`, int64(1)); err != nil {
			t.Fatal(err)
		}
		anon.get(strings.TrimPrefix(link, e.srv.URL)).must(t, 404)
		if _, err := acc.ResetLink(ctx, "nobody@acme.test"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("ResetLink for an unknown email: %v", err)
		}
		anon.get("/login/reset/"+strings.Repeat("x", 43)).must(t, 404)
		anon.get("/login/reset/short").must(t, 404)
	})
}

func TestPasswordResetWithoutMailGoesToTheLog(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.addUser("", "ops@example.test", "", true)
		var buf browsertest.Buffer
		acc := accounts.New(e.st, accounts.Options{BaseURL: e.srv.URL, Log: slog.New(slog.NewJSONHandler(&buf, nil))})
		e.dash.SetAccounts(acc)
		b := e.browser()
		b.postRaw("/login/reset", url.Values{"csrf": {b.formCSRF("/login/reset")}, "email": {"ops@example.test"}}).must(t, 200)
		var rec struct {
			Level, Link, Email string
		}
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if strings.Contains(line, `"link"`) {
				_ = json.Unmarshal([]byte(line), &rec)
			}
		}
		if rec.Level != "WARN" || rec.Email != "ops@example.test" || !strings.HasPrefix(rec.Link, e.srv.URL+"/login/reset/") {
			t.Fatalf("log: %s", buf.String())
		}
		b.get(strings.TrimPrefix(rec.Link, e.srv.URL)).must(t, 200).contains(t, "Choose a new password")
	})
}

func TestPasswordResetThrottled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.addUser("", "ana@example.test", "", false)
		acc, mb := e.withAccounts(false)
		b := e.browser()
		csrf := b.formCSRF("/login/reset")
		send := func(email string) page {
			return b.postRaw("/login/reset", url.Values{"csrf": {csrf}, "email": {email}})
		}
		// Per email: three requests, known or not, then a refusal that looks the same for both.
		for _, email := range []string{"ana@example.test", "nobody@example.test"} {
			for range 3 {
				send(email).must(t, 200)
			}
			p := send(email).must(t, http.StatusTooManyRequests)
			p.contains(t, "Too many requests")
			if p.Header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After")
			}
		}
		acc.Wait()
		if n := len(mb.all()); n != 3 {
			t.Errorf("%d emails sent, want 3", n)
		}
		// Per IP: 20 requests in all, whatever the addresses.
		for i := range 20 - 6 { // six counted above (refusals are not counted)
			send("someone"+string(rune('a'+i))+"@example.test").must(t, 200)
		}
		send("fresh@example.test").must(t, http.StatusTooManyRequests)
		// A malformed address is told so (it is not an account question).
		fresh := accounts.New(e.st, accounts.Options{Log: quiet})
		e.dash.SetAccounts(fresh)
		send("not an address").must(t, 422).contains(t, "Enter an email address")
	})
}

// inviteURL invites email into the tenant through the API, as the team
// page does, and returns the link.
func (e *env) inviteURL(tn tenantFixture, email, role string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "role": role})
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/members", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tn.Key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		URL string `json:"invite_url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusCreated {
		e.t.Fatalf("invite: %d %v", res.StatusCode, err)
	}
	return out.URL
}

func TestInvitationAccept(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		acme, beta := e.newTenant("Acme"), e.newTenant("Beta")

		t.Run("new user", func(t *testing.T) {
			b := e.browser()
			link := e.inviteURL(acme, "nina@example.test", "agent")
			p := b.get(strings.TrimPrefix(link, e.srv.URL)).must(t, http.StatusSeeOther)
			path := p.Header.Get("Location")
			if !regexp.MustCompile(`^/invite/[A-Za-z0-9_-]{43}$`).MatchString(path) {
				t.Fatalf("the invitation link %s leads to %q", link, path)
			}
			page := b.get(path).must(t, 200)
			page.contains(t, "Join Acme", "invited as Agent", "nina@example.test", `name="confirm_password"`)
			csrf := hiddenCSRF.FindStringSubmatch(page.Body)[1]
			b.postRaw(path, url.Values{"csrf": {csrf}, "name": {"Nina"}, "password": {"nina's password"}, "confirm_password": {"typo"}}).must(t, 422).contains(t, "The two passwords differ.")
			b.postRaw(path, url.Values{"csrf": {csrf}, "name": {"Nina"}, "password": {"short"}, "confirm_password": {"short"}}).must(t, 422).contains(t, "at least 10 characters")
			p = b.postRaw(path, url.Values{"csrf": {csrf}, "name": {"Nina"}, "password": {"nina's password"}, "confirm_password": {"nina's password"}}).must(t, http.StatusSeeOther)
			if p.Header.Get("Location") != "/app/" {
				t.Errorf("after joining: Location %q", p.Header.Get("Location"))
			}
			b.get("/app/").must(t, 200).contains(t, "Welcome! You have joined the team.", "Acme", "nina@example.test")
			b.get("/app/account").must(t, 200).contains(t, "Agent")
			e.browser().get(path).must(t, 404).contains(t, "This invitation does not work")
		})

		t.Run("existing user", func(t *testing.T) {
			e.addUser(beta.ID, "bob@example.test", "owner", false)
			b := e.browser()
			path := "/invite/" + strings.TrimPrefix(e.inviteURL(acme, "bob@example.test", "viewer"), e.srv.URL+"/invite?token=")
			page := b.get(path).must(t, 200)
			page.contains(t, "You already have an account")
			if strings.Contains(page.Body, `name="confirm_password"`) {
				t.Errorf("an existing user is asked to choose a password")
			}
			csrf := hiddenCSRF.FindStringSubmatch(page.Body)[1]
			b.postRaw(path, url.Values{"csrf": {csrf}, "password": {"not bob's password"}}).must(t, 422).contains(t, "This is not the password of your account.")
			b.postRaw(path, url.Values{"csrf": {csrf}, "password": {testPassword}}).must(t, http.StatusSeeOther)
			acct := b.get("/app/account").must(t, 200)
			acct.contains(t, "Acme", "Viewer") // the new tenant is selected
			if !strings.Contains(b.get("/app/").Body, "Beta") {
				t.Errorf("the tenant switcher does not offer Beta too")
			}
		})

		t.Run("forged or invalid", func(t *testing.T) {
			path := "/invite/" + strings.TrimPrefix(e.inviteURL(acme, "eve@example.test", "admin"), e.srv.URL+"/invite?token=")
			b := e.browser()
			b.get(path).must(t, 200)
			b.postRaw(path, url.Values{"csrf": {"forged"}, "name": {"Eve"}, "password": {"eve's password"}, "confirm_password": {"eve's password"}}).must(t, 403)
			b.get(path).must(t, 200) // still pending
			b.get("/invite?token=nonsense").must(t, 404)
			b.get("/invite/"+strings.Repeat("a", 43)).must(t, 404)
		})
	})
}

func TestSignup(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		b := e.browser()
		t.Run("off by default", func(t *testing.T) {
			if strings.Contains(b.get("/login").Body, `href="/signup"`) {
				t.Errorf("the login page links sign-up while it is off")
			}
			b.get("/signup").must(t, 404)
			csrf := b.formCSRF("/login/reset")
			b.postRaw("/signup", url.Values{"csrf": {csrf}, "company": {"Shop"}, "email": {"x@shop.test"}, "password": {"x's password"}, "confirm_password": {"x's password"}}).must(t, 404)
			b.get("/signup/verify/"+strings.Repeat("a", 43)).must(t, 404)
		})

		acc, mb := e.withAccounts(true)
		t.Run("on: verification first", func(t *testing.T) {
			b.get("/login").contains(t, `href="/signup"`)
			csrf := b.formCSRF("/signup")
			form := url.Values{"csrf": {csrf}, "company": {"Shop & Co"}, "name": {"Sam"}, "email": {"Sam@Shop.test"}, "password": {"sam's password"}, "confirm_password": {"sam's pass"}}
			b.postRaw("/signup", form).must(t, 422).contains(t, "The two passwords differ.", `value="Shop &amp; Co"`)
			form.Set("confirm_password", "sam's password")
			form.Set("company", "")
			b.postRaw("/signup", form).must(t, 422).contains(t, "Enter a name of at most 200 characters.")
			form.Set("company", "Shop & Co")
			b.postRaw("/signup", form).must(t, 200).contains(t, "We sent a link to sam@shop.test")

			if e.passwordWorks("sam@shop.test", "sam's password") {
				t.Fatal("signed in before verifying the email")
			}
			link := lastLink(t, acc, mb, "sam@shop.test")
			path := strings.TrimPrefix(link, e.srv.URL)
			p := b.get(path).must(t, http.StatusSeeOther)
			if p.Header.Get("Location") != "/login?email=sam%40shop.test" {
				t.Errorf("after verifying: Location %q", p.Header.Get("Location"))
			}
			b.get("/login?email=sam%40shop.test").contains(t, "Your email is confirmed", `value="sam@shop.test"`)
			b.get(path).must(t, 404)

			owner := e.browser()
			m := hiddenCSRF.FindStringSubmatch(owner.get("/login").Body)
			owner.postRaw("/login", url.Values{"csrf": {m[1]}, "email": {"sam@shop.test"}, "password": {"sam's password"}}).must(t, http.StatusSeeOther)
			owner.get("/app/account").must(t, 200).contains(t, "Shop &amp; Co", "Owner")
		})

		t.Run("on: an existing email learns nothing new", func(t *testing.T) {
			csrf := b.formCSRF("/signup")
			b.postRaw("/signup", url.Values{"csrf": {csrf}, "company": {"Again"}, "email": {"sam@shop.test"}, "password": {"whatever password"}, "confirm_password": {"whatever password"}}).
				must(t, 200).contains(t, "We sent a link to sam@shop.test")
			acc.Wait()
			msgs := mb.all()
			last := msgs[len(msgs)-1]
			if last.To != "sam@shop.test" || !strings.Contains(last.Body, "already has an account") || strings.Contains(last.Body, "/signup/verify/") {
				t.Errorf("mail to an existing account: %+v", last)
			}
			if !e.passwordWorks("sam@shop.test", "sam's password") {
				t.Errorf("a second sign-up changed the existing account")
			}
		})
	})
}

// TestAccountFormsNeedCSRF: every public account POST refuses a request
// without the form cookie's token, and does nothing.
func TestAccountFormsNeedCSRF(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "ana@acme.test", "admin", false)
		acc, mb := e.withAccounts(true)
		resetLink, err := acc.ResetLink(context.Background(), "ana@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		invite := "/invite/" + strings.TrimPrefix(e.inviteURL(tn, "new@acme.test", "agent"), e.srv.URL+"/invite?token=")
		form := url.Values{"email": {"ana@acme.test"}, "company": {"X"}, "name": {"X"}, "password": {"a long password"}, "confirm_password": {"a long password"}}
		for _, path := range []string{"/login/reset", strings.TrimPrefix(resetLink, e.srv.URL), invite, "/signup"} {
			b := e.browser()
			b.formCSRF("/login/reset") // the cookie is set; the form below does not echo it
			for _, token := range []string{"", "forged", strings.Repeat("a", 43)} {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				f.Set("csrf", token)
				if p := b.postRaw(path, f); p.Status != http.StatusForbidden {
					t.Errorf("POST %s with csrf %q = %d, want 403", path, token, p.Status)
				}
			}
		}
		acc.Wait()
		if n := len(mb.all()); n != 0 {
			t.Errorf("forged posts sent %d emails", n)
		}
		if e.passwordWorks("ana@acme.test", "a long password") || e.passwordWorks("new@acme.test", "a long password") {
			t.Errorf("a forged post changed a password or accepted an invitation")
		}
		e.browser().get(strings.TrimPrefix(resetLink, e.srv.URL)).must(t, 200) // still unused
	})
}
