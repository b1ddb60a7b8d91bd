package fake

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTheOpenAIFakeAnswersJSONWhenNotStreaming(t *testing.T) {
	t.Parallel()
	s := OpenAI(t)
	resp, body := post(t, s.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + s.APIKey()})
	var got struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role, Content string
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got.Object != "chat.completion" || got.Choices[0].Message.Content != DefaultText || got.Choices[0].FinishReason != "stop" ||
		got.Usage.PromptTokens != 12 || got.Usage.CompletionTokens != 5 {
		t.Fatalf("%s", body)
	}
}

func TestTheOpenAIFakeStreamsChunksAUsageChunkAndDone(t *testing.T) {
	t.Parallel()
	s := OpenAI(t)
	s.Enqueue(Behavior{Text: "a b", Deltas: 2})
	_, body := post(t, s.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		map[string]string{"Authorization": "Bearer " + s.APIKey()})
	var datas []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			datas = append(datas, d)
		}
	}
	// role chunk, 2 content chunks, finish chunk, usage chunk, [DONE]
	if len(datas) != 6 || datas[5] != "[DONE]" || !strings.Contains(datas[1], `"content":"a "`) ||
		!strings.Contains(datas[3], `"finish_reason":"stop"`) || !strings.Contains(datas[4], `"choices":[]`) || !strings.Contains(datas[4], `"prompt_tokens":12`) {
		t.Fatalf("stream:\n%s", body)
	}
}

func TestTheAnthropicFakeAnswersJSONAndChecksItsHeaders(t *testing.T) {
	t.Parallel()
	s := Anthropic(t)
	const body = `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	resp, out := post(t, s.URL+"/v1/messages", body, map[string]string{"x-api-key": s.APIKey()})
	if resp.StatusCode != 400 || !strings.Contains(out, `"type":"error"`) || !strings.Contains(out, "anthropic-version") {
		t.Fatalf("without anthropic-version: %d %s", resp.StatusCode, out)
	}
	resp, out = post(t, s.URL+"/v1/messages", body, map[string]string{"x-api-key": "wrong", "anthropic-version": "2023-06-01"})
	if resp.StatusCode != 401 || !strings.Contains(out, `"authentication_error"`) {
		t.Fatalf("wrong key: %d %s", resp.StatusCode, out)
	}
	resp, out = post(t, s.URL+"/v1/messages", body, map[string]string{"x-api-key": s.APIKey(), "anthropic-version": "2023-06-01"})
	var got struct {
		Type       string `json:"type"`
		Content    []struct{ Type, Text string }
		StopReason string `json:"stop_reason"`
		Usage      struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || resp.StatusCode != 200 || got.Type != "message" ||
		got.Content[0].Text != DefaultText || got.StopReason != "end_turn" || got.Usage.InputTokens != 12 || got.Usage.OutputTokens != 5 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if s.Calls() != 3 || !strings.Contains(string(s.LastRequest()), `"max_tokens":100`) || len(s.Requests()) != 3 {
		t.Fatalf("calls %d, last %s", s.Calls(), s.LastRequest())
	}
}

func TestTheAnthropicFakeStreamsTheEventSequence(t *testing.T) {
	t.Parallel()
	s := Anthropic(t)
	_, out := post(t, s.URL+"/v1/messages", `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + s.APIKey(), "anthropic-version": "2023-06-01"})
	var events []string
	for _, line := range strings.Split(out, "\n") {
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			events = append(events, e)
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if strings.Join(events, " ") != want {
		t.Fatalf("events %v\n%s", events, out)
	}
}

func TestScriptedErrorsUseTheProvidersShapeAndHeaders(t *testing.T) {
	t.Parallel()
	o := OpenAI(t)
	o.Enqueue(Behavior{Status: 429, RetryAfter: "2", RetryAfterMS: "2000"})
	resp, out := post(t, o.URL+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"Authorization": "Bearer " + o.APIKey()})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || resp.Header.Get("retry-after-ms") != "2000" ||
		!strings.Contains(out, `"code":"rate_limit_exceeded"`) || o.Pending() != 0 {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, out)
	}
	a := Anthropic(t)
	a.Enqueue(Behavior{Status: 529})
	resp, out = post(t, a.URL+"/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-api-key": a.APIKey(), "anthropic-version": "2023-06-01"})
	if resp.StatusCode != 529 || !strings.Contains(out, `"type":"overloaded_error"`) {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
}

func TestSplitCutsTextIntoPiecesThatConcatenateBack(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text string
		n    int
		want string
	}{
		{"Hello from fake", 3, "Hello |from |fake"},
		{"one two three four five", 2, "one two three |four five"},
		{"abc", 5, "a|b|c"},
		{"ćevapi", 2, "ćev|api"},
		{"x", 1, "x"},
	} {
		got := Split(c.text, c.n)
		if strings.Join(got, "|") != c.want || strings.Join(got, "") != c.text {
			t.Fatalf("Split(%q, %d) = %q", c.text, c.n, got)
		}
	}
}
