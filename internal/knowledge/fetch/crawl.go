package fetch

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"golang.org/x/net/html"
)

// CrawlResult is what a crawl found. Pages are in the order they were
// fetched; Errors holds the pages (and nested sitemaps) that failed.
type CrawlResult struct {
	Pages  []Page
	Errors []PageError
}

// PageError is one URL that failed during a crawl.
type PageError struct {
	URL string
	Err error
}

// maxSitemapDepth is how deep sitemap indexes are followed: the start is at
// depth 0, so an index may point at an index that points at sitemaps.
const maxSitemapDepth = 2

// skippedExt lists extensions of files that are never HTML or text. Crawl
// would discard them after downloading, so they are not downloaded at all.
var skippedExt = map[string]bool{}

func init() {
	for _, e := range strings.Fields(`
		.png .jpg .jpeg .gif .webp .svg .ico .bmp .tif .tiff .avif .heic
		.css .js .mjs .map .wasm
		.zip .gz .tgz .tar .bz2 .xz .7z .rar .zst
		.exe .dmg .pkg .deb .rpm .msi .apk .iso .bin .jar
		.mp3 .mp4 .m4a .m4v .wav .ogg .oga .webm .mov .avi .mkv .flac
		.woff .woff2 .ttf .otf .eot
		.pdf .doc .docx .xls .xlsx .ppt .pptx .odt .ods .odp`) {
		skippedExt[e] = true
	}
}

// Crawl collects up to maxPages HTML or text pages starting at start.
//
// When start's path ends in .xml, or its body is a sitemap (<urlset>) or a
// sitemap index (<sitemapindex>, followed to depth 2), the pages are the
// sitemap's <loc> URLs. Otherwise links (<a href>) are followed breadth-first.
// Either way only URLs on start's host (or the host start redirected to)
// are fetched, each normalised URL at most once, and links to files that
// are obviously not documents (images, scripts, archives, …) are not
// fetched. Pages of other content types are skipped silently.
//
// A failing page is recorded in Errors and the crawl goes on. Because failed
// and skipped URLs do not count towards maxPages, the number of requests is
// capped at 3*maxPages+10 so a site full of broken or binary links cannot
// keep a crawl going. The error is non-nil when the crawl could not start
// (bad start URL, start page failed or is not a document) or when ctx ended;
// in the latter case the pages found so far are returned with it.
func (f *Fetcher) Crawl(ctx context.Context, start string, maxPages int) (CrawlResult, error) {
	if maxPages <= 0 {
		return CrawlResult{}, fmt.Errorf("crawl %s: maxPages must be positive, got %d", start, maxPages)
	}
	startURL, err := url.Parse(start)
	if err != nil {
		return CrawlResult{}, fmt.Errorf("crawl %s: %w: %v", start, ErrBadURL, err)
	}
	if err := f.checkURL(startURL); err != nil {
		return CrawlResult{}, fmt.Errorf("crawl %s: %w", start, err)
	}
	c := &crawler{
		f:        f,
		maxPages: maxPages,
		budget:   3*maxPages + 10,
		hosts:    map[string]bool{hostKey(startURL): true},
		seen:     map[string]bool{normalize(startURL): true},
		fetched:  map[string]bool{normalize(startURL): true},
	}
	c.budget--
	first, err := f.Get(ctx, start)
	if err != nil {
		return c.res, fmt.Errorf("crawl %s: %w", start, err)
	}
	finalURL, err := url.Parse(first.URL)
	if err != nil {
		return c.res, fmt.Errorf("crawl %s: final URL %q: %w", start, first.URL, err)
	}
	// Redirects such as example.com → www.example.com move the whole site,
	// so the host the start landed on counts as the same site.
	c.hosts[hostKey(finalURL)] = true
	c.seen[normalize(finalURL)] = true
	c.fetched[normalize(finalURL)] = true

	root := rootElement(first.Body)
	if strings.HasSuffix(strings.ToLower(startURL.Path), ".xml") || root == "urlset" || root == "sitemapindex" {
		if root != "urlset" && root != "sitemapindex" {
			return c.res, fmt.Errorf("crawl %s: not a sitemap (root element %q)", start, root)
		}
		c.seenMaps = map[string]bool{normalize(finalURL): true}
		if err := c.walkSitemap(ctx, first, 0); err != nil {
			return c.res, fmt.Errorf("crawl %s: %w", start, err)
		}
		return c.res, nil
	}

	if !isDocument(first) {
		return c.res, fmt.Errorf("crawl %s: start page is %q, not HTML or text", start, first.ContentType)
	}
	if err := c.breadthFirst(ctx, first, finalURL); err != nil {
		return c.res, fmt.Errorf("crawl %s: %w", start, err)
	}
	return c.res, nil
}

