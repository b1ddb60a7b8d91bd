package dashboard

// The API keys page is the reference for a list + form + action page:
//
//   - GET lists (keyset pages of 50, "?cursor=" for the next),
//   - POST creates: dashboard-side checks first, with messages next to the
//     fields; then the service (which validates again, enforces the role and
//     writes the audit entry); its field errors go next to the fields too,
//   - POST …/{id}/revoke acts on one object of the principal's tenant (an id
//     of another tenant is a 404) and redirects with a flash message.

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// keysData is the keys page's own data.
type keysData struct {
	Keys    []store.APIKey
	Next    string // cursor of the next page, "" on the last
	Created *createdKey
	Scopes  []string // the scopes the user may grant
}

// createdKey is a key just created: its secret is shown this once.
type createdKey struct {
	Name, Key string
}

func (h *Handler) keysPage(w http.ResponseWriter, r *http.Request) error {
	return h.renderKeys(w, r, http.StatusOK, page{Form: defaultKeyForm()}, nil)
}

func defaultKeyForm() map[string][]string { return map[string][]string{"scopes": {auth.ScopeRead}} }

// renderKeys lists the tenant's keys under the form in pg.
func (h *Handler) renderKeys(w http.ResponseWriter, r *http.Request, status int, pg page, created *createdKey) error {
	p := auth.FromContext(r.Context())
	pgn, err := store.ParsePage(r.URL.Query().Get("cursor"), 50)
	if err != nil {
		return err
	}
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	var keys []store.APIKey
	err = h.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		keys, err = tx.ListAPIKeys(r.Context(), pgn)
		return err
	})
	if err != nil {
		return err
	}
	d := keysData{Keys: keys, Created: created}
	if len(keys) > 0 {
		d.Next = store.NextCursor(pgn, len(keys), keys[len(keys)-1].ID)
	}
	for _, sc := range []string{auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin} {
		if p.Can(sc) {
			d.Scopes = append(d.Scopes, sc)
		}
	}
	pg.Title, pg.Nav, pg.Data = "keys.title", "keys", d
	if created != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	return h.render(w, r, status, "keys", pg)
}

// createKey serves POST /app/keys and shows the new key once.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request) error {
	lang := infoOf(r).lang
	name := strings.TrimSpace(r.PostFormValue("name"))
	scopes := r.PostForm["scopes"]
	errs := map[string]string{}
	if name == "" || utf8.RuneCountInString(name) > 100 {
		errs["name"] = h.cat.text(lang, "keys.name_invalid")
	}
	if len(scopes) == 0 {
		errs["scopes"] = h.cat.text(lang, "keys.scopes_required")
	}
	if len(errs) == 0 {
		k, secret, err := h.auth.CreateKey(r.Context(), auth.FromContext(r.Context()), auth.KeyRequest{Name: name, Scopes: scopes})
		if err == nil {
			return h.renderKeys(w, r, http.StatusOK, page{Form: defaultKeyForm()}, &createdKey{Name: k.Name, Key: secret})
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		errs = fe
	}
	return h.renderKeys(w, r, http.StatusUnprocessableEntity, page{Form: r.PostForm, Errors: errs}, nil)
}

// revokeKey serves POST /app/keys/{id}/revoke.
func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "api key not found")
	}
	if err := h.auth.RevokeKey(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/keys", "flash.key_revoked")
}
