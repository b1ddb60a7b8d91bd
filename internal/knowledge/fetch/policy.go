package fetch

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// blockedError says why a name or address was refused. It matches ErrBlocked
// through errors.Is, so callers test for the sentinel while people reading a
// log still learn which address was the problem.
type blockedError struct {
	host     string     // the name or URL host as written; empty for a bare address
	addr     netip.Addr // invalid when the refusal happened before any address was known
	resolved bool       // addr came from DNS rather than from the host itself
	reason   string     // a phrase with its article, e.g. "a private address"
}

func (e *blockedError) Error() string {
	switch {
	case !e.addr.IsValid():
		return fmt.Sprintf("%s is %s", e.host, e.reason)
	case e.resolved:
		return fmt.Sprintf("%s resolves to %s, which is %s", e.host, e.addr, e.reason)
	case e.host != "" && e.host != e.addr.String():
		// A numeric trick like 0x7f.1: show what it really means.
		return fmt.Sprintf("%s (%s) is %s", e.host, e.addr, e.reason)
	default:
		return fmt.Sprintf("%s is %s", e.addr, e.reason)
	}
}

func (e *blockedError) Is(target error) bool { return target == ErrBlocked }

// rangeRule names one refused range. Lists are ordered: the first match wins,
// so narrow, more telling ranges (the metadata address) come before the wide
// ones that contain them.
type rangeRule struct {
	prefix netip.Prefix
	reason string
}

var blockedV4 = []rangeRule{
	{netip.MustParsePrefix("0.0.0.0/32"), "an unspecified address"},
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" address`},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.169.254/32"), "a cloud metadata address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
}

var blockedV6 = []rangeRule{
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	// Teredo and 6to4 tunnel to IPv4 addresses we cannot see, so they are
	// refused whole rather than decoded.
	{netip.MustParsePrefix("2001::/32"), "a Teredo address"},
	{netip.MustParsePrefix("2001:2::/48"), "a benchmarking address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a cloud metadata address"},
	{netip.MustParsePrefix("fc00::/7"), "a private address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	globalUnicastV6  = netip.MustParsePrefix("2000::/3")
	refusedNameEnds  = []string{".localhost", ".internal", ".local"}
	refusedNameExact = "localhost"
)

// blockReason says why a is refused by default, or "" when it is a public
// address. It expects a unmapped and without a zone.
func blockReason(a netip.Addr) string {
	if !a.IsValid() {
		return "an invalid address"
	}
	if a.Is4() {
		for _, r := range blockedV4 {
			if r.prefix.Contains(a) {
				return r.reason
			}
		}
		return ""
	}
	for _, r := range blockedV6 {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	if nat64Prefix.Contains(a) {
		// A NAT64 gateway would forward to the embedded IPv4 address, so
		// that address decides.
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if r := blockReason(v4); r != "" {
			return fmt.Sprintf("a NAT64 address for %s (%s)", v4, r)
		}
		return ""
	}
	// Everything public on IPv6 lives in 2000::/3; whatever is outside it
	// (IPv4-compatible ::a.b.c.d, discard-only 100::/64, unassigned space)
	// has no business being fetched.
	if !globalUnicastV6.Contains(a) {
		return "a non-global IPv6 address"
	}
	return ""
}

// refusal is blockReason with the operator's allow-list applied. Mapped
// IPv4 (::ffff:127.0.0.1) is unmapped first, so it is judged, and allowed,
// exactly like the IPv4 address it stands for.
func (f *Fetcher) refusal(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	for _, p := range f.allow {
		if p.Contains(a) {
			return ""
		}
	}
	return blockReason(a)
}

// target is what a URL host means before any DNS lookup: either a literal
// address or a name to resolve.
type target struct {
	host    string     // lower-cased host as written (a name keeps any trailing dot)
	addr    netip.Addr // set for literal addresses
	numeric bool       // addr was written in a non-canonical numeric form
}

// parseHost classifies a URL host. Names that are local by definition are
// refused here, before any lookup could leak them to a resolver.
func parseHost(host string) (target, error) {
	h := strings.ToLower(host)
	if h == "" {
		return target{}, fmt.Errorf("%w: missing host", ErrBadURL)
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return target{}, fmt.Errorf("%w: bad IPv6 host %q", ErrBadURL, host)
		}
		return target{host: h, addr: a}, nil
	}
	bare := strings.TrimSuffix(h, ".")
	if bare == "" || strings.HasSuffix(bare, ".") || strings.HasPrefix(bare, ".") || strings.Contains(bare, "..") {
		return target{}, fmt.Errorf("%w: bad host %q", ErrBadURL, host)
	}
	// Browsers (WHATWG URL) and C resolvers (inet_aton) read a host whose
	// last label is a number as an IPv4 address in any of several notations,
	// so 2130706433, 0x7f.1 and 017700000001 all mean 127.0.0.1. Such a host
	// is never a DNS name we should look up.
	if endsInNumber(bare) {
		if a, err := netip.ParseAddr(bare); err == nil && a.Is4() {
			return target{host: h, addr: a}, nil
		}
		if a, ok := parseLenientIPv4(bare); ok {
			return target{host: h, addr: a, numeric: true}, nil
		}
		return target{}, fmt.Errorf("%w: host %q looks numeric but is not an IPv4 address", ErrBadURL, host)
	}
	if bare == refusedNameExact {
		return target{}, &blockedError{host: bare, reason: "a local-only name"}
	}
	for _, end := range refusedNameEnds {
		if strings.HasSuffix(bare, end) {
			return target{}, &blockedError{host: bare, reason: "a local-only name"}
		}
	}
	return target{host: h}, nil
}

// checkLiteral applies the address policy to a literal host without any
// network access.
func (f *Fetcher) checkLiteral(t target) error {
	if !t.addr.IsValid() {
		return nil
	}
	if r := f.refusal(t.addr); r != "" {
		return &blockedError{host: strings.TrimSuffix(t.host, "."), addr: t.addr.Unmap().WithZone(""), reason: r}
	}
	if t.numeric {
		// Even a harmless address in these notations is refused: we would
		// have to guess which notation the other side uses, and nobody
		// links to a real document like this.
		return fmt.Errorf("%w: host %q is a non-canonical form of %s; write the address as %s", ErrBadURL, t.host, t.addr, t.addr)
	}
	return nil
}

// checkURL validates a URL's shape and, for literal addresses, the address
// itself. Names are checked later, at dial time, against what they resolve to.
func (f *Fetcher) checkURL(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return fmt.Errorf("%w: missing scheme", ErrBadURL)
	default:
		return fmt.Errorf("%w: scheme %q is not http or https", ErrBadURL, u.Scheme)
	}
	if u.Opaque != "" {
		return fmt.Errorf("%w: %s: URL has no host", ErrBadURL, u.Scheme)
	}
	if u.User != nil {
		// Credentials would be sent to whatever the URL points at and end up
		// in logs and stored document sources.
		return fmt.Errorf("%w: URL must not contain a user name or password", ErrBadURL)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: missing host", ErrBadURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: bad port %q", ErrBadURL, p)
		}
	}
	t, err := parseHost(u.Hostname())
	if err != nil {
		return err
	}
	return f.checkLiteral(t)
}