type crawler struct {
	f        *Fetcher
	maxPages int
	budget   int             // requests left
	hosts    map[string]bool // hostKey of the site's hosts
	seen     map[string]bool // normalised page URLs already queued or fetched
	fetched  map[string]bool // normalised URLs requested or landed on
	seenMaps map[string]bool // normalised sitemap URLs already fetched
	res      CrawlResult
}

func (c *crawler) done() bool { return len(c.res.Pages) >= c.maxPages || c.budget <= 0 }

// breadthFirst follows same-site links level by level from first.
func (c *crawler) breadthFirst(ctx context.Context, first Page, firstURL *url.URL) error {
	c.res.Pages = append(c.res.Pages, first)
	queue := c.enqueueLinks(nil, first, firstURL)
	for len(queue) > 0 && !c.done() {
		if err := ctx.Err(); err != nil {
			return err
		}
		next := queue[0]
		queue = queue[1:]
		page, final, err := c.visit(ctx, next)
		if err != nil {
			return err
		}
		if final != nil {
			queue = c.enqueueLinks(queue, page, final)
		}
	}
	return ctx.Err()
}

// enqueueLinks appends page's unseen same-site links to queue.
func (c *crawler) enqueueLinks(queue []*url.URL, page Page, pageURL *url.URL) []*url.URL {
	if !isHTML(page) {
		return queue
	}
	for _, link := range extractLinks(pageURL, page.Body) {
		if !c.hosts[hostKey(link)] || skippedExt[strings.ToLower(path.Ext(link.Path))] {
			continue
		}
		key := normalize(link)
		if c.seen[key] {
			continue
		}
		c.seen[key] = true
		queue = append(queue, link)
	}
	return queue
}

// visit fetches one candidate page and keeps it if it is a new same-site
// document. It returns the page's final URL when kept, and an error only
// when ctx ended, since other failures are recorded and the crawl goes on.
func (c *crawler) visit(ctx context.Context, u *url.URL) (Page, *url.URL, error) {
	if c.fetched[normalize(u)] {
		return Page{}, nil, nil // an earlier redirect already landed here
	}
	c.fetched[normalize(u)] = true
	c.budget--
	rawURL := u.String()
	page, err := c.f.Get(ctx, rawURL)
	if err != nil {
		if ctx.Err() != nil {
			return Page{}, nil, ctx.Err()
		}
		c.res.Errors = append(c.res.Errors, PageError{URL: rawURL, Err: err})
		return Page{}, nil, nil
	}
	final, err := url.Parse(page.URL)
	if err != nil {
		c.res.Errors = append(c.res.Errors, PageError{URL: rawURL, Err: fmt.Errorf("final URL %q: %w", page.URL, err)})
		return Page{}, nil, nil
	}
	if !c.hosts[hostKey(final)] {
		return Page{}, nil, nil // redirected off the site
	}
	if key := normalize(final); key != normalize(u) {
		// A redirect may land on a page we already have; if it lands on one
		// that is only queued, this fetch stands in for the queued one.
		if c.fetched[key] {
			return Page{}, nil, nil
		}
		c.fetched[key] = true
		c.seen[key] = true
	}
	if !isDocument(page) {
		return Page{}, nil, nil
	}
	c.res.Pages = append(c.res.Pages, page)
	return page, final, nil
}

// sitemapXML covers both <urlset> and <sitemapindex>; field tags carry no
// namespace so any sitemap namespace (or none) matches.
type sitemapXML struct {
	XMLName  xml.Name
	URLs     []sitemapLoc `xml:"url"`
	Sitemaps []sitemapLoc `xml:"sitemap"`
}

type sitemapLoc struct {
	Loc string `xml:"loc"`
}

