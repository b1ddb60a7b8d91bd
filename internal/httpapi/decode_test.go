package httpapi

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/apperr"
)

// decodeTarget is a request body shaped like the handlers' own.
type decodeTarget struct {
	Name   string   `json:"name"`
	Age    int      `json:"age"`
	Tags   []string `json:"tags"`
	Nested struct {
		On bool `json:"on"`
	} `json:"nested"`
}

// decodeRequest builds a POST with body and, when ct is not empty, that
// Content-Type; limit > 0 wraps the body in http.MaxBytesReader.
func decodeRequest(body, ct string, limit int64) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/things", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if limit > 0 {
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
	}
	return r
}

// decodeFieldNames returns the kind and field names of an *apperr.Error.
func decodeFieldNames(t *testing.T, err error) (apperr.Kind, []string) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("decodeJSON error = %T %v, want *apperr.Error", err, err)
	}
	var names []string
	for _, f := range ae.Fields {
		if f.Message == "" {
			t.Errorf("field error for %q has no message", f.Field)
		}
		names = append(names, f.Field)
	}
	return ae.Kind, names
}

func TestDecodeJSONAcceptsAValidObject(t *testing.T) {
	t.Parallel()
	want := decodeTarget{Name: "Ada", Age: 36, Tags: []string{"x", "ü"}}
	want.Nested.On = true
	body := `{"name":"Ada","age":36,"tags":["x","\u00fc"],"nested":{"on":true}}`
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", ""} {
		t.Run("content type "+ct, func(t *testing.T) {
			t.Parallel()
			var got decodeTarget
			if err := decodeJSON(decodeRequest(body, ct, 0), &got); err != nil {
				t.Fatalf("decodeJSON = %v, want nil", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeJSONAcceptsSurroundingWhitespaceAndAnObjectAtTheLimit(t *testing.T) {
	t.Parallel()
	body := "\n  {\"name\":\"Ada\"}  \r\n"
	var got decodeTarget
	if err := decodeJSON(decodeRequest(body, "application/json", int64(len(body))), &got); err != nil {
		t.Fatalf("decodeJSON = %v, want nil", err)
	}
	if got.Name != "Ada" {
		t.Errorf("Name = %q, want Ada", got.Name)
	}
}

func TestDecodeJSONRefusesBadBodiesNamingTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, ct string
		wantField      string
	}{
		{"unknown field", `{"name":"Ada","colour":"red"}`, "application/json", "colour"},
		{"unknown nested field", `{"nested":{"on":true,"off":false}}`, "application/json", "off"},
		{"field names are case-sensitive-ish but unknown ones are refused", `{"nickname":"A"}`, "application/json", "nickname"},
		{"string for a number", `{"age":"thirty-six"}`, "application/json", "age"},
		{"number for a string", `{"name":42}`, "application/json", "name"},
		{"object for a string", `{"name":{}}`, "application/json", "name"},
		{"string for an array", `{"tags":"x"}`, "application/json", "tags"},
		{"string for a bool in a nested object", `{"nested":{"on":"yes"}}`, "application/json", "nested.on"},
		{"fraction for an integer", `{"age":36.5}`, "application/json", "age"},
		{"array instead of an object", `[1,2]`, "application/json", "body"},
		{"string instead of an object", `"hello"`, "application/json", "body"},
		{"trailing object", `{"name":"a"} {"name":"b"}`, "application/json", "body"},
		{"trailing garbage", `{"name":"a"}x`, "application/json", "body"},
		{"trailing brace", `{"name":"a"}}`, "application/json", "body"},
		{"invalid UTF-8 in a string", "{\"name\":\"\xff\xfe\"}", "application/json", "body"},
		{"invalid UTF-8 after the object", "{\"name\":\"a\"}\xff", "application/json", "body"},
		{"empty", "", "application/json", "body"},
		{"only whitespace", " \n\t ", "application/json", "body"},
		{"truncated", `{"name":`, "application/json", "body"},
		{"syntax error", `{name:"Ada"}`, "application/json", "body"},
		{"plain text content type", `{"name":"Ada"}`, "text/plain", "body"},
		{"form content type", `name=Ada`, "application/x-www-form-urlencoded", "body"},
		{"malformed content type", `{"name":"Ada"}`, "application/json; =", "body"},
		{"json-ish but not json content type", `{"name":"Ada"}`, "application/jsonp", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got decodeTarget
			err := decodeJSON(decodeRequest(tt.body, tt.ct, 0), &got)
			if err == nil {
				t.Fatalf("decodeJSON(%q) = nil, want an error naming %q", tt.body, tt.wantField)
			}
			kind, fields := decodeFieldNames(t, err)
			if kind != apperr.Invalid {
				t.Errorf("Kind = %v, want Invalid", kind)
			}
			if diff := cmp.Diff([]string{tt.wantField}, fields); diff != "" {
				t.Errorf("field names mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeJSONRefusesABodyOverTheLimitAsTooLarge(t *testing.T) {
	t.Parallel()
	body := `{"name":"` + strings.Repeat("a", 100) + `"}`
	for _, limit := range []int64{1, 16, int64(len(body)) - 1} {
		var got decodeTarget
		err := decodeJSON(decodeRequest(body, "application/json", limit), &got)
		kind, fields := decodeFieldNames(t, err)
		if kind != apperr.TooLarge {
			t.Errorf("limit %d: Kind = %v, want TooLarge", limit, kind)
		}
		if diff := cmp.Diff([]string{"body"}, fields); diff != "" {
			t.Errorf("limit %d: field names mismatch (-want +got):\n%s", limit, diff)
		}
	}
}

// decodeFailingReader fails every read with an error that is not a
// MaxBytesError.
type decodeFailingReader struct{}

func (decodeFailingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDecodeJSONReportsAnUnreadableBodyAsInvalidWithoutTheCause(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/", decodeFailingReader{})
	r.Header.Set("Content-Type", "application/json")
	err := decodeJSON(r, &decodeTarget{})
	kind, fields := decodeFieldNames(t, err)
	if kind != apperr.Invalid || !cmp.Equal(fields, []string{"body"}) {
		t.Errorf("got kind %v fields %v, want Invalid [body]", kind, fields)
	}
	if strings.Contains(err.Error(), "connection reset") {
		t.Errorf("error %q leaks the read error", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	seeds := []struct{ body, ct string }{
		{`{"name":"Ada","age":36,"tags":["x"],"nested":{"on":true}}`, "application/json"},
		{`{"name":"Ada"}`, ""},
		{`{"colour":"red"}`, "application/json"},
		{`{"age":"x"}`, "application/json"},
		{`{"nested":{"on":1}}`, "application/json"},
		{`{"name":"a"} {}`, "application/json"},
		{"{\"name\":\"\xff\"}", "application/json"},
		{"", "application/json"},
		{`null`, "application/json"},
		{`[`, "application/json"},
		{`{"name":"` + strings.Repeat("a", 600) + `"}`, "application/json"},
		{`{"name":"Ada"}`, "text/plain"},
		{`{"name":"Ada"}`, "application/problem+json; charset=utf-8"},
		{`{"name":"Ada"}`, "application/json; ="},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ct)
	}
	const limit = 512
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/things", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ct)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
		var v decodeTarget
		err := decodeJSON(r, &v)
		if err == nil {
			if !json.Valid(body) || !utf8.Valid(body) {
				t.Fatalf("decodeJSON accepted %q, which is not valid UTF-8 JSON", body)
			}
			if len(body) > limit {
				t.Fatalf("decodeJSON accepted %d bytes over a %d-byte limit", len(body), limit)
			}
			if ct != "" {
				mt, _, perr := mime.ParseMediaType(ct)
				if perr != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
					t.Fatalf("decodeJSON accepted Content-Type %q", ct)
				}
			}
			return
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) {
			t.Fatalf("decodeJSON(%q) = %T %v, want *apperr.Error", body, err, err)
		}
		if ae.Kind != apperr.Invalid && ae.Kind != apperr.TooLarge {
			t.Fatalf("decodeJSON(%q) Kind = %v, want Invalid or TooLarge", body, ae.Kind)
		}
		if ae.Kind == apperr.TooLarge && len(body) <= limit {
			t.Fatalf("decodeJSON(%d bytes) = TooLarge under a %d-byte limit", len(body), limit)
		}
		if len(ae.Fields) == 0 {
			t.Fatalf("decodeJSON(%q) = %v with no field errors", body, err)
		}
		for _, fe := range ae.Fields {
			if fe.Field == "" || fe.Message == "" {
				t.Fatalf("decodeJSON(%q) field error %+v lacks a field or message", body, fe)
			}
		}
	})
}

func TestPathIDRejectsNonUUIDIdsNamingTheParam(t *testing.T) {
	t.Parallel()
	const valid = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		name, id string
		wantOK   bool
	}{
		{"lower-case uuid", valid, true},
		{"upper-case uuid", strings.ToUpper(valid), true},
		{"empty", "", false},
		{"number", "42", false},
		{"word", "me", false},
		{"uuid without dashes", strings.ReplaceAll(valid, "-", ""), false},
		{"uuid in braces", "{" + valid + "}", false},
		{"urn uuid", "urn:uuid:" + valid, false},
		{"uuid with a suffix", valid + "x", false},
		{"uuid missing a character", valid[:35], false},
		{"36 characters of non-hex", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", false},
		{"dashes in the wrong places", "0f8fad5bd-9cb-469f-a165-70867728950e", false},
		{"sql injection", "' OR '1'='1' --------------------------", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/v1/keys/x", nil)
			r.SetPathValue("keyID", tt.id)
			got, err := pathID(r, "keyID")
			if tt.wantOK {
				if err != nil || got != tt.id {
					t.Errorf("pathID(%q) = %q, %v; want %q, nil", tt.id, got, err, tt.id)
				}
				return
			}
			if err == nil {
				t.Fatalf("pathID(%q) = %q, nil; want an error", tt.id, got)
			}
			if got != "" {
				t.Errorf("pathID(%q) returned %q alongside an error", tt.id, got)
			}
			kind, fields := decodeFieldNames(t, err)
			if kind != apperr.Invalid || !cmp.Equal(fields, []string{"keyID"}) {
				t.Errorf("pathID(%q) error kind %v fields %v, want Invalid naming keyID", tt.id, kind, fields)
			}
		})
	}
}
