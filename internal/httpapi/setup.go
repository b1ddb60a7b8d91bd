package httpapi

import (
	"html/template"
	"net/http"

	"github.com/metachat/metachat/internal/apperr"
)

// setupTmpl is the first-run page where the person holding the one-time
// link printed by `metachat serve` creates the platform admin.
var setupTmpl = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>metachat setup</title></head>
<body>
<main>
<h1>Set up metachat</h1>
{{if .Done}}
<p>The platform admin <strong>{{.Email}}</strong> is ready. <a id="sign-in" href="/login">Sign in</a> with that email and password.</p>
{{else if .Invalid}}
<p>This setup link is no longer valid. A platform admin exists already, or the server printed a newer link when it restarted.</p>
{{else}}
<p>Create the platform admin account. This link works once.</p>
{{with .Error}}<p role="alert"><strong>{{.}}</strong></p>{{end}}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{{.Token}}">
<p><label for="email">Email</label><br><input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}"></p>
<p><label for="password">Password (at least 10 characters)</label><br><input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required></p>
<p><button type="submit">Create admin</button></p>
</form>
{{end}}
</main>
</body></html>`))

type setupView struct {
	Token, Email, Error string
	Done, Invalid       bool
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	v := setupView{Token: token, Invalid: token == "" || !s.auth.SetupTokenValid(r.Context(), token)}
	return renderSetup(w, v)
}

func (s *Server) setupSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return apperr.Field("body", "is not a valid form")
	}
	v := setupView{Token: r.PostForm.Get("token"), Email: r.PostForm.Get("email")}
	_, err := s.auth.CompleteSetup(r.Context(), v.Token, v.Email, r.PostForm.Get("password"))
	switch {
	case err == nil:
		v.Done = true
	case apperr.Is(err, apperr.NotFound):
		v.Invalid = true
	case apperr.Is(err, apperr.Invalid) || apperr.Is(err, apperr.Conflict):
		if e := asAppErr(err); e != nil && len(e.Fields) > 0 {
			v.Error = e.Fields[0].Field + " " + e.Fields[0].Message
		} else {
			v.Error = err.Error()
		}
	default:
		return err
	}
	return renderSetup(w, v)
}

func renderSetup(w http.ResponseWriter, v setupView) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if v.Error != "" {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	return setupTmpl.Execute(w, v)
}
