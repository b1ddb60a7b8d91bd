package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGetReturnsTheBodyTypeAndFinalURLOfAnAllowedServer(t *testing.T) {
	t.Parallel()
	var (
		mu             sync.Mutex
		gotUA, gotHost string
	)
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
			return
		}
		mu.Lock()
		gotUA, gotHost = r.UserAgent(), r.Host
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<h1>hello</h1>")
	}))
	tests := []struct {
		name, url, wantURL, wantUA string
		opt                        Options
	}{
		{"literal address", srv.URL + "/new", srv.URL + "/new", DefaultUserAgent, Options{Allow: loopback}},
		{"resolved name", srv.named("public.example", "/new"), srv.named("public.example", "/new"), DefaultUserAgent, Options{Allow: loopback}},
		{"after a redirect", srv.named("public.example", "/old"), srv.named("public.example", "/new"), "ua/2", Options{Allow: loopback, UserAgent: "ua/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newTestFetcher(t, tt.opt)
			p, err := f.Get(context.Background(), tt.url)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if p.URL != tt.wantURL || p.ContentType != "text/html; charset=utf-8" || string(p.Body) != "<h1>hello</h1>" {
				t.Errorf("page = %q, %q, %q", p.URL, p.ContentType, p.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			if gotUA != tt.wantUA {
				t.Errorf("User-Agent = %q, want %q", gotUA, tt.wantUA)
			}
			if want := strings.SplitN(strings.TrimPrefix(tt.wantURL, "http://"), "/", 2)[0]; gotHost != want {
				t.Errorf("Host header = %q, want %q", gotHost, want)
			}
		})
	}
}

func TestGetRefusesTheLoopbackTestServerWithoutAnAllowList(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tests := []struct{ name, url string }{
		{"literal address", srv.URL + "/"},
		{"name resolving to it", srv.named("public.example", "/")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dials := newTestFetcher(t, Options{})
			_, err := f.Get(context.Background(), tt.url)
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("Get = %v, want ErrBlocked", err)
			}
			if !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "loopback") {
				t.Errorf("error %q does not say which address or why", err)
			}
			if d := dials.dialled(); len(d) != 0 {
				t.Errorf("dialled %v, want nothing", d)
			}
		})
	}
	if n := srv.conns.Load(); n != 0 {
		t.Errorf("server saw %d connections, want 0", n)
	}
}

func TestGetRefusesANameWhenAnyOfItsAddressesIsBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		addrs []string
		want  string // in the error
	}{
		{"private 10/8", []string{"10.0.0.1"}, "10.0.0.1, which is a private address"},
		{"private 172.16/12", []string{"172.20.0.1"}, "private"},
		{"private 192.168/16", []string{"192.168.0.10"}, "private"},
		{"cloud metadata", []string{"169.254.169.254"}, "cloud metadata"},
		{"link-local v4", []string{"169.254.10.10"}, "link-local"},
		{"mapped loopback", []string{"::ffff:127.0.0.1"}, "127.0.0.1, which is a loopback address"},
		{"mapped metadata", []string{"::ffff:169.254.169.254"}, "cloud metadata"},
		{"v6 loopback", []string{"::1"}, "loopback"},
		{"unique local v6", []string{"fd00::1"}, "private"},
		{"link-local v6", []string{"fe80::1"}, "link-local"},
		{"carrier-grade NAT", []string{"100.64.0.1"}, "carrier-grade NAT"},
		{"unspecified v4", []string{"0.0.0.0"}, "unspecified"},
		{"unspecified v6", []string{"::"}, "unspecified"},
		{"this network", []string{"0.0.0.1"}, "this network"},
		{"multicast", []string{"224.0.0.251"}, "multicast"},
		{"broadcast", []string{"255.255.255.255"}, "broadcast"},
		{"IETF assignments", []string{"192.0.0.1"}, "IETF"},
		{"benchmarking", []string{"198.18.0.1"}, "benchmarking"},
		{"reserved", []string{"240.0.0.1"}, "reserved"},
		{"NAT64 of private", []string{"64:ff9b::a00:1"}, "NAT64"},
		{"6to4", []string{"2002:a00:1::1"}, "6to4"},
		{"Teredo", []string{"2001:0:4136:e378::1"}, "Teredo"},
		{"public first then private", []string{"8.8.8.8", "10.0.0.1"}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var pairs []string
			for _, a := range tt.addrs {
				pairs = append(pairs, "evil.example", a)
			}
			res := newResolver(pairs...)
			f, dials := newTestFetcher(t, Options{Resolver: res})
			_, err := f.Get(context.Background(), "http://evil.example/latest/meta-data/")
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("Get = %v, want ErrBlocked", err)
			}
			if !strings.HasPrefix(err.Error(), "fetch http://evil.example/latest/meta-data/: evil.example resolves to ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if d := dials.dialled(); len(d) != 0 {
				t.Errorf("dialled %v, want nothing", d)
			}
		})
	}
}

