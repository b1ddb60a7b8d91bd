package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// resp is one canned response of a fake site; in a body {{base}} becomes
// the site's own http://public.example:PORT, {{other}} another host on the
// same server and {{port}} the port.
type resp struct {
	status   int
	ctype    string
	body     string
	location string
}

// site serves canned pages and records every request as "host path".
type site struct {
	*countingServer
	mu       sync.Mutex
	requests []string
}

func startSite(t *testing.T, pages map[string]resp) *site {
	t.Helper()
	s := &site{}
	s.countingServer = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Host+" "+r.URL.RequestURI())
		s.mu.Unlock()
		p, ok := pages[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body := strings.NewReplacer("{{base}}", s.base(), "{{other}}", s.named("other.example", ""), "{{port}}", s.port()).Replace(p.body)
		if p.location != "" {
			http.Redirect(w, r, strings.ReplaceAll(p.location, "{{other}}", s.named("other.example", "")), p.status)
			return
		}
		if p.ctype != "" {
			w.Header().Set("Content-Type", p.ctype)
		} else {
			w.Header()["Content-Type"] = nil // stop net/http from sniffing one
		}
		if p.status != 0 {
			w.WriteHeader(p.status)
		}
		io.WriteString(w, body)
	}))
	return s
}

func (s *site) base() string { return s.named("public.example", "") }

func (s *site) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// paths returns the page URLs of res relative to base.
func paths(base string, pages []Page) []string {
	var out []string
	for _, p := range pages {
		out = append(out, strings.TrimPrefix(p.URL, base))
	}
	return out
}

const htmlType = "text/html; charset=utf-8"

// linkSite is a small site: / links to a, b, a duplicate of a, other hosts,
// assets, a broken page, a binary page and non-http schemes.
var linkSite = map[string]resp{
	"/": {ctype: htmlType, body: `<html><body>
		<a href="/a">A</a> <a href="b">B</a> <a href="/a#top">A again</a>
		<a href="{{base}}/a">A absolute</a> <a href="http://PUBLIC.example:{{port}}/a">A upper</a>
		<a href="{{other}}/x">elsewhere</a> <a href="/logo.png">logo</a> <a href="/style.css">css</a>
		<a href="mailto:a@b.c">mail</a> <a href="javascript:alert(1)">js</a> <a href="/missing">gone</a>
		<a href="/blob">blob</a> <a href="/moved">moved</a> <a href="/away">away</a>
		<a>no href</a></body></html>`},
	"/a": {ctype: htmlType, body: `<a href="/c">C</a><a href="/b">B</a><a href="/">home</a>`},
	"/b": {ctype: "text/plain", body: "plain B"},
	// No Content-Type: the crawler sniffs HTML and still follows its links.
	"/c":     {body: `<html><head><base href="/sub/"></head><a href="d">D</a></html>`},
	"/sub/d": {ctype: "text/markdown", body: "# D"},
	"/blob":  {ctype: "application/octet-stream", body: "\x00\x01"},
	"/moved": {status: http.StatusMovedPermanently, location: "/c"},
	"/away":  {status: http.StatusFound, location: "{{other}}/x"},
	"/x":     {ctype: htmlType, body: "another site"},
}

