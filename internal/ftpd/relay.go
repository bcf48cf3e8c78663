package ftpd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// Relay routing (docs/high-availability.md): several servers (the pods of a StatefulSet) share one passive range,
// each owning one slice of it (PassivePorts) and handing out only ports of its own slice, while one Service sends
// every port to every pod. A data connection for a port of another slice is relayed to the owner: dialed at the
// owner's passive port with a PROXY protocol v2 header carrying the client's address, then copied both ways
// untouched (so the owner checks the client's address and, with PROT P, the TLS session reuse, end to end).
//
// Trust: the owner reads a PROXY header on its passive ports only from its peers, the connections whose source
// address is an address of a peer's host name (Relay.Peer, resolved and cached). A client cannot take a peer's
// address (pod addresses are the cluster's own; a load balancer's traffic arrives from the client's address or,
// with externalTrafficPolicy Cluster, from a node's), so a header a client sends is never read: its bytes are data
// from the client's own address, which matches no session of another client.

// Relay makes a Server one of several that share a passive range.
type Relay struct {
	// Range is the whole passive range: Slices equal slices, PassivePorts being slice Self.
	Range PortRange
	// Slices is the number of servers (slices) of Range; Self is this server's ordinal.
	Slices, Self int32
	// Peer is the host (DNS name or IP) of the server of ordinal k, dialed on the passive port itself.
	Peer func(k int32) string
	// MaxConns caps the connections being relayed at once (0 or less = DefaultRelayMaxConns); more are closed at
	// once.
	MaxConns int
}

// DefaultRelayMaxConns is Relay.MaxConns by default.
const DefaultRelayMaxConns = 512

// relayPeerTTL is how long a peer's resolved addresses are trusted before they are resolved again; a source
// address that is not a peer's resolves them again at most every relayPeerRefresh (a pod that just started).
const (
	relayPeerTTL     = 10 * time.Second
	relayPeerRefresh = time.Second
)

func (r *Relay) validate(own PortRange) error {
	if r.Peer == nil {
		return errors.New("ftpd: Relay.Peer is required")
	}
	s, err := r.Range.Slice(r.Self, r.Slices)
	if err != nil {
		return fmt.Errorf("ftpd: relay: %w", err)
	}
	if s.Start != own.Start || s.End != own.End {
		return fmt.Errorf("ftpd: relay: slice %d of %s is %s, but the passive ports are %s", r.Self, r.Range, s, own)
	}
	return nil
}

// relayState is the Server's relay: its listeners, the connections it relays, and the peers' addresses.
type relayState struct {
	once  sync.Once
	err   error
	slots chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	peerMu    sync.Mutex
	peers     map[netip.Addr]int32
	resolved  time.Time
	refreshed time.Time
}

// startRelay opens, once, a listener on every port of the shared range outside this server's slice.
func (s *Server) startRelay() error {
	r := s.Relay
	if r == nil {
		return nil
	}
	st := &s.relay
	st.once.Do(func() {
		st.slots = make(chan struct{}, cmp.Or(max(r.MaxConns, 0), DefaultRelayMaxConns))
		st.conns = make(map[net.Conn]struct{})
		for p := r.Range.Start; p <= r.Range.End; p++ {
			if s.PassivePorts.Contains(p) {
				continue
			}
			l, err := net.Listen("tcp", net.JoinHostPort(s.PassiveHost, strconv.Itoa(int(p))))
			if err != nil {
				st.err = fmt.Errorf("opening relay listener on %d: %w", p, err)
				return
			}
			l = s.proxyListener(l)
			if !s.trackListener(l, true) {
				l.Close()
				st.err = ErrServerClosed
				return
			}
			go s.acceptRelay(l, p)
		}
		s.logger().Info("relaying the data connections of the other slices", "range", r.Range.String(), "own", s.PassivePorts.String())
	})
	return st.err
}

