package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// Server is an FTP server. Configure the exported fields before the first
// Serve call and do not change them afterwards (use SetPublicAddress for the
// address).
type Server struct {
	Addr string // control address for ListenAndServe, default ":21"

	Auth Authenticator // required
	// FileSystems serves the users' files from a file system, e.g. RootFS{Dir: "/srv/ftp"}; required unless
	// Storage is set.
	FileSystems FileSystemProvider
	// Storage, when set, serves the users' files instead of FileSystems (for example object storage).
	Storage StorageProvider

	TLSConfig *tls.Config // nil disables AUTH TLS and implicit TLS
	TLSMode   TLSMode     // default TLSExplicit
	// TLSSessionReuseOptional accepts PROT P data connections that do not resume the TLS session of their own
	// control connection. By default (false) they must, like vsftpd's require_ssl_reuse: that is what stops
	// someone who reaches the passive port first from taking the data (a data connection that does not resume is
	// closed unread, with 522). Set it only for clients that cannot resume: then any connection from the client's
	// IP that reaches the passive port first gets the data. Requires TLSConfig with session tickets enabled.
	TLSSessionReuseOptional bool

	PassivePorts PortRange
	PassiveHost  string // IP the passive listeners bind to; "" = all interfaces
	// PassiveMux lets different client IPs share one passive port: the data
	// connection is matched to the waiting session by client IP.
	PassiveMux bool
	// PublicAddress is the initial advertised address (IP or DNS name).
	PublicAddress    string
	AddressOverrides []AddressOverride
	Resolver         Resolver      // default net.DefaultResolver
	DNSCacheTTL      time.Duration // default 30s

	ActiveMode bool // allow PORT/EPRT
	// AllowForeignData disables the rule that data connections (both
	// directions) must use the control connection's client IP. Enables FXP.
	AllowForeignData bool
	// ProxyProtocol requires a PROXY v1/v2 header on control and data
	// connections (behind a load balancer that sends it).
	ProxyProtocol bool
	// ProxyTrusted, when non-empty, limits ProxyProtocol to these upstreams:
	// they must send a header; other peers are served under their own
	// address and a header from them is not interpreted (no spoofing).
	ProxyTrusted []netip.Prefix

	// Relay, when set, makes this server one of several that share a passive range, each owning a slice: it also
	// accepts data connections for the other slices and relays them to their owners (see Relay).
	Relay *Relay

	IdleTimeout time.Duration // default 5m
	DataTimeout time.Duration // default 30s: waiting for/idle on a data connection, unused passive port, PASV wait
	// LoginTimeout bounds the time from connecting to a successful login
	// (default DefaultLoginTimeout; negative = only IdleTimeout applies).
	LoginTimeout time.Duration
	// MaxSessions and MaxSessionsPerIP cap concurrent control connections
	// (0 = DefaultMaxSessions / DefaultMaxSessionsPerIP, negative = unlimited).
	MaxSessions      int
	MaxSessionsPerIP int
	MaxLineLength    int   // default 4096 bytes
	BandwidthLimit   int64 // bytes/s per data connection, 0 = unlimited
	// UploadCloseGrace bounds how long a finished upload waits for a sign that the client died during it (its
	// control connection closing) before the file is renamed into place; default 50 ms, negative disables.
	UploadCloseGrace time.Duration

	// SyncUploads fsyncs each upload before it is renamed into place, so
	// that not even a power loss can expose a partial file (costs latency).
	SyncUploads bool
	Lockout     LockoutPolicy
	LoginDelay  time.Duration // delay before answering a failed PASS, default 500ms

	Banner  string
	Logger  *slog.Logger
	Metrics *Metrics
	// XferLog receives one line per transfer in XferLogFormat (nil = no transfer log).
	XferLog       io.Writer
	XferLogFormat XferLogFormat // default XferLogWuFTPD

	initOnce  sync.Once
	started   time.Time
	sweepOnce sync.Once
	addresses addressBook
	lock      *lockout
	pool      *passivePool
	xfer      *xferlog
	names     nameLocks
	relay     relayState

	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	sessions   map[*session]struct{}
	perIP      map[netip.Addr]int
	inShutdown atomic.Bool
	serving    atomic.Int32
	wg         sync.WaitGroup
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.started = time.Now()
		s.addresses.resolver = s.Resolver
		s.addresses.ttl = s.DNSCacheTTL
		s.addresses.set(s.PublicAddress)
		s.lock = newLockout(s.Lockout)
		s.pool = newPassivePool(s)
		s.Metrics.passiveRange(s.PassivePorts.Size())
		s.xfer = &xferlog{w: s.XferLog, format: s.XferLogFormat}
		s.listeners = make(map[net.Listener]struct{})
		s.sessions = make(map[*session]struct{})
		s.perIP = make(map[netip.Addr]int)
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// uploadCloseGrace is how long an upload that took elapsed waits, after its data connection ended, for a sign
// that the client's control connection closed too (a client killed mid-upload): a quarter of the transfer's
// time, at most UploadCloseGrace (default 50 ms). A client can only die during a transfer, so short transfers,
// where that is unlikely, pay next to nothing, and a long one pays at most 50 ms.
func (s *Server) uploadCloseGrace(elapsed time.Duration) time.Duration {
	if s.UploadCloseGrace < 0 {
		return 0
	}
	return min(durOr(s.UploadCloseGrace, 50*time.Millisecond), elapsed/4)
}

// Session defaults (one place for each). A pod serves many users, so the
// caps bound what one client address (or a runaway script) can hold without
// getting in the way of parallel transfers: 64 sessions per address covers
// lftp/curl parallelism and a few dozen CI jobs behind one NAT; raise it when
// many clients share an address (a load balancer that hides client IPs). An
// idle session costs about 7 KiB (TestIdleSessionMemory), so 1024 sessions stay far below a pod's
// memory and file-descriptor limits. Logging in takes a client well under a
// second; 30 s leaves room for a slow TLS handshake and a human typing.
const (
	DefaultMaxSessions      = 1024
	DefaultMaxSessionsPerIP = 64
	DefaultLoginTimeout     = 30 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultDataTimeout      = 30 * time.Second
)

func (s *Server) idleTimeout() time.Duration  { return durOr(s.IdleTimeout, DefaultIdleTimeout) }
func (s *Server) loginTimeout() time.Duration { return durOr(s.LoginTimeout, DefaultLoginTimeout) }
func (s *Server) maxSessions() int            { return limitOr(s.MaxSessions, DefaultMaxSessions) }
func (s *Server) maxSessionsPerIP() int       { return limitOr(s.MaxSessionsPerIP, DefaultMaxSessionsPerIP) }

// limitOr: 0 takes the default, negative means unlimited (returned as 0).
func limitOr(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}
func (s *Server) dataTimeout() time.Duration { return durOr(s.DataTimeout, DefaultDataTimeout) }
func (s *Server) tlsMode() TLSMode {
	if s.TLSMode == "" {
		return TLSExplicit
	}
	return s.TLSMode
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// SetPublicAddress replaces the address announced in PASV replies (an IP or a
// DNS name; "" = unknown). It is safe to call while sessions run; the next
// PASV reply uses the new address, and open sessions are kept.
func (s *Server) SetPublicAddress(addr string) {
	s.init()
	s.addresses.set(addr)
}

// CurrentPublicAddress returns the address currently announced ("" = unknown).
func (s *Server) CurrentPublicAddress() string {
	s.init()
	return s.addresses.get()
}

// Serving reports whether at least one listener is being served.
func (s *Server) Serving() bool { return s.serving.Load() > 0 && !s.inShutdown.Load() }

// storage is where the users' files are: Storage, or FileSystems through the local backend.
func (s *Server) storage() StorageProvider {
	if s.Storage != nil {
		return s.Storage
	}
	return FileSystemStorage{FileSystems: s.FileSystems}
}

// ListenAndServe listens on s.Addr and serves plain/explicit-TLS FTP.
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = ":21"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve accepts control connections on l. It always returns a non-nil error;
// after Shutdown or Close it is ErrServerClosed.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeImplicitTLS serves implicit FTPS (TLS from the first byte) on l.
func (s *Server) ServeImplicitTLS(l net.Listener) error {
	if s.TLSConfig == nil {
		return errors.New("ftpd: implicit TLS needs TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) validate() error {
	if s.Auth == nil || s.FileSystems == nil && s.Storage == nil {
		return errors.New("ftpd: Auth and FileSystems (or Storage) are required")
	}
	if err := s.PassivePorts.Validate(); err != nil {
		return fmt.Errorf("ftpd: passive ports: %w", err)
	}
	switch s.tlsMode() {
	case TLSExplicit:
	case TLSRequired, TLSImplicit:
		if s.TLSConfig == nil {
			return fmt.Errorf("ftpd: TLS mode %s needs TLSConfig", s.TLSMode)
		}
	default:
		return fmt.Errorf("ftpd: unknown TLS mode %q", s.TLSMode)
	}
	if s.Relay != nil {
		if err := s.Relay.validate(s.PassivePorts); err != nil {
			return err
		}
	}
	return s.validateSessionReuse()
}

func (s *Server) serve(l net.Listener, implicit bool) error {
	s.init()
	if err := s.validate(); err != nil {
		return err
	}
	if err := s.startRelay(); err != nil {
		l.Close()
		return err
	}
	l = s.proxyListener(l)
	if !s.trackListener(l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(l, false)
	s.serving.Add(1)
	defer s.serving.Add(-1)
	s.sweepOnce.Do(func() {
		var backend any = s.Storage
		if s.Storage == nil {
			backend = s.FileSystems
		}
		if sw, ok := backend.(UploadSweeper); ok {
			s.track(func() { s.sweepUploads(sw) })
		}
	})

	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, proxyproto.ErrNoProxyProtocol) || acceptRetryable(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting control connection: %w", err)
		}
		delay = 0
		if !s.track(func() { s.handleConn(c, implicit) }) {
			c.Close()
			return ErrServerClosed
		}
	}
}

// track runs f in a goroutine that Shutdown waits for, unless shutting down has begun: then f does not run and
// track returns false. A WaitGroup's Add from zero must not race its Wait; Shutdown sets inShutdown and then takes
// s.mu before it waits, so an Add under s.mu either comes first or sees the flag (the race detector caught Serve's
// upload sweep starting while an engine that failed at once was shutting down).
func (s *Server) track(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// acceptRetryable reports accept errors that pass (as net/http treats them): out of file descriptors, or a
// connection reset before it was accepted. Returning from Serve on them would drop every session.
func acceptRetryable(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}

// proxyListener wraps l for the PROXY protocol when enabled.
func (s *Server) proxyListener(l net.Listener) net.Listener {
	if !s.ProxyProtocol {
		return l
	}
	pl := &proxyproto.Listener{Listener: l, ReadHeaderTimeout: 5 * time.Second}
	if len(s.ProxyTrusted) > 0 {
		pl.ConnPolicy = func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if ap, err := netip.ParseAddrPort(o.Upstream.String()); err == nil {
				for _, p := range s.ProxyTrusted {
					if p.Contains(ap.Addr().Unmap()) {
						return proxyproto.REQUIRE, nil
					}
				}
			}
			// SKIP, not REJECT: FTP servers speak first, and detecting a
			// missing header would wait for client bytes that never come.
			// A header from an untrusted peer is then just a bad command.
			return proxyproto.SKIP, nil
		}
	}
	return pl
}

func (s *Server) trackListener(l net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return false
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func localIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// admit registers a session, enforcing the session limits.
func (s *Server) admit(ss *session) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return "421 Server shutting down.", false
	}
	if m := s.maxSessions(); m > 0 && len(s.sessions) >= m {
		s.Metrics.rejected("max_sessions")
		return "421 Too many users, try again later.", false
	}
	if m := s.maxSessionsPerIP(); m > 0 && s.perIP[ss.clientIP] >= m {
		s.Metrics.rejected("max_sessions_per_ip")
		return "421 Too many connections from your address.", false
	}
	s.sessions[ss] = struct{}{}
	s.perIP[ss.clientIP]++
	return "", true
}

func (s *Server) release(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ss)
	if s.perIP[ss.clientIP]--; s.perIP[ss.clientIP] <= 0 {
		delete(s.perIP, ss.clientIP)
	}
}

func (s *Server) handleConn(c net.Conn, implicit bool) {
	defer c.Close()
	ss := s.openSession(c, implicit)
	if ss == nil {
		return
	}
	defer s.release(ss)
	defer s.Metrics.sessionClosed()
	ss.serve()
}

// openSession runs what comes before a session's command loop: the implicit
// TLS handshake, the PROXY header, admission. It returns nil if the
// connection is to be closed. It is a function of its own, kept out of
// handleConn, so that its locals are not part of the stack frame that every
// idle session keeps (with them the idle call chain needs an 8 KiB stack
// instead of 4 KiB; TestIdleSessionMemory).
//
//go:noinline
func (s *Server) openSession(c net.Conn, implicit bool) *session {
	setOOBInline(c)
	var tb *tlsBinding
	if implicit {
		tb = s.newTLSBinding()
		tc := tls.Server(c, tb.control)
		_ = tc.SetDeadline(time.Now().Add(s.dataTimeout()))
		if err := tc.Handshake(); err != nil {
			s.logger().Debug("implicit TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			return nil
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	ss := newSession(s, c, tb)
	if ss.clientIP == (netip.Addr{}) {
		return nil // PROXY header missing or invalid
	}
	if msg, ok := s.admit(ss); !ok {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, msg+"\r\n")
		return nil
	}
	s.Metrics.sessionOpened()
	return ss
}

// Shutdown stops accepting connections, closes idle sessions with a 421 reply
// and waits for running transfers (relayed data connections too) to finish,
// until ctx is done: then the remaining sessions and relays are closed, Shutdown waits for them to end (an
// interrupted upload removes its temporary file) and returns ctx.Err.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.inShutdown.Store(true)
	s.closeListeners()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.sessions)
		for ss := range s.sessions {
			ss.wakeIfIdle()
		}
		s.mu.Unlock()
		if n == 0 {
			// No session left; relayed data connections (Relay) may still run: they drain under the same ctx.
			waited := make(chan struct{})
			go func() { s.wg.Wait(); close(waited) }()
			select {
			case <-waited:
				s.pool.closeAll()
				return nil
			case <-ctx.Done():
				s.closeRelayed()
				<-waited
				s.pool.closeAll()
				return ctx.Err()
			}
		}
		select {
		case <-ctx.Done():
			// Close what is left and wait until every session has ended, so
			// that interrupted uploads have removed their temporary files
			// before the caller (main) exits.
			s.closeSessions()
			s.closeRelayed()
			s.wg.Wait()
			s.pool.closeAll()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// sweepMargin keeps the sweep off files modified just before the start:
// file-system clocks are coarse (a file created right after the start can
// carry a slightly earlier time), and this server's first uploads must never
// be taken for leftovers.
const sweepMargin = 2 * time.Second

// sweepUploads removes the temporary upload files that a crash (or a kill
// after a drain timeout) left, modified before this server started.
func (s *Server) sweepUploads(sw UploadSweeper) {
	files, size, err := sw.SweepUploads(s.started.Add(-sweepMargin), s.inShutdown.Load)
	if files > 0 {
		s.logger().Warn("removed temporary files of interrupted uploads", "files", files, "bytes", size)
	}
	s.Metrics.staleUploads(files, size)
	if err != nil {
		s.logger().Error("sweeping temporary upload files", "err", err)
	}
}

// Close closes all listeners and connections immediately.
func (s *Server) Close() error {
	s.init()
	s.inShutdown.Store(true)
	s.closeListeners()
	s.closeSessions()
	s.closeRelayed()
	s.pool.closeAll()
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.Close()
	}
}

func (s *Server) closeSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.kill()
	}
}
