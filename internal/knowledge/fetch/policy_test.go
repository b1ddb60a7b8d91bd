package fetch

import (
	"errors"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestBlockReasonRefusesEveryInternalRangeAndPassesPublicAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string // substring of the reason; "" means allowed
	}{
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "this network"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"169.254.1.1", "link-local"},
		{"169.254.169.254", "cloud metadata"},
		{"fd00:ec2::254", "cloud metadata"},
		{"fe80::1", "link-local"},
		{"fec0::1", "site-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"192.0.0.8", "IETF"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"240.0.0.1", "reserved"},
		{"192.0.2.1", "documentation"},
		{"2001:db8::1", "documentation"},
		{"64:ff9b::7f00:1", "NAT64 address for 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", "NAT64 address for 169.254.169.254"},
		{"64:ff9b:1::1", "local-use NAT64"},
		{"2002:7f00:1::1", "6to4"},
		{"2001::1", "Teredo"},
		{"::127.0.0.1", "non-global"},
		{"100::1", "non-global"},
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"2606:4700:4700::1111", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of a public address
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			got := blockReason(netip.MustParseAddr(tt.addr))
			if tt.want == "" && got != "" {
				t.Fatalf("blockReason(%s) = %q, want allowed", tt.addr, got)
			}
			if tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("blockReason(%s) = %q, want it to mention %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestRefusalUnmapsIPv4AndHonoursTheAllowListOnly(t *testing.T) {
	t.Parallel()
	f := New(Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00::/64")}})
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1", false},
		{"::ffff:127.0.0.1", false}, // mapped form of an allowed address is allowed too
		{"fd00::5", false},
		{"fd00:0:0:1::5", true},
		{"10.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::1", true}, // 127/8 does not open the IPv6 loopback
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := f.refusal(netip.MustParseAddr(tt.addr)) != ""; got != tt.blocked {
				t.Fatalf("refused %s = %v, want %v", tt.addr, got, tt.blocked)
			}
		})
	}
	if r := New(Options{}).refusal(netip.MustParseAddr("::ffff:127.0.0.1")); !strings.Contains(r, "loopback") {
		t.Errorf("without an allow-list ::ffff:127.0.0.1 is refused as %q, want loopback", r)
	}
}

func TestParseLenientIPv4ReadsEveryInetAtonNotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" means not an address
	}{
		{"2130706433", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F000001", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0177.0.0.01", "127.0.0.1"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"256.0.0.1", ""},
		{"1.2.3.4.5", ""},
		{"08", ""},
		{"0x1g", ""},
		{"1..2", ""},
		{"99999999999999999999999", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			a, ok := parseLenientIPv4(tt.in)
			if tt.want == "" {
				if ok {
					t.Fatalf("parseLenientIPv4(%q) = %s, want no address", tt.in, a)
				}
				return
			}
			if !ok || a != netip.MustParseAddr(tt.want) {
				t.Fatalf("parseLenientIPv4(%q) = %s, %v; want %s", tt.in, a, ok, tt.want)
			}
		})
	}
}

func TestCheckURLRefusesURLsThatAreNotPlainHTTPWithAHost(t *testing.T) {
	t.Parallel()
	f := New(Options{})
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"https with a name", "https://example.com/docs?q=1", true},
		{"http with a port", "http://example.com:8080/", true},
		{"empty port", "http://example.com:/", true},
		{"public IPv4 literal", "http://8.8.8.8/", true},
		{"public IPv6 literal", "http://[2606:4700:4700::1111]/", true},
		{"ftp", "ftp://example.com/file", false},
		{"file", "file:///etc/passwd", false},
		{"gopher", "gopher://example.com:70/", false},
		{"no scheme", "//example.com/", false},
		{"relative", "/just/a/path", false},
		{"opaque", "http:example.com", false},
		{"user info", "http://user:pw@example.com/", false},
		{"user name only", "http://user@example.com/", false},
		{"no host", "http:///path", false},
		{"port zero", "http://example.com:0/", false},
		{"port too big", "http://example.com:70000/", false},
		{"numeric name", "http://example.123/", false},
		{"five parts", "http://1.2.3.4.5/", false},
		{"empty label", "http://a..example/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", tt.url, err)
			}
			err = f.checkURL(u)
			if tt.ok && err != nil {
				t.Fatalf("checkURL(%q) = %v, want nil", tt.url, err)
			}
			if !tt.ok && !errors.Is(err, ErrBadURL) {
				t.Fatalf("checkURL(%q) = %v, want ErrBadURL", tt.url, err)
			}
		})
	}
}

func TestParseAllowAcceptsPrefixesAndAddressesAndNamesTheBadEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // substring of the error
	}{
		{name: "empty", in: "", want: nil},
		{name: "only separators", in: " , ,", want: nil},
		{name: "prefix and single v6", in: "127.0.0.0/8, ::1", want: []string{"127.0.0.0/8", "::1/128"}},
		{name: "single v4", in: "10.0.0.5", want: []string{"10.0.0.5/32"}},
		{name: "host bits are masked", in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{name: "mapped address is unmapped", in: "::ffff:10.0.0.5", want: []string{"10.0.0.5/32"}},
		{name: "bad prefix length", in: "127.0.0.0/8,10.0.0.0/33", wantErr: `"10.0.0.0/33"`},
		{name: "not an address", in: "localhost", wantErr: `"localhost"`},
		{name: "mapped prefix", in: "::ffff:10.0.0.0/104", wantErr: `"::ffff:10.0.0.0/104"`},
		{name: "zone", in: "fe80::1%eth0", wantErr: `"fe80::1%eth0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAllow(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAllow(%q) error = %v, want it to name %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllow(%q): %v", tt.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if !reflect.DeepEqual(gotS, tt.want) {
				t.Fatalf("ParseAllow(%q) = %v, want %v", tt.in, gotS, tt.want)
			}
		})
	}
}

func TestBlockedErrorsMatchErrBlockedAndSayWhichAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *blockedError
		want string
	}{
		{&blockedError{addr: netip.MustParseAddr("10.0.0.5"), reason: "a private address"}, "10.0.0.5 is a private address"},
		{&blockedError{host: "evil.example", addr: netip.MustParseAddr("10.0.0.5"), resolved: true, reason: "a private address"}, "evil.example resolves to 10.0.0.5, which is a private address"},
		{&blockedError{host: "0x7f.1", addr: netip.MustParseAddr("127.0.0.1"), reason: "a loopback address"}, "0x7f.1 (127.0.0.1) is a loopback address"},
		{&blockedError{host: "localhost", reason: "a local-only name"}, "localhost is a local-only name"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if !errors.Is(tt.err, ErrBlocked) {
				t.Fatal("errors.Is(err, ErrBlocked) = false")
			}
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
