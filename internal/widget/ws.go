package widget

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// Live connection limits.
const (
	readLimit      = 16 << 10         // largest frame a client may send
	helloTimeout   = 10 * time.Second // time to send hello after connecting
	writeTimeout   = 10 * time.Second // a client that cannot take a frame this long is dropped
	pingInterval   = 30 * time.Second
	pingTimeout    = 10 * time.Second
	subBuffer      = 16 // events a connection may lag before it resynchronises from the database
	outBuffer      = 16 // replies (pong, errors) queued for the writer
	backlogPage    = 500
	typingInterval = 2 * time.Second
)

// clientFrame is any frame a widget client sends.
type clientFrame struct {
	Type     string `json:"type"`
	Token    string `json:"token"`
	AfterSeq int64  `json:"after_seq"`
	ClientID string `json:"client_id"`
	Text     string `json:"text"`
}

type errorFrame struct {
	Type     string `json:"type"`
	Code     string `json:"code"`
	Detail   string `json:"detail"`
	ClientID string `json:"client_id,omitempty"`
}

// conversationStarted tells the writer that the visitor's first message
// created a conversation it must now follow.
type conversationStarted struct{ id string }

// liveConn is one widget WebSocket.
type liveConn struct {
	h       *Handler
	c       *websocket.Conn
	log     *slog.Logger
	v       Visitor
	contact string
	conv    string
	lastSeq int64 // highest seq this client has been given (or skipped)
	sub     *realtime.Subscription
	out     chan any

	readerStarted bool
	readerDone    chan struct{}
}

// Shutdown closes every live connection with "going away", so widgets
// reconnect at once to another process or to this one after a restart.
func (h *Handler) Shutdown() { h.closeAll() }

// WS serves GET /api/v1/widget/ws (protocol in DESIGN §7). The visitor
// token arrives in the first frame, never in the URL, so it stays out of
// access logs.
func (h *Handler) WS(w http.ResponseWriter, r *http.Request) error {
	if h.closing() {
		return &apperr.Error{Kind: apperr.Unavailable, Message: "the server is restarting: reconnect shortly", RetryAfter: 1}
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil // Accept has answered the client already
	}
	c.SetReadLimit(readLimit)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	stop := h.track(cancel)
	defer stop()
	lc := &liveConn{h: h, c: c, log: h.log, out: make(chan any, outBuffer), readerDone: make(chan struct{})}
	status, reason := lc.run(ctx)
	if lc.sub != nil {
		lc.sub.Close()
	}
	// Close sends the status and ends the reader's pending read; the reader
	// is never cancelled by a context, which would drop the connection
	// without a close frame.
	_ = c.Close(status, reason)
	if lc.readerStarted {
		<-lc.readerDone
	}
	return nil
}

func (h *Handler) closing() bool {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	return h.shuttingDown
}

// track registers a connection's cancel so Shutdown can end it.
func (h *Handler) track(cancel context.CancelFunc) func() {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	if h.conns == nil {
		h.conns = map[*context.CancelFunc]struct{}{}
	}
	p := &cancel
	h.conns[p] = struct{}{}
	return func() {
		h.connsMu.Lock()
		delete(h.conns, p)
		h.connsMu.Unlock()
	}
}

func (h *Handler) closeAll() {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	h.shuttingDown = true
	for p := range h.conns {
		(*p)()
	}
}

// Connections counts open widget connections.
func (h *Handler) Connections() int {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	return len(h.conns)
}

type connState struct {
	connsMu      sync.Mutex
	conns        map[*context.CancelFunc]struct{}
	shuttingDown bool
}

func (lc *liveConn) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return lc.writeRaw(ctx, b)
}

func (lc *liveConn) writeRaw(ctx context.Context, b []byte) error {
	// A write is bounded by its timeout, never cut by the connection's
	// context: coder/websocket drops the connection without a close frame
	// when a write's context ends, and a shutdown must close with 1001.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return lc.c.Write(wctx, websocket.MessageText, b)
}

