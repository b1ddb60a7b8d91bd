package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
	"github.com/metachat/metachat/internal/tenants"
)

// panicTestLog is a goroutine-safe buffer for the server's log.
type panicTestLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *panicTestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *panicTestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// panicTestServer builds a real server (its outer middleware is what is
// under test) logging into the returned buffer.
func panicTestServer(t *testing.T) (*Server, *panicTestLog) {
	t.Helper()
	st := storetest.Open(t, store.SQLite, true)
	logs := &panicTestLog{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	s := New(Config{BaseURL: "http://metachat.test"}, log, Deps{
		Store:   st,
		Auth:    auth.NewService(st, auth.Options{}),
		Tenants: tenants.NewService(st, nil, "http://metachat.test"),
	})
	return s, logs
}

// panicTestServe runs one request through s.outer around h.
func panicTestServe(s *Server, h http.HandlerFunc, requestID string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/explode", nil)
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	rec := httptest.NewRecorder()
	s.outer(h).ServeHTTP(rec, req)
	return rec
}

func TestAPanickingHandlerAnswers500WithoutShowingThePanicOrTheStack(t *testing.T) {
	t.Parallel()
	s, logs := panicTestServer(t)
	secret := "db password is hunter2"
	for name, h := range map[string]http.HandlerFunc{
		"a string": func(w http.ResponseWriter, r *http.Request) { panic("boom: " + secret) },
		"an error": func(w http.ResponseWriter, r *http.Request) { panic(errors.New("boom: " + secret)) },
		"a nil map write": func(w http.ResponseWriter, r *http.Request) {
			var m map[string]int
			//lint:ignore SA5000 the runtime panic is what this case is about
			m["boom"]++
			_ = secret
		},
		"after setting a header": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Half-Done", "1")
			panic("boom: " + secret)
		},
	} {
		rec := panicTestServe(s, h, "case-"+strings.ReplaceAll(name, " ", "-"))
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", name, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want application/problem+json", name, ct)
		}
		body := rec.Body.String()
		for _, leak := range []string{"boom", "goroutine", "hunter2", "panic", ".go:", "runtime"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the answer shows %q: %s", name, leak, body)
			}
		}
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: body is not a problem: %v: %s", name, err, body)
		}
		if p.Status != 500 || p.Title == "" || p.Detail == "" || p.RequestID != "case-"+strings.ReplaceAll(name, " ", "-") {
			t.Errorf("%s: problem %+v", name, p)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Request-Id") != p.RequestID {
			t.Errorf("%s: the 500 lacks the usual headers: %v", name, rec.Header())
		}
	}
	// The operator gets the panic and the stack, in the log, with the request id.
	log := logs.String()
	if !strings.Contains(log, "boom") || !strings.Contains(log, "goroutine") || !strings.Contains(log, "case-a-string") {
		t.Errorf("the log lacks the panic, its stack or the request id:\n%s", log)
	}
}

func TestAPanicAfterTheAnswerStartedDoesNotWriteASecondAnswer(t *testing.T) {
	t.Parallel()
	s, _ := panicTestServer(t)
	rec := panicTestServe(s, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		panic("boom")
	}, "")
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Fatalf("status %d body %q, want the handler's own 200 and bytes only", rec.Code, rec.Body.String())
	}
}

func TestAbortHandlerPanicsAreLeftToNetHTTP(t *testing.T) {
	t.Parallel()
	s, logs := panicTestServer(t)
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler to propagate", p)
		}
		if strings.Contains(logs.String(), `"msg":"panic"`) {
			t.Errorf("an aborted request was logged as a panic: %s", logs.String())
		}
	}()
	panicTestServe(s, func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }, "")
	t.Fatal("the abort did not propagate")
}

func TestTheServerKeepsServingAfterAPanicOverRealHTTP(t *testing.T) {
	t.Parallel()
	s, _ := panicTestServer(t)
	var calls atomic.Int32
	srv := httptest.NewServer(s.outer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path == "/explode" {
			panic("boom")
		}
		_ = writeJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	})))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/explode")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 500 || strings.Contains(buf.String(), "boom") || strings.Contains(buf.String(), "goroutine") {
		t.Fatalf("over HTTP: %d %s", res.StatusCode, buf.String())
	}
	res, err = http.Get(srv.URL + "/fine")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || calls.Load() != 2 {
		t.Fatalf("after a panic: status %d, %d calls", res.StatusCode, calls.Load())
	}
}
