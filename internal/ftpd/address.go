package ftpd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Resolver resolves DNS names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// AddressOverride announces Address (an IP or DNS name) to clients whose IP is
// in Prefix, e.g. in-cluster clients get the Service IP instead of the public
// load balancer address.
type AddressOverride struct {
	Prefix  netip.Prefix
	Address string
}

// ParseAddressOverrides parses "CIDR=ADDR,CIDR=ADDR".
func ParseAddressOverrides(s string) ([]AddressOverride, error) {
	var out []AddressOverride
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		cidr, addr, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(addr) == "" {
			return nil, fmt.Errorf("address override %q: want CIDR=ADDRESS", item)
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			return nil, fmt.Errorf("address override %q: %w", item, err)
		}
		out = append(out, AddressOverride{Prefix: p.Masked(), Address: strings.TrimSpace(addr)})
	}
	return out, nil
}

// addressBook holds the advertised address and a small DNS cache. It is safe
// for concurrent use.
type addressBook struct {
	mu       sync.Mutex
	public   string // IP literal or DNS name; "" = unknown
	cache    map[string]dnsEntry
	ttl      time.Duration
	resolver Resolver
	now      func() time.Time
}

type dnsEntry struct {
	addrs   []netip.Addr
	err     error
	expires time.Time
}

func (b *addressBook) set(addr string) {
	b.mu.Lock()
	b.public = strings.TrimSpace(addr)
	b.mu.Unlock()
}

func (b *addressBook) get() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.public
}

// resolve4 returns the first IPv4 address of host (IP literal or DNS name),
// using the cache. A zero Addr and nil error means the name has no IPv4.
func (b *addressBook) resolve4(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.Is4() {
			return ip, nil
		}
		return netip.Addr{}, nil
	}
	now := time.Now()
	if b.now != nil {
		now = b.now()
	}
	b.mu.Lock()
	e, ok := b.cache[host]
	b.mu.Unlock()
	if !ok || now.After(e.expires) {
		r := b.resolver
		if r == nil {
			r = net.DefaultResolver
		}
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		addrs, err := r.LookupNetIP(lctx, "ip4", host)
		cancel()
		ttl := b.ttl
		if ttl <= 0 {
			ttl = 30 * time.Second
		}
		if err != nil {
			ttl = min(ttl, 5*time.Second) // retry failures sooner
			if ok && len(e.addrs) > 0 {
				// Keep serving the last good answer while DNS is flaky.
				err = nil
				addrs = e.addrs
			}
		}
		e = dnsEntry{addrs: addrs, err: err, expires: now.Add(ttl)}
		b.mu.Lock()
		if b.cache == nil {
			b.cache = make(map[string]dnsEntry)
		}
		if len(b.cache) > 64 { // bounded: names change rarely
			clear(b.cache)
		}
		b.cache[host] = e
		b.mu.Unlock()
	}
	if e.err != nil {
		return netip.Addr{}, fmt.Errorf("resolving %q: %w", host, e.err)
	}
	for _, a := range e.addrs {
		if a = a.Unmap(); a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, nil
}

// isPrivateClient reports whether a client may be given our local address
// while no public address is known: private, loopback, link-local and CGNAT.
func isPrivateClient(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// WatchAddressFile polls path every interval (default 1s) and calls
// SetPublicAddress when its trimmed content changes. A missing file leaves the
// current address unchanged. It returns when ctx is done.
func (s *Server) WatchAddressFile(ctx context.Context, path string, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	last := "\x00unset"
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			addr := strings.TrimSpace(string(b))
			if addr != last {
				last = addr
				s.SetPublicAddress(addr)
				s.logger().Info("public address updated from file", "file", path, "address", addr)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
