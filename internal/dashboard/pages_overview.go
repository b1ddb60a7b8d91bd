package dashboard

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
)

// setupStep is one step of the first-run guide on the overview.
type setupStep struct {
	Title, Text, Link, Action string // catalogue keys, except Link
}

// setupSteps are what a new tenant does first, in order.
var setupSteps = []setupStep{
	{"setup.knowledge.title", "setup.knowledge.text", "/app/knowledge", "setup.knowledge.action"},
	{"setup.instructions.title", "setup.instructions.text", "/app/assistants", "setup.instructions.action"},
	{"setup.playground.title", "setup.playground.text", "/app/assistants", "setup.playground.action"},
	{"setup.channel.title", "setup.channel.text", "/app/channels", "setup.channel.action"},
}

// overviewData is the overview page's own data.
type overviewData struct {
	NoTenant bool
	Steps    []setupStep
}

// overview serves GET /app/: for now the first-run guide (the charts come
// with the analytics job). A user with no tenant selected is asked to pick
// one.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	return h.render(w, r, http.StatusOK, "overview", page{Title: "overview.title", Nav: "overview", Data: overviewData{NoTenant: p.TenantID == "", Steps: setupSteps}})
}

// placeholder serves an area whose page is still to be built: an empty
// state that says so (replace the route's handler when the page lands).
func (h *Handler) placeholder(area string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		return h.render(w, r, http.StatusOK, "placeholder", page{Title: "nav." + area, Nav: area})
	}
}

// notFound serves unknown paths under /app/.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) error {
	return apperr.New(apperr.NotFound, "no such page")
}

func itoa(n int) string { return strconv.Itoa(n) }

func asErr(err error, target **apperr.Error) bool { return errors.As(err, target) }
