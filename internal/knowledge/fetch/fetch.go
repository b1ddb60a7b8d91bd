// Package fetch gets web pages on behalf of tenants without letting them
// reach our own network (SSRF): every name is resolved here, every address
// it resolves to is vetted, and the connection goes to the vetted address,
// so a DNS answer that changes between check and connect changes nothing.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBytes     = 10 << 20
	DefaultTimeout      = 20 * time.Second
	DefaultMaxRedirects = 5
	DefaultUserAgent    = "metachat-fetcher/1"
)

// Options configures a Fetcher. Zero fields take the defaults above.
type Options struct {
	// Allow opens otherwise-blocked ranges, e.g. 127.0.0.0/8 in tests or an
	// intranet an operator deliberately wants to import from.
	Allow []netip.Prefix
	// MaxBytes caps a response body; a larger body fails with ErrTooLarge.
	MaxBytes int64
	// Timeout bounds a whole Get: connecting, redirects and reading the body.
	Timeout time.Duration
	// MaxRedirects caps how many redirects one Get follows; negative means
	// none are followed.
	MaxRedirects int
	UserAgent    string
	// Resolver turns names into addresses; nil means net.DefaultResolver.
	Resolver Resolver
}

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var (
	// ErrBlocked: the URL's host is, or resolves to, an address tenants may
	// not reach (loopback, private, link-local, metadata, …).
	ErrBlocked = errors.New("address not allowed")
	// ErrTooLarge: the body is bigger than Options.MaxBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrBadURL: not an absolute http(s) URL with a host and no userinfo.
	ErrBadURL = errors.New("invalid URL")
	// ErrStatus: the final response was not 2xx; the message carries the status.
	ErrStatus = errors.New("unexpected HTTP status")
	// ErrTooManyRedirects: more than Options.MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
)

// Page is one fetched document.
type Page struct {
	URL         string // final URL, after redirects
	ContentType string // as sent by the server; may be empty
	Body        []byte
}