func TestCrawlFollowsSameHostLinksBreadthFirstAndDedupes(t *testing.T) {
	t.Parallel()
	s := startSite(t, linkSite)
	f, _ := newTestFetcher(t, Options{Allow: loopback})
	res, err := f.Crawl(context.Background(), s.base()+"/", 50)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	// BFS: / then a, b, missing, blob, moved (→ /c), away (off-site), then
	// a's and c's links.
	want := []string{"/", "/a", "/b", "/c", "/sub/d"}
	if got := paths(s.base(), res.Pages); !reflect.DeepEqual(got, want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}
	if ct := res.Pages[3].ContentType; ct != "" {
		t.Errorf("/c came with Content-Type %q; the test wants none, to exercise sniffing", ct)
	}
	if len(res.Errors) != 1 || !strings.HasSuffix(res.Errors[0].URL, "/missing") || !errors.Is(res.Errors[0].Err, ErrStatus) {
		t.Errorf("errors = %v, want one ErrStatus for /missing", res.Errors)
	}
	seen := map[string]int{}
	for _, r := range s.requested() {
		seen[r]++
		host, path, _ := strings.Cut(r, " ")
		if strings.HasPrefix(host, "other.example") && path != "/x" {
			t.Errorf("requested %s on another host", r)
		}
		if path == "/logo.png" || path == "/style.css" {
			t.Errorf("requested the asset %s", path)
		}
	}
	for r, n := range seen {
		if n > 1 {
			t.Errorf("requested %s %d times", r, n)
		}
	}
	// /away redirects to other.example/x: the fetch follows, the page is dropped.
	for _, p := range res.Pages {
		if strings.Contains(p.URL, "other.example") {
			t.Errorf("kept off-site page %s", p.URL)
		}
	}
}

func TestCrawlStopsAtMaxPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max  int
		want []string
	}{
		{1, []string{"/"}},
		{2, []string{"/", "/a"}},
		{3, []string{"/", "/a", "/b"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			t.Parallel()
			s := startSite(t, linkSite)
			f, _ := newTestFetcher(t, Options{Allow: loopback})
			res, err := f.Crawl(context.Background(), s.base()+"/", tt.max)
			if err != nil {
				t.Fatalf("Crawl: %v", err)
			}
			if got := paths(s.base(), res.Pages); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pages = %v, want %v", got, tt.want)
			}
			if n := len(s.requested()); n != len(tt.want) {
				t.Errorf("made %d requests for %d pages, want no extra requests: %v", n, len(tt.want), s.requested())
			}
		})
	}
}

func TestCrawlReadsTheLocURLsOfASitemap(t *testing.T) {
	t.Parallel()
	urlset := `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{{base}}/p1</loc></url>
  <url><loc> {{base}}/p2 </loc><lastmod>2024-01-01</lastmod></url>
  <url><loc>{{base}}/p1#again</loc></url>
  <url><loc>{{other}}/x</loc></url>
  <url><loc>{{base}}/photo.jpg</loc></url>
  <url><loc>{{base}}/data</loc></url>
  <url><loc>{{base}}/gone</loc></url>
  <url><loc>ftp://public.example/file</loc></url>
  <url><loc>{{base}}/p3</loc></url>
</urlset>`
	pages := map[string]resp{
		"/sitemap.xml": {ctype: "application/xml", body: urlset},
		"/sitemap":     {ctype: "text/xml", body: urlset}, // no .xml: recognised by its body
		"/p1":          {ctype: htmlType, body: `<a href="/not-followed">x</a>`},
		"/p2":          {ctype: "text/plain", body: "two"},
		"/p3":          {ctype: htmlType, body: "three"},
		"/data":        {ctype: "application/json", body: "{}"},
	}
	tests := []struct {
		name, start string
		max         int
		want        []string
	}{
		{"by extension", "/sitemap.xml", 10, []string{"/p1", "/p2", "/p3"}},
		{"by content", "/sitemap", 10, []string{"/p1", "/p2", "/p3"}},
		{"with a page limit", "/sitemap.xml", 2, []string{"/p1", "/p2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startSite(t, pages)
			f, _ := newTestFetcher(t, Options{Allow: loopback})
			res, err := f.Crawl(context.Background(), s.base()+tt.start, tt.max)
			if err != nil {
				t.Fatalf("Crawl: %v", err)
			}
			if got := paths(s.base(), res.Pages); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pages = %v, want %v", got, tt.want)
			}
			for _, r := range s.requested() {
				if strings.Contains(r, "other.example") || strings.Contains(r, "/photo.jpg") || strings.Contains(r, "/not-followed") {
					t.Errorf("requested %s", r)
				}
			}
			if tt.max >= 3 && (len(res.Errors) != 1 || !strings.HasSuffix(res.Errors[0].URL, "/gone")) {
				t.Errorf("errors = %v, want one for /gone", res.Errors)
			}
		})
	}
}