// walkSitemap visits a sitemap's pages, or an index's sitemaps, lazily so a
// huge sitemap costs no more requests than maxPages needs.
func (c *crawler) walkSitemap(ctx context.Context, page Page, depth int) error {
	var doc sitemapXML
	if err := xml.Unmarshal(page.Body, &doc); err != nil {
		if depth == 0 {
			return fmt.Errorf("parse sitemap: %w", err)
		}
		c.res.Errors = append(c.res.Errors, PageError{URL: page.URL, Err: fmt.Errorf("parse sitemap: %w", err)})
		return nil
	}
	switch doc.XMLName.Local {
	case "urlset":
		for _, l := range doc.URLs {
			if c.done() {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			u, ok := c.siteURL(page.URL, l.Loc)
			if !ok || skippedExt[strings.ToLower(path.Ext(u.Path))] {
				continue
			}
			key := normalize(u)
			if c.seen[key] {
				continue
			}
			c.seen[key] = true
			if _, _, err := c.visit(ctx, u); err != nil {
				return err
			}
		}
	case "sitemapindex":
		for _, l := range doc.Sitemaps {
			if c.done() {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			u, ok := c.siteURL(page.URL, l.Loc)
			if !ok {
				continue
			}
			key := normalize(u)
			if c.seenMaps[key] {
				continue
			}
			c.seenMaps[key] = true
			if depth+1 > maxSitemapDepth {
				c.res.Errors = append(c.res.Errors, PageError{URL: u.String(), Err: fmt.Errorf("sitemap not followed: indexes nest deeper than %d levels", maxSitemapDepth)})
				continue
			}
			c.budget--
			nested, err := c.f.Get(ctx, u.String())
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.res.Errors = append(c.res.Errors, PageError{URL: u.String(), Err: err})
				continue
			}
			if err := c.walkSitemap(ctx, nested, depth+1); err != nil {
				return err
			}
		}
	default:
		err := fmt.Errorf("not a sitemap (root element %q)", doc.XMLName.Local)
		if depth == 0 {
			return err
		}
		c.res.Errors = append(c.res.Errors, PageError{URL: page.URL, Err: err})
	}
	return nil
}

// siteURL resolves a sitemap <loc> and keeps it only when it is an http(s)
// URL on the crawled site.
func (c *crawler) siteURL(base, loc string) (*url.URL, bool) {
	b, err := url.Parse(base)
	if err != nil {
		return nil, false
	}
	ref, err := url.Parse(strings.TrimSpace(loc))
	if err != nil {
		return nil, false
	}
	u := b.ResolveReference(ref)
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return nil, false
	}
	u.Fragment, u.RawFragment = "", ""
	return u, c.hosts[hostKey(u)]
}

// extractLinks returns the http(s) targets of <a href> in an HTML body,
// resolved against the page (or its <base href>), without fragments.
func extractLinks(pageURL *url.URL, body []byte) []*url.URL {
	base := pageURL
	sawBase := false
	var links []*url.URL
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return links
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if (tag != "a" && tag != "base") || !hasAttr {
				continue
			}
			href, ok := attr(z, "href")
			if !ok {
				continue
			}
			ref, err := url.Parse(strings.TrimSpace(href))
			if err != nil {
				continue
			}
			u := base.ResolveReference(ref)
			if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
				continue
			}
			u.Fragment, u.RawFragment = "", ""
			if tag == "base" {
				// Only the first <base> counts, as in browsers.
				if !sawBase {
					base, sawBase = u, true
				}
				continue
			}
			links = append(links, u)
		}
	}
}

func attr(z *html.Tokenizer, want string) (string, bool) {
	for {
		k, v, more := z.TagAttr()
		if string(k) == want {
			return string(v), true
		}
		if !more {
			return "", false
		}
	}
}

// rootElement returns the local name of an XML body's first element, or ""
// when the body is not XML. HTML usually fails or yields "html".
func rootElement(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local
		}
	}
}

// mediaType returns a page's media type, sniffing the body when the server
// sent none.
func mediaType(p Page) string {
	ct := p.ContentType
	if ct == "" {
		ct = http.DetectContentType(p.Body)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

func isHTML(p Page) bool {
	mt := mediaType(p)
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// isDocument reports whether a page is HTML or text worth importing.
// Stylesheets and scripts are text/* but not documents.
func isDocument(p Page) bool {
	switch mt := mediaType(p); mt {
	case "text/html", "application/xhtml+xml":
		return true
	case "text/css", "text/javascript", "text/ecmascript":
		return false
	default:
		return strings.HasPrefix(mt, "text/")
	}
}

// hostKey is the host part used for same-site checks: lower case, no
// trailing dot, no default port.
func hostKey(u *url.URL) string {
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	p := u.Port()
	switch {
	case p == "",
		p == "80" && strings.EqualFold(u.Scheme, "http"),
		p == "443" && strings.EqualFold(u.Scheme, "https"):
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return net.JoinHostPort(h, p)
}

// normalize is the dedupe key of a URL: scheme and host lower-cased, default
// port and fragment dropped, empty path as "/".
func normalize(u *url.URL) string {
	n := *u
	n.Scheme = strings.ToLower(n.Scheme)
	n.Host = hostKey(u)
	n.User = nil
	n.Fragment, n.RawFragment = "", ""
	if n.Path == "" {
		n.Path, n.RawPath = "/", ""
	}
	return n.String()
}