func (s *Server) acceptRelay(l net.Listener, port int32) {
	defer s.trackListener(l, false)
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, proxyproto.ErrNoProxyProtocol) || acceptRetryable(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second) // as serve: no busy loop out of descriptors
				time.Sleep(delay)
				continue
			}
			return // closed
		}
		delay = 0
		select {
		case s.relay.slots <- struct{}{}:
		default:
			s.logger().Warn("refused a data connection to relay: too many relayed connections", "remote", c.RemoteAddr().String(), "port", port)
			s.Metrics.relay(relayRefused)
			c.Close()
			continue
		}
		if !s.track(func() {
			defer func() { <-s.relay.slots }()
			s.relayConn(c, port)
		}) {
			<-s.relay.slots
			c.Close()
			return // shutting down
		}
	}
}

// relayConn relays c, a data connection to port of another server's slice, to that server.
func (s *Server) relayConn(c net.Conn, port int32) {
	defer c.Close()
	if !s.trackRelayed(c, true) {
		return
	}
	defer s.trackRelayed(c, false)
	k, err := s.Relay.Range.SliceOf(port, s.Relay.Slices)
	if err != nil {
		return
	}
	owner := net.JoinHostPort(s.Relay.Peer(k), strconv.Itoa(int(port)))
	s.logger().Debug("relaying a data connection", "remote", c.RemoteAddr().String(), "port", port, "owner", owner)
	d := net.Dialer{}
	if ip := net.ParseIP(s.PassiveHost); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip} // the owner knows its peers by this address
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.dataTimeout())
	addrs, err := s.resolver().LookupNetIP(ctx, "ip", s.Relay.Peer(k))
	var up net.Conn
	if err == nil && len(addrs) > 0 {
		up, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(addrs[0].Unmap(), uint16(port)).String())
	} else if err == nil {
		err = errors.New("no address")
	}
	cancel()
	if err != nil {
		s.logger().Warn("relaying a data connection: the owner of its port does not answer", "remote", c.RemoteAddr().String(),
			"port", port, "owner", owner, "err", err)
		s.Metrics.relay(relayUnreachable)
		return
	}
	// Any end of the relay but the client's own end of file reaches the owner as a reset, never as an end of file
	// it would take for a complete upload: the relay process killed, Shutdown's deadline, the client's reset.
	setLingerZero(up)
	defer up.Close()
	if !s.trackRelayed(up, true) {
		return
	}
	defer s.trackRelayed(up, false)
	// The header carries the client's address (behind a load balancer's own PROXY header, the one it sent).
	hdr := proxyproto.HeaderProxyFromAddrs(2, c.RemoteAddr(), c.LocalAddr())
	_ = up.SetWriteDeadline(time.Now().Add(s.dataTimeout()))
	if _, err := hdr.WriteTo(up); err != nil {
		s.logger().Warn("relaying a data connection: writing the PROXY header", "owner", owner, "err", err)
		s.Metrics.relay(relayUnreachable)
		return
	}
	_ = up.SetWriteDeadline(time.Time{})
	start := time.Now()
	in, out, broken := pipe(c, up, s.dataTimeout())
	s.logger().Info("relayed a data connection", "remote", c.RemoteAddr().String(), "port", port, "owner", owner,
		"bytesToOwner", in, "bytesFromOwner", out, "durationSeconds", time.Since(start).Seconds(), "broken", broken)
	if broken {
		s.Metrics.relay(relayBroken)
	} else {
		s.Metrics.relay(relayOK)
	}
}

// pipe copies a to b and b to a (io.Copy, so that the kernel splices between two TCP connections) until both
// directions end, and returns the bytes copied each way and whether a direction broke. The end of file of one
// direction is passed on as a half close; the other direction then has idle to end, so that a peer that never
// closes does not hold the relay. A direction that ends in an error (a reset, a timeout) is passed on as a reset of
// both connections: in stream mode an end of file is the end of the upload, so a broken transfer must not look
// like one.
func pipe(a, b net.Conn, idle time.Duration) (ab, ba int64, broken bool) {
	done := make(chan struct{})
	var abErr error
	go func() {
		defer close(done)
		if ab, abErr = io.Copy(b, a); abErr != nil {
			reset(a, b)
			return
		}
		closeWrite(b)
	}()
	ba, err := io.Copy(a, b)
	if err != nil {
		reset(a, b)
	} else {
		closeWrite(a)
	}
	deadline := time.Now().Add(idle)
	select {
	case <-done:
	default:
		_ = a.SetDeadline(deadline)
		_ = b.SetDeadline(deadline)
		<-done
	}
	return ab, ba, err != nil || abErr != nil
}