func (lc *liveConn) refuse(ctx context.Context, code, detail string) {
	_ = lc.write(ctx, errorFrame{Type: "error", Code: code, Detail: detail})
}

// run drives the connection and returns how to close it.
func (lc *liveConn) run(ctx context.Context) (websocket.StatusCode, string) {
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	var hello clientFrame
	err := lc.readFrame(hctx, &hello)
	cancel()
	if err != nil || hello.Type != "hello" {
		lc.refuse(ctx, "bad_frame", "the first frame must be {\"type\":\"hello\",\"token\":…,\"after_seq\":N}")
		return websocket.StatusPolicyViolation, "hello expected"
	}
	v, err := verifyToken(lc.h.keys, hello.Token, lc.h.now())
	if err != nil {
		lc.refuse(ctx, "unauthorized", "the visitor token is invalid or expired: create a new session")
		return websocket.StatusPolicyViolation, "unauthorized"
	}
	lc.v = v
	if err := lc.load(ctx); err != nil {
		if apperr.Is(err, apperr.NotFound) || apperr.Is(err, apperr.Forbidden) {
			lc.refuse(ctx, "unauthorized", "this chat is no longer available")
			return websocket.StatusPolicyViolation, "unauthorized"
		}
		lc.log.Error("widget connection", "error", err, "tenant_id", v.TenantID)
		return websocket.StatusInternalError, "internal error"
	}
	lc.lastSeq = max(hello.AfterSeq, 0)
	if lc.conv != "" {
		lc.sub = lc.h.hub.Subscribe(v.TenantID, lc.conv, subBuffer)
	}
	if err := lc.write(ctx, map[string]string{"type": "ready", "conversation_id": lc.conv}); err != nil {
		return websocket.StatusGoingAway, ""
	}
	if lc.conv != "" {
		if err := lc.catchUp(ctx, 0); err != nil {
			return lc.closeFor(err)
		}
	}

	readErr := make(chan error, 1)
	lc.readerStarted = true
	go func() {
		defer close(lc.readerDone)
		readErr <- lc.readLoop(context.WithoutCancel(ctx))
	}()

	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		var events <-chan realtime.Event
		var overflow <-chan struct{}
		if lc.sub != nil {
			events, overflow = lc.sub.C, lc.sub.Overflowed
		}
		select {
		case <-ctx.Done():
			return websocket.StatusGoingAway, "server restarting"
		case err := <-readErr:
			return lc.closeFor(err)
		case f := <-lc.out:
			if s, ok := f.(conversationStarted); ok {
				if lc.conv == "" {
					lc.conv = s.id
					lc.sub = lc.h.hub.Subscribe(lc.v.TenantID, lc.conv, subBuffer)
					if err := lc.catchUp(ctx, 0); err != nil {
						return lc.closeFor(err)
					}
				}
				continue
			}
			if err := lc.write(ctx, f); err != nil {
				return lc.closeFor(err)
			}
		case e := <-events:
			if err := lc.deliver(ctx, e); err != nil {
				return lc.closeFor(err)
			}
		case <-overflow:
			// The connection fell behind; re-follow from the database.
			lc.sub.Close()
			lc.sub = lc.h.hub.Subscribe(lc.v.TenantID, lc.conv, subBuffer)
			if err := lc.catchUp(ctx, 0); err != nil {
				return lc.closeFor(err)
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
			err := lc.c.Ping(pctx)
			cancel()
			if err != nil {
				return websocket.StatusGoingAway, "ping timeout"
			}
		}
	}
}

func (lc *liveConn) closeFor(err error) (websocket.StatusCode, string) {
	if s := websocket.CloseStatus(err); s != -1 {
		return s, ""
	}
	if errors.Is(err, errSlowClient) {
		return websocket.StatusPolicyViolation, "too slow"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return websocket.StatusGoingAway, ""
	}
	return websocket.StatusInternalError, ""
}

