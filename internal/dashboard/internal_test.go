package dashboard

import (
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCataloguesComplete: every language has exactly English's keys, the
// same fmt verbs, and every key a template or the Go code names exists.
func TestCataloguesComplete(t *testing.T) {
	c, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	en := c["en"]
	verbs := regexp.MustCompile(`%[a-z]`)
	for _, l := range languages[1:] {
		for k, v := range en {
			tr, ok := c[l.Code][k]
			if !ok {
				t.Errorf("%s.json lacks %q", l.Code, k)
				continue
			}
			if !slices.Equal(verbs.FindAllString(v, -1), verbs.FindAllString(tr, -1)) {
				t.Errorf("%s.json %q has verbs %q, English %q", l.Code, k, tr, v)
			}
		}
		for k := range c[l.Code] {
			if _, ok := en[k]; !ok {
				t.Errorf("%s.json has %q, which English lacks", l.Code, k)
			}
		}
	}
	used := map[string]bool{}
	files, _ := fs.Glob(templateFS, "templates/*.html")
	lit := regexp.MustCompile(`\bt "([a-z0-9_.]+)"`)
	for _, f := range files {
		b, _ := fs.ReadFile(templateFS, f)
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, n := range nav {
		used[n.Label] = true
	}
	for _, s := range setupSteps {
		used[s.Title], used[s.Text], used[s.Action] = true, true, true
	}
	for _, r := range []string{"owner", "admin", "agent", "viewer"} {
		used["role."+r] = true
	}
	for _, s := range []string{"read", "write", "admin"} {
		used["scope."+s] = true
	}
	goKey := regexp.MustCompile(`"((?:login|flash|error|keys|account|form|time|nav|inbox|knowledge|assistants|channels|team|audit|overview|setup|signup|reset|invite)\.[a-z_.]+)"`)
	sources, err := fs.Glob(sourceFS{}, "pages_*.go")
	if err != nil {
		t.Fatal(err)
	}
	sources = slices.DeleteFunc(sources, func(f string) bool { return strings.HasSuffix(f, "_test.go") })
	for _, f := range append(sources, "request.go") {
		b, err := fs.ReadFile(sourceFS{}, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(used)) {
		if _, ok := en[k]; !ok {
			t.Errorf("%q is used but not in en.json", k)
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                        "en",
		"hr-HR,hr;q=0.9,en;q=0.8": "hr",
		"fr, de;q=0.3, en;q=0.2":  "de",
		"en;q=0.1, de;q=0":        "en",
		"*":                       "en",
		"DE-ch":                   "de",
	} {
		if got := fromAcceptLanguage(header); got != want {
			t.Errorf("fromAcceptLanguage(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestLocalNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/app/",
		"/app/keys?cursor=abc":  "/app/keys?cursor=abc",
		"/app":                  "/app",
		"/login":                "/login",
		"//evil.test/app/":      "/app/",
		"https://evil.test/app": "/app/",
		"/\\evil.test":          "/app/",
		"/api/v1/tenant":        "/app/",
		"/app/../api":           "/app/",
		"/app/%2e%2e/api":       "/app/",
		"javascript:alert(1)":   "/app/",
		"/app/x\r\nSet-Cookie:": "/app/",
	} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// sourceFS reads the package's own source files (tests run in its directory).
type sourceFS struct{}

func (sourceFS) Open(name string) (fs.File, error) { return os.Open(name) }