// endsInNumber reports whether the last dot-separated label is decimal
// digits or 0x-prefixed hex, the WHATWG rule for "this host is IPv4".
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if isDigits(last, 10) {
		return true
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return isDigits(last[2:], 16)
	}
	return false
}

// parseLenientIPv4 parses the inet_aton notations: one to four parts, each
// decimal, octal (leading 0) or hex (0x), the last part filling all the
// remaining bytes.
func parseLenientIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (8 * (3 - i))
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseIPv4Part(p string) (uint64, bool) {
	base, digits := 10, p
	switch {
	case p == "":
		return 0, false
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, digits = 16, p[2:]
		if digits == "" {
			return 0, true // WHATWG reads a bare "0x" as zero
		}
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	if !isDigits(digits, base) || len(digits) > 12 {
		// Twelve digits is far past any 32-bit value in these bases, and the
		// cap keeps ParseUint away from overflow.
		return 0, false
	}
	n, err := strconv.ParseUint(digits, base, 64)
	return n, err == nil
}

func isDigits(s string, base int) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '7':
		case c >= '8' && c <= '9':
			if base < 10 {
				return false
			}
		case base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// ParseAllow parses a comma-separated list of CIDR prefixes or single
// addresses ("127.0.0.0/8, ::1") for the Allow option. Empty entries are
// ignored, so "" yields no prefixes.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(entry, "/") {
			pp, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("allow entry %q: %w", entry, err)
			}
			if pp.Addr().Is4In6() {
				// Addresses are unmapped before the allow-list is consulted,
				// so a mapped prefix would silently never match.
				return nil, fmt.Errorf("allow entry %q: write IPv4-mapped ranges in IPv4 form", entry)
			}
			p = pp.Masked()
		} else {
			a, err := netip.ParseAddr(entry)
			if err != nil {
				return nil, fmt.Errorf("allow entry %q: %w", entry, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("allow entry %q: zones are not supported", entry)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}
