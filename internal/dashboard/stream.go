package dashboard

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/realtime"
)

// streamHeartbeat is the live streams' beat: a comment line keeps proxies
// from closing an idle stream, and the session is checked again as often.
var streamHeartbeat = 15 * time.Second

// streamBuffer is how far a stream may fall behind before it must resync.
const streamBuffer = 256

// stream serves the tenant's live events as Server-Sent Events: frame
// turns an event into the frame's event name and data, or skips it. The
// session is checked again at every heartbeat (a signed-out, switched or
// demoted user gets "end"); a subscriber that fell behind gets "resync"
// (the page reloads what it shows) and the stream closes; so does every
// stream when the server stops (Shutdown). EventSource reconnects.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, frame func(realtime.Event) (name, data string, ok bool)) error {
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return apperr.New(apperr.Invalid, "this address serves text/event-stream (EventSource) only")
	}
	p := auth.FromContext(r.Context())
	cookie, err := r.Cookie(httpapi.SessionCookie)
	if err != nil {
		return errNoSession
	}
	sub := h.hub.SubscribeTenant(p.TenantID, streamBuffer)
	defer sub.Close()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 3000\n: connected\n\n") {
		return nil
	}
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.closing:
			return nil // the server is stopping: EventSource reconnects to another
		case <-sub.Overflowed:
			send("event: resync\ndata: {}\n\n")
			return nil
		case e := <-sub.C:
			name, data, ok := frame(e)
			if !ok {
				continue
			}
			if !send("event: " + name + "\ndata: " + data + "\n\n") {
				return nil
			}
		case <-tick.C:
			now, err := h.auth.AuthenticateSession(ctx, cookie.Value)
			if err != nil || now.TenantID != p.TenantID || !now.Can(auth.ScopeRead) {
				send("event: end\ndata: {}\n\n")
				return nil
			}
			if !send(": heartbeat\n\n") {
				return nil
			}
		}
	}
}
