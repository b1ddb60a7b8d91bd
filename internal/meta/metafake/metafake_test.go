package metafake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestPayloadsEscapeNonASCIILikeMeta(t *testing.T) {
	t.Parallel()
	body := string(WhatsAppText("1", "2", "Zoë", "wamid.1", "hi 👋"))
	if strings.ContainsAny(body, "ë👋") || !strings.Contains(body, `Zo\u00eb`) || !strings.Contains(body, `\ud83d\udc4b`) {
		t.Errorf("payload not escaped as Meta does: %s", body)
	}
	var v struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Messages []struct {
						Text struct{ Body string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Entry[0].Changes[0].Value.Messages[0].Text.Body != "hi 👋" {
		t.Errorf("escaped payload does not decode back: %v %+v", err, v)
	}
}

func TestCombinatorsNestEntriesChangesAndMessages(t *testing.T) {
	t.Parallel()
	a := WhatsAppText("1", "2", "A", "wamid.a", "a")
	b := WhatsAppText("1", "3", "B", "wamid.b", "b")
	c := WhatsAppStatus("1", "wamid.x", "2", "read", Timestamp)
	count := func(payload []byte) (entries, changes, messages, statuses int) {
		var v struct {
			Entry []struct {
				Changes []struct {
					Value struct {
						Messages []any
						Statuses []any
					}
				}
				Messaging []any
			}
		}
		if err := json.Unmarshal(payload, &v); err != nil {
			t.Fatal(err)
		}
		for _, e := range v.Entry {
			changes += len(e.Changes)
			for _, ch := range e.Changes {
				messages += len(ch.Value.Messages)
				statuses += len(ch.Value.Statuses)
			}
		}
		return len(v.Entry), changes, messages, statuses
	}
	tests := []struct {
		name                  string
		payload               []byte
		e, ch, msgs, statuses int
	}{
		{"Batch keeps one entry per payload", Batch(a, b, c), 3, 3, 2, 1},
		{"SameEntry keeps one change per payload", SameEntry(a, b, c), 1, 3, 2, 1},
		{"SameChange merges everything into one value", SameChange(a, b, c), 1, 1, 2, 1},
	}
	for _, tt := range tests {
		e, ch, m, s := count(tt.payload)
		if e != tt.e || ch != tt.ch || m != tt.msgs || s != tt.statuses {
			t.Errorf("%s: %d entries, %d changes, %d messages, %d statuses; want %d, %d, %d, %d", tt.name, e, ch, m, s, tt.e, tt.ch, tt.msgs, tt.statuses)
		}
	}
}

func TestNewWebhookRequestIsSigned(t *testing.T) {
	t.Parallel()
	body := MessengerText("p", "u", "m_1", "hi")
	r := NewWebhookRequest("/webhooks/meta", "secret", body)
	if r.Method != http.MethodPost || r.Header.Get("X-Hub-Signature-256") != Sign("secret", body) {
		t.Errorf("request %s with signature %q", r.Method, r.Header.Get("X-Hub-Signature-256"))
	}
	if got := Sign("secret", []byte("{}")); !strings.HasPrefix(got, "sha256=") || len(got) != len("sha256=")+64 || strings.ToLower(got) != got {
		t.Errorf("Sign = %q; want sha256= and 64 hex digits", got)
	}
}

func TestServerRejectsMissingAndUnknownTokens(t *testing.T) {
	t.Parallel()
	s := NewServer("good")
	defer s.Close()
	tests := []struct {
		header string
		want   int
	}{
		{"", 400},
		{"Bearer bad", 401},
		{"Bearer good", 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v25.0/123/messages", strings.NewReader(`{"messaging_product":"whatsapp","to":"+1","type":"text","text":{"body":"x"}}`))
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Authorization %q: status %d, want %d", tt.header, resp.StatusCode, tt.want)
		}
	}
}
