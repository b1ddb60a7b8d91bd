package accounts

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
)

// fakeSMTP is a minimal SMTP server (RFC 5321 wire format, AUTH PLAIN, no
// TLS) that records one session.
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	log  []string // commands received
	data string
	auth string
	done chan struct{}
}

func newFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{ln: ln, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go f.serve()
	return f
}

func (f *fakeSMTP) serve() {
	defer close(f.done)
	c, err := f.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		f.mu.Lock()
		f.log = append(f.log, line)
		f.mu.Unlock()
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch cmd {
		case "EHLO":
			say("250-fake")
			say("250 AUTH PLAIN")
		case "AUTH":
			parts := strings.Fields(line)
			b, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1])
			f.mu.Lock()
			f.auth = string(b)
			f.mu.Unlock()
			say("235 ok")
		case "MAIL", "RCPT":
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			f.mu.Lock()
			f.data = b.String()
			f.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func TestSMTPSendsAPlainTextMessage(t *testing.T) {
	f := newFakeSMTP(t)
	port := f.ln.Addr().(*net.TCPAddr).Port
	s := &SMTP{Host: "127.0.0.1", Port: port, Username: "bot", Password: "pw", From: "Metachat <bot@example.com>"}
	err := s.Send(context.Background(), Message{To: "ana@example.com", Subject: "Reset your metachat password", Body: "Hello.\nThe link:\nhttp://x/login/reset/abc\n"})
	if err != nil {
		t.Fatal(err)
	}
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	cmds := strings.Join(f.log, "\n")
	for _, want := range []string{"MAIL FROM:<bot@example.com>", "RCPT TO:<ana@example.com>", "DATA", "QUIT"} {
		if !strings.Contains(cmds, want) {
			t.Errorf("the session lacks %q:\n%s", want, cmds)
		}
	}
	if f.auth != "\x00bot\x00pw" {
		t.Errorf("AUTH PLAIN sent %q", f.auth)
	}
	for _, want := range []string{"From: \"Metachat\" <bot@example.com>\r\n", "To: ana@example.com\r\n", "Subject: Reset your metachat password\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n", "\r\n\r\nHello.\r\nThe link:\r\nhttp://x/login/reset/abc\r\n"} {
		if !strings.Contains(f.data, want) {
			t.Errorf("the message lacks %q:\n%s", want, f.data)
		}
	}
}

func TestSMTPRefusesHeaderInjection(t *testing.T) {
	s := &SMTP{Host: "127.0.0.1", Port: 1, From: "bot@example.com"}
	if err := s.Send(context.Background(), Message{To: "a@example.com\r\nBcc: x@example.com", Subject: "x"}); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Errorf("Send with a line break in To: %v", err)
	}
}