func TestGetRefusesNumericTricksAndLocalNamesWithoutALookupOrDial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url   string
		allow []netip.Prefix
		want  error
	}{
		{"http://2130706433/", nil, ErrBlocked},
		{"http://0x7f.1/", nil, ErrBlocked},
		{"http://017700000001/", nil, ErrBlocked},
		{"http://0x7f000001/", nil, ErrBlocked},
		{"http://127.1/", nil, ErrBlocked},
		{"http://0177.0.0.1/", nil, ErrBlocked},
		{"http://127.0.0.1./", nil, ErrBlocked},
		{"http://0xa9fea9fe/latest/meta-data/", nil, ErrBlocked},
		{"http://169.254.169.254/latest/meta-data/", nil, ErrBlocked},
		{"http://0/", nil, ErrBlocked},
		{"http://0.0.0.0/", nil, ErrBlocked},
		{"http://10.0.0.1:8080/", nil, ErrBlocked},
		{"http://[::]/", nil, ErrBlocked},
		{"http://[::1]/", nil, ErrBlocked},
		{"http://[::ffff:127.0.0.1]/", nil, ErrBlocked},
		{"http://[::ffff:7f00:1]/", nil, ErrBlocked},
		{"http://[64:ff9b::7f00:1]/", nil, ErrBlocked},
		{"http://[fe80::1%25eth0]/", nil, ErrBlocked},
		{"http://localhost/", loopback, ErrBlocked},
		{"http://LOCALHOST./", loopback, ErrBlocked},
		{"http://api.localhost/", loopback, ErrBlocked},
		{"http://metadata.google.internal/", loopback, ErrBlocked},
		{"http://printer.local/", loopback, ErrBlocked},
		// A numeric form is refused even when the address is public or allowed:
		// which address it means depends on who parses it.
		{"http://134744072/", nil, ErrBadURL},
		{"http://127.1/", loopback, ErrBadURL},
		{"http://0x7f.1/", loopback, ErrBadURL},
		{"http://08.0.0.1/", nil, ErrBadURL},
		{"http://1.2.3.4.5/", nil, ErrBadURL},
		{"http://example.0x10/", nil, ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s allow=%v", tt.url, tt.allow), func(t *testing.T) {
			t.Parallel()
			res := newResolver()
			f, dials := newTestFetcher(t, Options{Allow: tt.allow, Resolver: res})
			_, err := f.Get(context.Background(), tt.url)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Get = %v, want %v", err, tt.want)
			}
			if l := res.looked(); len(l) != 0 {
				t.Errorf("looked up %v, want no lookup", l)
			}
			if d := dials.dialled(); len(d) != 0 {
				t.Errorf("dialled %v, want nothing", d)
			}
		})
	}
}