// Fetcher gets pages under the SSRF policy. It is safe for concurrent use.
type Fetcher struct {
	allow        []netip.Prefix
	maxBytes     int64
	timeout      time.Duration
	maxRedirects int
	userAgent    string
	resolver     Resolver

	transport *http.Transport
	client    *http.Client
	// dial connects to an address that has already been vetted. It is a
	// field so tests can see exactly which addresses were dialled.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// New returns a Fetcher for opt.
func New(opt Options) *Fetcher {
	f := &Fetcher{
		allow:        append([]netip.Prefix(nil), opt.Allow...),
		maxBytes:     opt.MaxBytes,
		timeout:      opt.Timeout,
		maxRedirects: opt.MaxRedirects,
		userAgent:    opt.UserAgent,
		resolver:     opt.Resolver,
	}
	if f.maxBytes <= 0 {
		f.maxBytes = DefaultMaxBytes
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	switch {
	case f.maxRedirects == 0:
		f.maxRedirects = DefaultMaxRedirects
	case f.maxRedirects < 0:
		f.maxRedirects = 0
	}
	if f.userAgent == "" {
		f.userAgent = DefaultUserAgent
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		// Second line of defence: whatever path led here, the socket is
		// refused before connect if its remote address is blocked.
		Control: f.control,
	}
	f.dial = dialer.DialContext
	f.transport = &http.Transport{
		// Never a proxy from the environment: a proxy would do the
		// resolving and connecting, bypassing every check here.
		Proxy:                  nil,
		DialContext:            f.dialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns HTTP/2 off unless asked
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	f.client = &http.Client{Transport: f.transport, CheckRedirect: f.checkRedirect}
	return f
}

// Get fetches rawURL and returns its body when the final status is 2xx.
func (f *Fetcher) Get(ctx context.Context, rawURL string) (Page, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Page{}, fmt.Errorf("fetch %s: %w: %v", rawURL, ErrBadURL, err)
	}
	if err := f.checkURL(u); err != nil {
		return Page{}, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	tctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Page{}, fmt.Errorf("fetch %s: %w: %v", rawURL, ErrBadURL, err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept", "text/html, application/xhtml+xml, text/plain;q=0.9, application/xml;q=0.8, */*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		return Page{}, f.describe(rawURL, req.URL.String(), ctx, tctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Page{}, fmt.Errorf("fetch %s: %w %s", rawURL, ErrStatus, resp.Status)
	}
	if resp.ContentLength > f.maxBytes {
		// Refuse before reading: no point spending the bandwidth.
		return Page{}, fmt.Errorf("fetch %s: %w: Content-Length %d exceeds the limit of %d bytes", rawURL, ErrTooLarge, resp.ContentLength, f.maxBytes)
	}
	// One byte over the limit is enough to know the body is too large; the
	// Content-Length may be absent or wrong, so the limit holds while reading.
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return Page{}, f.describe(rawURL, req.URL.String(), ctx, tctx, err)
	}
	if int64(len(body)) > f.maxBytes {
		return Page{}, fmt.Errorf("fetch %s: %w: body exceeds the limit of %d bytes", rawURL, ErrTooLarge, f.maxBytes)
	}
	return Page{URL: resp.Request.URL.String(), ContentType: resp.Header.Get("Content-Type"), Body: body}, nil
}

// redirectError marks errors from checkRedirect, which already name the
// redirect target, so describe does not name it twice.
type redirectError struct {
	to  string
	err error
}

func (e *redirectError) Error() string { return fmt.Sprintf("redirect to %s: %v", e.to, e.err) }
func (e *redirectError) Unwrap() error { return e.err }

// describe turns a client error into "fetch URL: what went wrong", naming
// the redirect target when the failure happened after a redirect and calling
// our own deadline a timeout rather than a bare context error.
func (f *Fetcher) describe(rawURL, reqURL string, parent, tctx context.Context, err error) error {
	if parent.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("fetch %s: timed out after %s: %w", rawURL, f.timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the method and URL, which our prefix already says.
		err = ue.Err
		var re *redirectError
		if ue.URL != reqURL && !errors.As(err, &re) {
			err = &redirectError{to: ue.URL, err: err}
		}
	}
	return fmt.Errorf("fetch %s: %w", rawURL, err)
}

// checkRedirect re-applies the URL checks to every hop; the address behind
// a name is checked again when the hop is dialled.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.maxRedirects {
		return &redirectError{to: req.URL.String(), err: fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, f.maxRedirects)}
	}
	if err := f.checkURL(req.URL); err != nil {
		return &redirectError{to: req.URL.String(), err: err}
	}
	return nil
}

// dialContext is the Transport's only way out. It resolves the host itself,
// refuses if any address is blocked (a name with one public and one private
// address is refused, since we cannot know which one a retry would use), and
// dials the vetted addresses by IP, so no second lookup happens. TLS still
// uses the URL's host name for SNI and certificate checks, since the
// Transport does the handshake over the connection returned here.
func (f *Fetcher) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: bad port %q", ErrBadURL, portStr)
	}
	// The Transport may have rewritten the host (IDNA turns full-width
	// digits into ASCII ones), so the host is classified again here.
	t, err := parseHost(host)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if t.addr.IsValid() {
		if err := f.checkLiteral(t); err != nil {
			return nil, err
		}
		addrs = []netip.Addr{t.addr}
	} else {
		found, err := f.resolver.LookupNetIP(ctx, "ip", t.host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", t.host, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("resolve %s: no addresses", t.host)
		}
		for _, a := range found {
			if r := f.refusal(a); r != "" {
				return nil, &blockedError{host: t.host, addr: a.Unmap().WithZone(""), resolved: true, reason: r}
			}
		}
		addrs = found
	}
	var errs []error
	for _, a := range addrs {
		conn, err := f.dial(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connect to %s: %w", host, errors.Join(errs...))
}

// control runs on every socket just before it connects and checks the
// address actually being connected to.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check remote address %q: %v", ErrBlocked, address, err)
	}
	if r := f.refusal(ap.Addr()); r != "" {
		return &blockedError{addr: ap.Addr().Unmap().WithZone(""), reason: r}
	}
	return nil
}
