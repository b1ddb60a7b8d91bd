package fetch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// loopback opens 127.0.0.0/8, where httptest servers listen.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// fakeResolver maps names to fixed answers and records every lookup.
type fakeResolver struct {
	mu      sync.Mutex
	hosts   map[string][]netip.Addr
	lookups []string
}

func newResolver(pairs ...string) *fakeResolver {
	r := &fakeResolver{hosts: map[string][]netip.Addr{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.hosts[pairs[i]] = append(r.hosts[pairs[i]], netip.MustParseAddr(pairs[i+1]))
	}
	return r
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups = append(r.lookups, host)
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) looked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lookups...)
}

// dialLog records the addresses a Fetcher actually dialled.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// newTestFetcher builds a Fetcher whose dials are recorded. A nil resolver
// is replaced by one that knows public.example and other.example as
// 127.0.0.1, so tests never touch real DNS.
func newTestFetcher(t *testing.T, opt Options) (*Fetcher, *dialLog) {
	t.Helper()
	if opt.Resolver == nil {
		opt.Resolver = newResolver("public.example", "127.0.0.1", "other.example", "127.0.0.1")
	}
	f := New(opt)
	log := &dialLog{}
	dial := f.dial
	f.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		log.mu.Lock()
		log.addrs = append(log.addrs, address)
		log.mu.Unlock()
		return dial(ctx, network, address)
	}
	t.Cleanup(f.transport.CloseIdleConnections)
	return f, log
}

// countingServer is an httptest server that counts accepted connections,
// so a test can show that a refused fetch never reached it.
type countingServer struct {
	*httptest.Server
	conns atomic.Int64
}

func startServer(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// port is the server's port, for building URLs with fake host names.
func (s *countingServer) port() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		panic(err)
	}
	return u.Port()
}

// named is the server's URL with host name in place of 127.0.0.1.
func (s *countingServer) named(host, path string) string {
	return "http://" + net.JoinHostPort(host, s.port()) + path
}