var errSlowClient = errors.New("client does not read its frames")

// load checks that the channel and tenant still exist and finds the
// visitor's contact and latest conversation.
func (lc *liveConn) load(ctx context.Context) error {
	return lc.h.store.Read(ctx, store.TenantScope(lc.v.TenantID), func(tx *store.Tx) error {
		tn, err := tx.GetTenant(ctx, lc.v.TenantID)
		if err != nil {
			return err
		}
		if tn.Status != "active" {
			return apperr.New(apperr.Forbidden, "tenant suspended")
		}
		if _, err := tx.GetChannel(ctx, lc.v.ChannelID); err != nil {
			return err
		}
		ct, err := tx.ContactByExternalID(ctx, lc.v.ChannelID, lc.v.ExternalID)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		lc.contact = ct.ID
		conv, err := tx.LatestConversation(ctx, ct.ID)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		lc.conv = conv.ID
		return err
	})
}

// catchUp sends every message after lastSeq from the database (notes are
// for agents and are skipped), then the conversation's status. upTo, when
// larger, is a seq known to exist (an event's) that the client must count
// as seen even if it was a note.
func (lc *liveConn) catchUp(ctx context.Context, upTo int64) error {
	var status string
	for {
		var page []store.Message
		err := lc.h.store.Read(ctx, store.TenantScope(lc.v.TenantID), func(tx *store.Tx) error {
			// The conversation first: under READ COMMITTED a message
			// committed between the two reads then shows up in the page
			// rather than being counted as seen without being sent.
			conv, err := tx.GetConversation(ctx, lc.conv)
			if err != nil {
				return err
			}
			status = conv.Status
			upTo = max(upTo, conv.LastSeq)
			page, err = tx.ListMessages(ctx, lc.conv, lc.lastSeq, backlogPage, false)
			return err
		})
		if err != nil {
			return err
		}
		for _, m := range page {
			if err := lc.write(ctx, conversations.Wire(m)); err != nil {
				return err
			}
			lc.lastSeq = m.Seq
		}
		if len(page) < backlogPage {
			break
		}
	}
	lc.lastSeq = max(lc.lastSeq, upTo)
	return lc.write(ctx, map[string]string{"type": "status", "status": status})
}

// deliver forwards one bus event. A message event that is the next seq is
// sent as is; one further ahead means events were missed, and the gap is
// filled from the database.
func (lc *liveConn) deliver(ctx context.Context, e realtime.Event) error {
	switch e.Type {
	case "message":
		if e.Seq <= lc.lastSeq {
			return nil
		}
		if e.Seq != lc.lastSeq+1 || len(e.Data) == 0 {
			return lc.catchUpQuiet(ctx, e.Seq)
		}
		var peek struct {
			Message struct {
				Role string `json:"role"`
			} `json:"message"`
		}
		if err := json.Unmarshal(e.Data, &peek); err != nil {
			return lc.catchUpQuiet(ctx, e.Seq)
		}
		lc.lastSeq = e.Seq
		if peek.Message.Role == "note" {
			return nil
		}
		return lc.writeRaw(ctx, e.Data)
	case "typing":
		var peek struct {
			Role string `json:"role"`
		}
		if json.Unmarshal(e.Data, &peek) != nil || peek.Role == "user" {
			return nil
		}
	}
	if len(e.Data) == 0 {
		return nil
	}
	return lc.writeRaw(ctx, e.Data)
}

