package dashboard_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/store"
)

// TestLiveStreamsEndWhenTheServerStops: an open inbox or knowledge stream
// never goes idle, so without Shutdown http.Server.Shutdown would wait for
// it until its deadline (and serve would exit with an error).
func TestLiveStreamsEndWhenTheServerStops(t *testing.T) {
	e := newEnv(t, store.SQLite)
	tn := e.newTenant("Acme")
	e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
	b := e.login("viewer@acme.test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var bodies []io.ReadCloser
	for _, path := range []string{"/app/inbox/events", "/app/knowledge/events"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		bodies = append(bodies, res.Body)
	}
	start := time.Now()
	e.dash.Shutdown()
	for i, body := range bodies {
		_, _ = io.Copy(io.Discard, bufio.NewReader(body)) // returns when the server ends the stream
		if ctx.Err() != nil {
			t.Fatalf("stream %d still open 10s after Shutdown", i)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the streams took %s to end", d)
	}
}
