package dashboard

// The audit log page: who did what to which object, newest first, in
// keyset pages of 50 ("?cursor="), optionally only the actions that begin
// with a prefix ("?action=channel."). Actors are named by their email (a
// member) or key name (an API key) when the workspace still has them.

import (
	"net/http"
	"strings"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// auditFilter is an action prefix offered in the filter.
type auditFilter struct{ Prefix, Label string }

// auditFilters are the filter's choices.
var auditFilters = []auditFilter{
	{"login.", "audit.filter.login"},
	{"password.", "audit.filter.password"},
	{"api_key.", "audit.filter.api_key"},
	{"member.", "audit.filter.member"},
	{"invitation.", "audit.filter.invitation"},
	{"channel.", "audit.filter.channel"},
	{"assistant.", "audit.filter.assistant"},
	{"document.", "audit.filter.document"},
	{"conversation.", "audit.filter.conversation"},
}

// auditData is the audit page's own data.
type auditData struct {
	Entries []auditRow
	Next    string
	Action  string // the prefix filter, "" for all
	Filters []auditFilter
}

type auditRow struct {
	store.AuditEntry
	Actor string // email or key name; "" when unknown
}

// auditScanPages caps how many store pages one filtered page reads.
const auditScanPages = 10

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	q := r.URL.Query()
	action := strings.TrimSpace(q.Get("action"))
	if len(action) > 60 {
		action = action[:60]
	}
	const want = 50
	pgn, err := store.ParsePage(q.Get("cursor"), want)
	if err != nil {
		return err
	}
	if action != "" {
		pgn.Limit = store.MaxPageSize
	}
	d := auditData{Action: action, Filters: auditFilters}
	var entries []store.AuditEntry
scan:
	for range auditScanPages {
		batch, err := h.tenants.ListAudit(r.Context(), p, pgn)
		if err != nil {
			return err
		}
		for i, e := range batch {
			if action == "" || strings.HasPrefix(e.Action, action) {
				entries = append(entries, e)
			}
			if len(entries) == want {
				if i < len(batch)-1 || len(batch) == pgn.Limit {
					d.Next = cursorAfter(e.ID)
				}
				break scan
			}
		}
		if len(batch) < pgn.Limit {
			d.Next = ""
			break
		}
		// Filtered and not full yet: read on; a reader stopped by the cap
		// continues from here with the next-page link.
		pgn.After = batch[len(batch)-1].ID
		d.Next = cursorAfter(pgn.After)
	}
	names, err := h.actorNames(r)
	if err != nil {
		return err
	}
	for _, e := range entries {
		d.Entries = append(d.Entries, auditRow{AuditEntry: e, Actor: names[e.ActorID]})
	}
	return h.render(w, r, http.StatusOK, "audit", page{Title: "audit.title", Nav: "audit", Data: d})
}

// actorNames maps the workspace's members and keys to a readable name.
func (h *Handler) actorNames(r *http.Request) (map[string]string, error) {
	p := auth.FromContext(r.Context())
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = h.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		members, err := tx.ListMembers(r.Context(), store.Page{Limit: store.MaxPageSize})
		if err != nil {
			return err
		}
		for _, m := range members {
			out[m.UserID] = m.Email
		}
		keys, err := tx.ListAPIKeys(r.Context(), store.Page{Limit: store.MaxPageSize})
		if err != nil {
			return err
		}
		for _, k := range keys {
			out[k.ID] = k.Name
		}
		return nil
	})
	return out, err
}

// cursorAfter is the cursor of the page after the entry with id.
func cursorAfter(id string) string { return store.NextCursor(store.Page{Limit: 1}, 1, id) }