// catchUpQuiet fills a gap without repeating the status line.
func (lc *liveConn) catchUpQuiet(ctx context.Context, upTo int64) error {
	for {
		var page []store.Message
		err := lc.h.store.Read(ctx, store.TenantScope(lc.v.TenantID), func(tx *store.Tx) error {
			var err error
			page, err = tx.ListMessages(ctx, lc.conv, lc.lastSeq, backlogPage, false)
			return err
		})
		if err != nil {
			return err
		}
		for _, m := range page {
			if err := lc.write(ctx, conversations.Wire(m)); err != nil {
				return err
			}
			lc.lastSeq = m.Seq
		}
		if len(page) < backlogPage {
			lc.lastSeq = max(lc.lastSeq, upTo)
			return nil
		}
	}
}

func (lc *liveConn) readFrame(ctx context.Context, f *clientFrame) error {
	typ, b, err := lc.c.Read(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageText {
		return errors.New("binary frame")
	}
	*f = clientFrame{}
	return json.Unmarshal(b, f)
}

// send queues a frame for the writer; a client whose queue is full is not
// reading and is dropped.
func (lc *liveConn) send(v any) error {
	select {
	case lc.out <- v:
		return nil
	default:
		return errSlowClient
	}
}

// readLoop handles the client's frames after hello.
func (lc *liveConn) readLoop(ctx context.Context) error {
	conv := lc.conv
	var lastTyping time.Time
	for {
		var f clientFrame
		err := lc.readFrame(ctx, &f)
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syn) || errors.As(err, &typ) || (err != nil && err.Error() == "binary frame") {
			if err := lc.send(errorFrame{Type: "error", Code: "bad_frame", Detail: "frames are JSON text objects"}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		switch f.Type {
		case "ping":
			err = lc.send(map[string]string{"type": "pong"})
		case "typing":
			if conv != "" && time.Since(lastTyping) > typingInterval {
				lastTyping = time.Now()
				lc.h.convs.PublishTyping(ctx, lc.v.TenantID, conv, "user")
			}
		case "message":
			conv, err = lc.postMessage(ctx, conv, f)
		case "hello":
			err = lc.send(errorFrame{Type: "error", Code: "bad_frame", Detail: "hello is sent once"})
		default:
			err = lc.send(errorFrame{Type: "error", Code: "bad_frame", Detail: "unknown frame type"})
		}
		if err != nil {
			return err
		}
	}
}

// postMessage stores a visitor message; the message itself reaches the
// client through the event bus like every other (with its seq).
func (lc *liveConn) postMessage(ctx context.Context, conv string, f clientFrame) (string, error) {
	if ok, _ := lc.h.limits.Messages.Allow("visitor:" + lc.v.TenantID + "/" + lc.v.ExternalID); !ok {
		return conv, lc.send(errorFrame{Type: "error", Code: "rate_limited", Detail: "you are sending messages too fast: wait a moment", ClientID: f.ClientID})
	}
	if f.ClientID == "" {
		return conv, lc.send(errorFrame{Type: "error", Code: "invalid_message", Detail: "client_id is required", ClientID: f.ClientID})
	}
	res, err := lc.h.convs.PostInbound(ctx, conversations.Inbound{
		TenantID: lc.v.TenantID, ChannelID: lc.v.ChannelID, ContactID: lc.contact, ExternalID: lc.v.ExternalID,
		ConversationID: conv, Text: f.Text, ClientID: f.ClientID, RequestID: "ws-" + lc.v.ExternalID,
	})
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Kind == apperr.Invalid {
		detail := ae.Message
		if len(ae.Fields) > 0 {
			detail = ae.Fields[0].Field + " " + ae.Fields[0].Message
		}
		return conv, lc.send(errorFrame{Type: "error", Code: "invalid_message", Detail: detail, ClientID: f.ClientID})
	}
	if err != nil {
		return conv, err
	}
	lc.contact = res.Conversation.ContactID
	if conv == "" {
		conv = res.Conversation.ID
		if err := lc.send(conversationStarted{id: conv}); err != nil {
			return conv, err
		}
	}
	if res.Duplicate {
		// A resend of a message stored before: give the client its seq.
		return conv, lc.send(conversations.Wire(res.Message))
	}
	return conv, nil
}
