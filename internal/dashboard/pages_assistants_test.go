package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// assistantForm is a complete, valid settings form.
func assistantForm(name string) url.Values {
	return url.Values{
		"name": {name}, "instructions": {"Be brief."}, "language": {""},
		"model.provider": {"extractive"}, "model.name": {""}, "model.temperature": {"0.2"}, "model.max_output_tokens": {"0"}, "model.base_url": {""},
		"kb.enabled": {"on"}, "kb.top_k": {"5"}, "kb.min_relevance": {"0"},
		"handoff.keywords": {"human, agent"}, "handoff.message": {"Connecting you."}, "fallback_message": {"Sorry."},
		"confidence.mode": {"standard"}, "confidence.high_stakes_topics": {""}, "confidence.disclaimer": {"Not sure."},
	}
}

// TestAssistantsPages: create with validation messages next to the fields,
// edit (the API key write-only), delete; viewers read, agents also use the
// playground's API, only admins edit.
func TestAssistantsPages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		e.addUser(tn.ID, "agent@acme.test", "agent", false)
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		b := e.login("owner@acme.test")

		b.get("/app/assistants").must(t, 200).contains(t, "No assistant yet", `href="/app/assistants/new"`)
		b.get("/app/assistants/new").must(t, 200).contains(t, "You are a friendly, concise support assistant.", `value="standard" checked`)

		// The dashboard's own checks: a name, numbers that read.
		f := assistantForm("")
		f.Set("model.temperature", "warm")
		f.Set("kb.top_k", "many")
		b.post("/app/assistants", f).must(t, http.StatusUnprocessableEntity).
			contains(t, `id="name-error">Give the assistant a name.`, `id="model.temperature-error">Enter a number`, `id="kb.top_k-error">Enter a whole number.`)
		// The service's checks, next to their fields.
		f = assistantForm("Helper")
		f.Set("model.provider", "openai")
		f.Set("kb.top_k", "99")
		f.Set("kb.min_relevance", "1,5")
		f.Set("confidence.mode", "wild")
		f.Set("model.base_url", "ftp://x")
		p := b.post("/app/assistants", f).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="model.name-error">is required for openai`, `id="kb.top_k-error">must be between 0 and 50`,
			`id="kb.min_relevance-error">must be between 0 and 1`, `id="confidence.mode-error">must be strict, standard or lenient`,
			`id="model.base_url-error">must be an http(s) URL`, `value="Helper"`)

		// Create.
		f = assistantForm("Helper")
		f.Set("api_key", "sk-very-secret")
		p = b.post("/app/assistants", f).must(t, http.StatusSeeOther)
		loc := p.Header.Get("Location")
		if !strings.HasPrefix(loc, "/app/assistants/") {
			t.Fatalf("create redirects to %q", loc)
		}
		id := strings.TrimPrefix(loc, "/app/assistants/")
		p = b.get(loc).must(t, 200)
		p.contains(t, "Assistant created.", `value="Helper"`, "A key is stored", `id="playground"`, `data-assistant="`+id+`"`, `action="/app/assistants/`+id+`/delete"`)
		if strings.Contains(p.Body, "sk-very-secret") {
			t.Error("the assistant page shows the API key")
		}
		b.get("/app/assistants").must(t, 200).contains(t, `href="/app/assistants/`+id+`"`, "Helper")

		// Edit: rename, turn knowledge off, keep the key.
		f = assistantForm("Renamed")
		f.Del("kb.enabled")
		f.Set("handoff.keywords", "human, , person")
		b.post("/app/assistants/"+id, f).must(t, http.StatusSeeOther)
		p = b.get("/app/assistants/"+id).must(t, 200)
		p.contains(t, "Settings saved.", `value="Renamed"`, `value="human, person"`, "A key is stored")
		if strings.Contains(p.Body, `name="kb.enabled" checked`) {
			t.Error("knowledge is still on after unchecking it")
		}
		f.Set("temperature", "x")
		f.Set("model.temperature", "3")
		b.post("/app/assistants/"+id, f).must(t, http.StatusUnprocessableEntity).contains(t, `id="model.temperature-error">must be between 0 and 2`)

		// An agent reads the settings (disabled) and may use the playground, not edit.
		agent := e.login("agent@acme.test")
		p = agent.get("/app/assistants/"+id).must(t, 200)
		p.contains(t, `id="playground"`, "<fieldset disabled")
		if strings.Contains(p.Body, `id="save"`) || strings.Contains(p.Body, "/delete") {
			t.Error("an agent sees the save or delete button")
		}
		agent.post("/app/assistants/"+id, assistantForm("By agent")).must(t, http.StatusForbidden)
		agent.post("/app/assistants/"+id+"/delete", nil).must(t, http.StatusForbidden)
		agent.post("/app/assistants", assistantForm("By agent")).must(t, http.StatusForbidden)
		agent.get("/app/assistants/new").must(t, http.StatusForbidden)
		// The playground's call: the chat API with the session, streamed.
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/chat", strings.NewReader(`{"assistant_id":"`+id+`","message":"hello there","stream":true}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", agent.csrf)
		res, err := agent.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), "event: message") || !strings.Contains(string(body), `"conversation_id"`) {
			t.Errorf("an agent's playground call: %d %s", res.StatusCode, body)
		}

		// A viewer reads, without the playground.
		viewer := e.login("viewer@acme.test")
		p = viewer.get("/app/assistants/"+id).must(t, 200)
		p.contains(t, "<fieldset disabled", "You can read these settings")
		if strings.Contains(p.Body, `id="playground"`) {
			t.Error("a viewer sees the playground")
		}
		viewer.get("/app/assistants").must(t, 200).contains(t, "Renamed")

		// Delete.
		b.post("/app/assistants/"+id+"/delete", nil).must(t, http.StatusSeeOther)
		b.get("/app/assistants/"+id).must(t, http.StatusNotFound)
		b.get("/app/assistants").must(t, 200).contains(t, "No assistant yet")
	})
}