// reset closes each connection with a reset (RST), not an end of file.
func reset(conns ...net.Conn) {
	for _, c := range conns {
		setLingerZero(c)
		_ = c.Close()
	}
}

// setLingerZero makes a later Close of c (also the kernel's, when the process dies) send a reset.
func setLingerZero(c net.Conn) {
	if pc, ok := c.(*proxyproto.Conn); ok {
		if tc, ok := pc.TCPConn(); ok {
			c = tc
		}
	}
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	if pc, ok := c.(*proxyproto.Conn); ok {
		if tc, ok := pc.TCPConn(); ok {
			_ = tc.CloseWrite()
			return
		}
	}
	_ = c.Close()
}

func (s *Server) resolver() Resolver {
	if s.Resolver != nil {
		return s.Resolver
	}
	return net.DefaultResolver
}

// trackRelayed adds (or removes) a relayed connection, so that Close ends it; false after Close.
func (s *Server) trackRelayed(c net.Conn, add bool) bool {
	st := &s.relay
	st.mu.Lock()
	defer st.mu.Unlock()
	if !add {
		delete(st.conns, c)
		return true
	}
	if st.conns == nil {
		return false // closed
	}
	st.conns[c] = struct{}{}
	return true
}

// closeRelayed ends every relayed connection.
func (s *Server) closeRelayed() {
	st := &s.relay
	st.mu.Lock()
	defer st.mu.Unlock()
	for c := range st.conns {
		c.Close()
	}
	st.conns = nil
}

// relayedIn is c, a connection to one of this server's passive ports, as the data connection of the client it
// carries: a connection from a peer must start with a PROXY header (it is a relayed data connection) and then
// stands for the header's source; any other connection is itself. ok is false when a peer's header is missing or
// invalid: the connection is then closed.
func (s *Server) relayedIn(c net.Conn) (net.Conn, bool) {
	if s.Relay == nil {
		return c, true
	}
	if _, ok := c.(*proxyproto.Conn); ok {
		return c, true // the load balancer's PROXY header (--proxy-protocol) is already read
	}
	if !s.isPeer(remoteIP(c)) {
		return c, true
	}
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(proxyproto.REQUIRE), proxyproto.SetReadHeaderTimeout(s.dataTimeout()))
	if pc.ProxyHeader() == nil || pc.ProxyHeader().SourceAddr == nil {
		s.logger().Warn("refused a data connection from a peer without a valid PROXY header", "remote", c.RemoteAddr().String())
		return c, false
	}
	return pc, true
}

// isPeer reports whether ip is an address of another server of the relay (resolving the peers' host names again
// when their addresses are older than relayPeerTTL, or when ip is not among them and they were not resolved in the
// last relayPeerRefresh).
func (s *Server) isPeer(ip netip.Addr) bool {
	st := &s.relay
	st.peerMu.Lock()
	defer st.peerMu.Unlock()
	_, known := st.peers[ip]
	now := time.Now()
	if now.Sub(st.resolved) < relayPeerTTL && (known || now.Sub(st.refreshed) < relayPeerRefresh) {
		return known
	}
	st.refreshed = now
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res := s.resolver()
	peers := make(map[netip.Addr]int32)
	for k := range s.Relay.Slices {
		if k == s.Relay.Self {
			continue
		}
		addrs, err := res.LookupNetIP(ctx, "ip", s.Relay.Peer(k))
		if err != nil {
			continue // a peer that is not running has no address: the others still count
		}
		for _, a := range addrs {
			peers[a.Unmap()] = k
		}
	}
	st.peers, st.resolved = peers, now
	_, known = peers[ip]
	return known
}