func TestCrawlFollowsSitemapIndexesTwoLevelsDeepAndNoFurther(t *testing.T) {
	t.Parallel()
	index := func(locs ...string) string {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
		for _, l := range locs {
			fmt.Fprintf(&b, "<sitemap><loc>{{base}}%s</loc></sitemap>", l)
		}
		return b.String() + "</sitemapindex>"
	}
	urlset := func(locs ...string) string {
		var b strings.Builder
		b.WriteString(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
		for _, l := range locs {
			fmt.Fprintf(&b, "<url><loc>{{base}}%s</loc></url>", l)
		}
		return b.String() + "</urlset>"
	}
	xml := "application/xml"
	s := startSite(t, map[string]resp{
		"/index.xml":  {ctype: xml, body: index("/level1.xml", "/direct.xml", "/direct.xml", "/broken.xml")},
		"/level1.xml": {ctype: xml, body: index("/level2.xml", "/level2-index.xml")},
		"/level2.xml": {ctype: xml, body: urlset("/deep")},
		// Depth 2 is an index too: its children would be depth 3.
		"/level2-index.xml": {ctype: xml, body: index("/level3.xml")},
		"/level3.xml":       {ctype: xml, body: urlset("/too-deep")},
		"/direct.xml":       {ctype: xml, body: urlset("/p1", "/deep")},
		"/broken.xml":       {ctype: xml, body: "<html>not a sitemap</html>"},
		"/deep":             {ctype: htmlType, body: "deep"},
		"/p1":               {ctype: htmlType, body: "p1"},
		"/too-deep":         {ctype: htmlType, body: "too deep"},
	})
	f, _ := newTestFetcher(t, Options{Allow: loopback})
	res, err := f.Crawl(context.Background(), s.base()+"/index.xml", 10)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	if got, want := paths(s.base(), res.Pages), []string{"/deep", "/p1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	var errURLs []string
	for _, e := range res.Errors {
		errURLs = append(errURLs, strings.TrimPrefix(e.URL, s.base()))
	}
	if want := []string{"/level3.xml", "/broken.xml"}; !reflect.DeepEqual(errURLs, want) {
		t.Errorf("errors for %v, want %v (%v)", errURLs, want, res.Errors)
	}
	for _, r := range s.requested() {
		if strings.Contains(r, "level3") || strings.Contains(r, "too-deep") {
			t.Errorf("requested %s beyond depth 2", r)
		}
	}
}

func TestCrawlFailsWhenItCannotStart(t *testing.T) {
	t.Parallel()
	s := startSite(t, map[string]resp{
		"/feed.xml": {ctype: "application/rss+xml", body: `<rss><channel/></rss>`},
		"/pic":      {ctype: "image/png", body: "\x89PNG"},
		"/ok":       {ctype: htmlType, body: "ok"},
	})
	tests := []struct {
		name, start string
		max         int
		allow       bool
		want        error  // nil: only check the message
		msg         string // in the error
	}{
		{"blocked start", "/ok", 5, false, ErrBlocked, "loopback"},
		{"bad start", "ftp://x/", 5, true, ErrBadURL, "scheme"},
		{"missing start", "/nope", 5, true, ErrStatus, "404"},
		{"xml that is not a sitemap", "/feed.xml", 5, true, nil, `not a sitemap (root element "rss")`},
		{"start that is not a document", "/pic", 5, true, nil, "not HTML or text"},
		{"zero pages", "/ok", 0, true, nil, "maxPages must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt := Options{}
			if tt.allow {
				opt.Allow = loopback
			}
			f, _ := newTestFetcher(t, opt)
			start := tt.start
			if strings.HasPrefix(start, "/") {
				start = s.base() + start
			}
			res, err := f.Crawl(context.Background(), start, tt.max)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Crawl = %v, want an error wrapping %v and saying %q", err, tt.want, tt.msg)
			}
			if len(res.Pages) != 0 {
				t.Errorf("pages = %d, want none", len(res.Pages))
			}
		})
	}
}

func TestCrawlStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &site{}
	s.countingServer = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path)
		s.mu.Unlock()
		w.Header().Set("Content-Type", htmlType)
		if r.URL.Path == "/a" {
			cancel() // the caller gives up while the crawl is under way
		}
		io.WriteString(w, `<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a>`)
	}))
	f, _ := newTestFetcher(t, Options{Allow: loopback})
	res, err := f.Crawl(ctx, s.base()+"/", 10)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Crawl = %v, want context.Canceled", err)
	}
	if len(res.Pages) == 0 || res.Pages[0].URL != s.base()+"/" {
		t.Errorf("pages = %v, want at least the start page", paths(s.base(), res.Pages))
	}
	for _, p := range s.requested() {
		if p == "/b" || p == "/c" {
			t.Errorf("requested %s after the context ended", p)
		}
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors = %v; the cancellation is the crawl's error, not a page's", res.Errors)
	}
}

func TestCrawlBoundsRequestsOnASiteFullOfBrokenLinks(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, `<a href="/broken/%d">x</a>`, i)
	}
	s := startSite(t, map[string]resp{"/": {ctype: htmlType, body: b.String()}})
	f, _ := newTestFetcher(t, Options{Allow: loopback})
	res, err := f.Crawl(context.Background(), s.base()+"/", 5)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	if n, budget := len(s.requested()), 3*5+10; n != budget {
		t.Errorf("made %d requests, want the budget of %d", n, budget)
	}
	if len(res.Pages) != 1 || len(res.Errors) != 3*5+10-1 {
		t.Errorf("pages = %d, errors = %d", len(res.Pages), len(res.Errors))
	}
}

func TestNormalizeAndHostKeyIgnoreCaseDefaultPortsAndFragments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, norm, host string
	}{
		{"HTTP://Example.COM:80/a#x", "http://example.com/a", "example.com"},
		{"https://example.com:443", "https://example.com/", "example.com"},
		{"https://example.com:8443/a?b=1", "https://example.com:8443/a?b=1", "example.com:8443"},
		{"http://example.com.:443/", "http://example.com:443/", "example.com:443"},
		{"http://[2001:db8::1]/", "http://[2001:db8::1]/", "[2001:db8::1]"},
		{"http://[2001:db8::1]:8080/", "http://[2001:db8::1]:8080/", "[2001:db8::1]:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := normalize(u); got != tt.norm {
				t.Errorf("normalize = %q, want %q", got, tt.norm)
			}
			if got := hostKey(u); got != tt.host {
				t.Errorf("hostKey = %q, want %q", got, tt.host)
			}
		})
	}
}

func TestIsDocumentKeepsHTMLAndTextOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ctype, body string
		want        bool
	}{
		{"text/html; charset=utf-8", "", true},
		{"application/xhtml+xml", "", true},
		{"text/plain", "", true},
		{"text/markdown", "", true},
		{"TEXT/HTML", "", true},
		{"text/css", "", false},
		{"text/javascript", "", false},
		{"application/pdf", "", false},
		{"image/png", "", false},
		{"application/json", "", false},
		{"not a type", "", false},
		{"", "<!DOCTYPE html><html></html>", true}, // sniffed
		{"", "\x00\x01\x02binary", false},
	}
	for _, tt := range tests {
		t.Run(tt.ctype+"|"+tt.body, func(t *testing.T) {
			t.Parallel()
			if got := isDocument(Page{ContentType: tt.ctype, Body: []byte(tt.body)}); got != tt.want {
				t.Errorf("isDocument(%q) = %v, want %v", tt.ctype, got, tt.want)
			}
		})
	}
}
