package telegramfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const token = "123456:ABC-def_ghi"

func post(t *testing.T, s *Server, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.URL+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp.StatusCode, m
}

func TestServerAcceptsFormAndJSONParameters(t *testing.T) {
	t.Parallel()
	s := NewServer(token)
	defer s.Close()
	form := url.Values{"chat_id": {"42"}, "text": {"from a form"}}.Encode()
	if code, m := post(t, s, "/bot"+token+"/sendMessage", "application/x-www-form-urlencoded", form); code != 200 || m["ok"] != true {
		t.Errorf("form send: %d %v", code, m)
	}
	if code, m := post(t, s, "/bot"+token+"/sendMessage", "application/json", `{"chat_id":42,"text":"from JSON"}`); code != 200 || m["ok"] != true {
		t.Errorf("JSON send: %d %v", code, m)
	}
	if got := s.Sent(); len(got) != 2 || got[0].Text != "from a form" || got[1].ChatID != 42 {
		t.Errorf("sent %+v", got)
	}
}

func TestServerAnswersErrorsInTheBotAPIShape(t *testing.T) {
	t.Parallel()
	s := NewServer(token)
	defer s.Close()
	tests := []struct {
		name     string
		path     string
		body     string
		wantCode int
	}{
		{"malformed token", "/botnope/getMe", `{}`, 404},
		{"unknown token", "/bot999:zzz/getMe", `{}`, 401},
		{"unknown method", "/bot" + token + "/launchRockets", `{}`, 404},
		{"empty text", "/bot" + token + "/sendMessage", `{"chat_id":1,"text":""}`, 400},
		{"missing chat", "/bot" + token + "/sendMessage", `{"text":"x"}`, 400},
	}
	for _, tt := range tests {
		code, m := post(t, s, tt.path, "application/json", tt.body)
		if code != tt.wantCode || m["ok"] != false || m["error_code"] != float64(tt.wantCode) || m["description"] == "" {
			t.Errorf("%s: %d %v; want %d in the {ok:false} shape", tt.name, code, m, tt.wantCode)
		}
	}
	s.FailNext(1, 429, "Too Many Requests: retry after 3", 3)
	_, m := post(t, s, "/bot"+token+"/getMe", "application/json", `{}`)
	if p, _ := m["parameters"].(map[string]any); p["retry_after"] != float64(3) {
		t.Errorf("scripted 429: %v; want parameters.retry_after 3", m)
	}
}