func TestGetRechecksHostsThatTheTransportRewritesBeforeDialling(t *testing.T) {
	t.Parallel()
	// Full-width digits pass url.Parse as a name, but the Transport's IDNA
	// step turns them into 127.0.0.1; the dial-time check must catch that.
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	res := newResolver()
	f, dials := newTestFetcher(t, Options{Resolver: res})
	_, err := f.Get(context.Background(), "http://１２７.０.０.１:"+srv.port()+"/")
	if err == nil {
		t.Fatal("Get succeeded, want a refusal")
	}
	if !errors.Is(err, ErrBlocked) && !errors.Is(err, ErrBadURL) {
		t.Errorf("Get = %v, want ErrBlocked or ErrBadURL", err)
	}
	if d := dials.dialled(); len(d) != 0 {
		t.Errorf("dialled %v, want nothing", d)
	}
	if n := srv.conns.Load(); n != 0 {
		t.Errorf("server saw %d connections, want 0", n)
	}
}

// rebindingResolver answers with an allowed address first and a private
// one afterwards, like a DNS-rebinding attacker's name server.
type rebindingResolver struct {
	mu    sync.Mutex
	calls int
}

func (r *rebindingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls == 1 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
}

func TestGetDialsTheVettedAddressSoARebindingAnswerIsNeverUsed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	res := &rebindingResolver{}
	f, dials := newTestFetcher(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Resolver: res})
	if _, err := f.Get(context.Background(), srv.named("rebind.example", "/")); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if want := []string{"127.0.0.1:" + srv.port()}; fmt.Sprint(dials.dialled()) != fmt.Sprint(want) {
		t.Errorf("dialled %v, want exactly the vetted address %v", dials.dialled(), want)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.calls != 1 {
		t.Errorf("resolver called %d times, want once", res.calls)
	}
}

func TestGetKeepsTheNameForTLSServerNameAndHostHeaderWhileDiallingTheIP(t *testing.T) {
	t.Parallel()
	var (
		mu              sync.Mutex
		gotHost, gotSNI string
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotSNI = r.Host, r.TLS.ServerName
		mu.Unlock()
		io.WriteString(w, "secure")
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// The httptest certificate is valid for example.com.
	f, dials := newTestFetcher(t, Options{Allow: loopback, Resolver: newResolver("example.com", "127.0.0.1")})
	f.transport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	p, err := f.Get(context.Background(), "https://example.com:"+port+"/")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(p.Body) != "secure" {
		t.Errorf("body = %q", p.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotHost != "example.com:"+port || gotSNI != "example.com" {
		t.Errorf("Host = %q, SNI = %q; want example.com:%s and example.com", gotHost, gotSNI, port)
	}
	if d := dials.dialled(); len(d) != 1 || d[0] != "127.0.0.1:"+port {
		t.Errorf("dialled %v, want [127.0.0.1:%s]", d, port)
	}
}

func TestTheDialersControlHookRefusesABlockedRemoteAddressBeforeConnecting(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name    string
		allow   []netip.Prefix
		blocked bool
	}{
		{"without an allow-list", nil, true},
		{"with loopback allowed", loopback, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Call the raw dialer, bypassing dialContext's own checks, to show
			// the second line of defence works on its own.
			f := New(Options{Allow: tt.allow})
			conn, err := f.dial(context.Background(), "tcp", addr)
			if conn != nil {
				conn.Close()
			}
			if tt.blocked && !errors.Is(err, ErrBlocked) {
				t.Fatalf("dial = %v, want ErrBlocked", err)
			}
			if !tt.blocked && err != nil {
				t.Fatalf("dial: %v", err)
			}
		})
	}
	if err := New(Options{}).control("tcp", "[::ffff:169.254.169.254]:80", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("control on a mapped metadata address = %v, want ErrBlocked", err)
	}
	if err := New(Options{}).control("tcp", "93.184.216.34:443", nil); err != nil {
		t.Errorf("control on a public address = %v, want nil", err)
	}
}

func TestGetRechecksEveryRedirect(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "landed")
	}))
	port := srv.port()
	tests := []struct {
		name string
		to   string
		want error
	}{
		{"to a name resolving to a private address", "http://evil.example/", ErrBlocked},
		{"to the metadata address", "http://169.254.169.254/latest/meta-data/", ErrBlocked},
		{"to a numeric metadata address", "http://2852039166/latest/meta-data/", ErrBlocked},
		{"to a mapped metadata address", "http://[::ffff:a9fe:a9fe]/", ErrBlocked},
		{"to localhost", "http://localhost:" + port + "/", ErrBlocked},
		{"to a numeric form of the allowed server", "http://0x7f.1:" + port + "/", ErrBadURL},
		{"to ftp", "ftp://public.example/file", ErrBadURL},
		{"to a file", "file:///etc/passwd", ErrBadURL},
		{"to a URL with credentials", "http://user:pw@public.example:" + port + "/", ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := newResolver("public.example", "127.0.0.1", "evil.example", "10.0.0.1")
			f, dials := newTestFetcher(t, Options{Allow: loopback, Resolver: res})
			start := srv.named("public.example", "/?to="+tt.to)
			_, err := f.Get(context.Background(), start)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Get = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "redirect to ") {
				t.Errorf("error %q does not mention the redirect", err)
			}
			for _, d := range dials.dialled() {
				if d != "127.0.0.1:"+port {
					t.Errorf("dialled %s, want only the first server", d)
				}
			}
		})
	}
}

