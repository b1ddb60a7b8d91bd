package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// httpMethods are the keys of an OpenAPI path item that are operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIDoc parses the embedded document as generic JSON.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// documentedOperations lists the document's operations as "METHOD /path",
// the shape of a ServeMux pattern.
func documentedOperations(t *testing.T, doc map[string]any) []string {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal(`openapi.json has no "paths" object`)
	}
	var ops []string
	for path, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for key := range item {
			if slices.Contains(httpMethods, key) {
				ops = append(ops, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// registeredOperations lists the server's routes as "METHOD /path". A zero
// Server is enough: the handlers are method values that are never called.
func registeredOperations(t *testing.T) []string {
	t.Helper()
	var ops []string
	for _, rt := range (&Server{}).routeTable() {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok {
			t.Fatalf("route %q has no method: every route must name one", rt.Pattern)
		}
		// A trailing "{name...}" wildcard is "{name}" in OpenAPI.
		path = strings.ReplaceAll(path, "...}", "}")
		ops = append(ops, method+" "+path)
	}
	slices.Sort(ops)
	return ops
}

func TestOpenAPIDocumentsEveryRegisteredRoute(t *testing.T) {
	documented := documentedOperations(t, openAPIDoc(t))
	for _, op := range registeredOperations(t) {
		if !slices.Contains(documented, op) {
			t.Errorf("route %q is registered but not in openapi.json", op)
		}
	}
}

func TestOpenAPIDocumentsNoUnregisteredRoute(t *testing.T) {
	registered := registeredOperations(t)
	for _, op := range documentedOperations(t, openAPIDoc(t)) {
		if !slices.Contains(registered, op) {
			t.Errorf("openapi.json documents %q, which is not a registered route", op)
		}
	}
}

func TestOpenAPIIsServedAsJSONWithVersion31(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil)
	if err := (&Server{}).openapi(rec, req); err != nil {
		t.Fatalf("openapi handler: %v", err)
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the body is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf(`"openapi" = %q, want 3.1.x`, doc.OpenAPI)
	}
}

func TestOpenAPIReferencesResolveToExistingComponents(t *testing.T) {
	doc := openAPIDoc(t)
	n := 0
	walkRefs(doc, "#", func(at, ref string) {
		n++
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("%s: $ref %q does not point into #/components", at, ref)
			return
		}
		if _, ok := resolvePointer(doc, strings.TrimPrefix(ref, "#")); !ok {
			t.Errorf("%s: $ref %q resolves to nothing", at, ref)
		}
	})
	if n == 0 {
		t.Error("openapi.json has no $ref at all: expected shared components such as Problem")
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIOperationsDeclareTheirPathParametersAndUniqueIDs(t *testing.T) {
	doc := openAPIDoc(t)
	paths, _ := doc["paths"].(map[string]any)
	seen := map[string]string{}
	for path, item := range paths {
		item, _ := item.(map[string]any)
		var want []string
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		for method, op := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			op, _ := op.(map[string]any)
			at := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", at)
			} else if prev, dup := seen[id]; dup {
				t.Errorf("%s and %s share the operationId %q", prev, at, id)
			} else {
				seen[id] = at
			}
			if rs, _ := op["responses"].(map[string]any); len(rs) == 0 {
				t.Errorf("%s documents no response", at)
			}
			declared := map[string]bool{}
			for _, params := range []any{item["parameters"], op["parameters"]} {
				list, _ := params.([]any)
				for _, p := range list {
					p, _ := p.(map[string]any)
					if ref, ok := p["$ref"].(string); ok {
						r, _ := resolvePointer(doc, strings.TrimPrefix(ref, "#"))
						p, _ = r.(map[string]any)
					}
					if p["in"] == "path" {
						name, _ := p["name"].(string)
						declared[name] = true
					}
				}
			}
			for _, name := range want {
				if !declared[name] {
					t.Errorf("%s does not declare its path parameter %q", at, name)
				}
			}
		}
	}
}

// walkRefs calls fn for every "$ref" string in v, with its location.
func walkRefs(v any, at string, fn func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if k == "$ref" {
				if s, ok := c.(string); ok {
					fn(at, s)
					continue
				}
			}
			walkRefs(c, at+"/"+k, fn)
		}
	case []any:
		for i, c := range v {
			walkRefs(c, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// resolvePointer follows a JSON Pointer (RFC 6901) such as
// "/components/schemas/Problem" from root.
func resolvePointer(root any, ptr string) (any, bool) {
	if ptr == "" {
		return root, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	cur := root
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}