func TestGetRefusesARedirectToAnotherLoopbackAddressOutsideTheAllowList(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2 here: %v", err)
	}
	target := &countingServer{Server: &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "internal")
	})}}}
	target.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			target.conns.Add(1)
		}
	}
	target.Start()
	t.Cleanup(target.Close)
	first := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	tests := []struct{ name, to string }{
		{"by address", target.URL + "/"},
		{"by a name resolving to it", target.named("inside.example", "/")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newResolver("public.example", "127.0.0.1", "inside.example", "127.0.0.2")
			// Only the first server's exact address is opened.
			f, dials := newTestFetcher(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Resolver: res})
			_, err := f.Get(context.Background(), first.named("public.example", "/?to="+tt.to))
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("Get = %v, want ErrBlocked", err)
			}
			for _, d := range dials.dialled() {
				if strings.HasPrefix(d, "127.0.0.2:") {
					t.Errorf("dialled %s", d)
				}
			}
		})
	}
	if n := target.conns.Load(); n != 0 {
		t.Errorf("redirect target saw %d connections, want 0", n)
	}
}

func TestGetFollowsRedirectsOnlyUpToTheLimit(t *testing.T) {
	t.Parallel()
	// /hops/N redirects to /hops/N-1 until /hops/0 answers.
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hops/"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hops/%d", n-1), http.StatusFound)
			return
		}
		io.WriteString(w, "done")
	}))
	tests := []struct {
		name         string
		maxRedirects int
		hops         int
		wantErr      error
	}{
		{"default allows five", 0, 5, nil},
		{"default refuses six", 0, 6, ErrTooManyRedirects},
		{"two allowed, two taken", 2, 2, nil},
		{"two allowed, three needed", 2, 3, ErrTooManyRedirects},
		{"negative follows none", -1, 1, ErrTooManyRedirects},
		{"negative still fetches a direct page", -1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, _ := newTestFetcher(t, Options{Allow: loopback, MaxRedirects: tt.maxRedirects})
			p, err := f.Get(context.Background(), fmt.Sprintf("%s/hops/%d", srv.URL, tt.hops))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get = %v, want %v", err, tt.wantErr)
			}
			if err == nil && p.URL != srv.URL+"/hops/0" {
				t.Errorf("final URL = %q, want %s/hops/0", p.URL, srv.URL)
			}
		})
	}
}

func TestGetEnforcesTheSizeLimitWithAndWithoutContentLength(t *testing.T) {
	t.Parallel()
	const limit = 1000
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("x"), n)
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(body)
		case "/chunked":
			// Flushing before the end forces chunked encoding: no length.
			w.Write(body[:n/2])
			w.(http.Flusher).Flush()
			w.Write(body[n/2:])
		case "/lying":
			// Declares a huge body and never sends it: only an early
			// refusal returns before the timeout.
			w.Header().Set("Content-Length", strconv.Itoa(limit+1))
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/gzip":
			// Small on the wire, large once the Transport decompresses it.
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(body)
			zw.Close()
		}
	}))
	tests := []struct {
		name    string
		path    string
		n       int
		wantErr error
	}{
		{"exactly the limit with a length", "/length", limit, nil},
		{"exactly the limit chunked", "/chunked", limit, nil},
		{"one over with a length", "/length", limit + 1, ErrTooLarge},
		{"one over chunked", "/chunked", limit + 1, ErrTooLarge},
		{"far over chunked", "/chunked", 50 * limit, ErrTooLarge},
		{"declared over and never sent", "/lying", 0, ErrTooLarge},
		{"compressed but over once decompressed", "/gzip", 100 * limit, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, _ := newTestFetcher(t, Options{Allow: loopback, MaxBytes: limit, Timeout: 5 * time.Second})
			begin := time.Now()
			p, err := f.Get(context.Background(), fmt.Sprintf("%s%s?n=%d", srv.URL, tt.path, tt.n))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get = %v, want %v", err, tt.wantErr)
			}
			if err == nil && len(p.Body) != tt.n {
				t.Errorf("body is %d bytes, want %d", len(p.Body), tt.n)
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Errorf("took %s; the limit should end the request early", d)
			}
		})
	}
}

func TestGetGivesUpWhenTheWholeExchangeOutlastsTheTimeout(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "first bytes")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	tests := []struct{ name, path string }{
		{"slow headers", "/slow-headers"},
		{"slow body", "/slow-body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, _ := newTestFetcher(t, Options{Allow: loopback, Timeout: 200 * time.Millisecond})
			begin := time.Now()
			_, err := f.Get(context.Background(), srv.URL+tt.path)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") {
				t.Fatalf("Get = %v, want a timeout", err)
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Errorf("took %s, want about 200ms", d)
			}
		})
	}
	t.Run("a cancelled caller context is reported as such", func(t *testing.T) {
		t.Parallel()
		f, _ := newTestFetcher(t, Options{Allow: loopback})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := f.Get(ctx, srv.URL+"/slow-headers")
		if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out after") {
			t.Fatalf("Get = %v, want the caller's deadline error", err)
		}
	})
}

func TestGetReturnsErrStatusWithTheCodeForNon2xxResponses(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		io.WriteString(w, "status page")
	}))
	tests := []struct {
		code    int
		wantErr bool
	}{
		{200, false},
		{203, false},
		{299, false},
		{300, true}, // a redirect without Location cannot be followed
		{304, true},
		{404, true},
		{410, true},
		{500, true},
		{503, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			t.Parallel()
			f, _ := newTestFetcher(t, Options{Allow: loopback})
			_, err := f.Get(context.Background(), fmt.Sprintf("%s/%d", srv.URL, tt.code))
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrStatus) || !strings.Contains(err.Error(), " "+strconv.Itoa(tt.code)) {
				t.Fatalf("Get = %v, want ErrStatus naming %d", err, tt.code)
			}
		})
	}
}

func TestGetIgnoresProxySettingsFromTheEnvironment(t *testing.T) {
	proxy := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from the proxy")
	}))
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "direct")
	}))
	f, _ := newTestFetcher(t, Options{Allow: loopback})
	p, err := f.Get(context.Background(), srv.named("public.example", "/"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(p.Body) != "direct" || proxy.conns.Load() != 0 {
		t.Errorf("body = %q, proxy connections = %d; want a direct fetch", p.Body, proxy.conns.Load())
	}
	if f.transport.Proxy != nil {
		t.Error("Transport.Proxy is set")
	}
}

func TestNewFillsInDefaultsForZeroOptions(t *testing.T) {
	t.Parallel()
	f := New(Options{})
	if f.maxBytes != DefaultMaxBytes || f.timeout != DefaultTimeout || f.maxRedirects != DefaultMaxRedirects || f.userAgent != DefaultUserAgent || f.resolver != net.DefaultResolver {
		t.Errorf("defaults = %d, %s, %d, %q, %v", f.maxBytes, f.timeout, f.maxRedirects, f.userAgent, f.resolver)
	}
	if f.transport.TLSClientConfig != nil && f.transport.TLSClientConfig.InsecureSkipVerify {
		t.Error("TLS verification is off")
	}
}
