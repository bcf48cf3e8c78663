package ftpd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// passivePool owns the passive listeners. A port's listener is opened when a
// session waits on it and closed as soon as nobody waits, so ports are reused
// promptly. Without multiplexing a port serves one waiting session; with it,
// one waiting session per client IP. Incoming data connections are handed to
// the session waiting for that client IP; all others are closed.
//
// Ports are chosen at random within the range (the next port cannot be
// guessed from the last one), and the OS bind decides whether a port is free.
// A reservation that sees no data connection within the data timeout expires:
// its listener is closed and the port goes to the next session. When every
// port is taken, reserve waits for one, first come first served, for at most
// the data timeout.
type passivePool struct {
	srv *Server

	mu     sync.Mutex
	slots  map[int]*portSlot
	queue  []*passiveWaiter // FIFO of sessions waiting for a port
	rnd    *mrand.Rand      // ChaCha8 seeded from crypto/rand: ports are not guessable
	order  []int            // offsets into the range, shuffled as they are tried
	closed bool
}

func newPassivePool(s *Server) *passivePool {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails on supported platforms (crypto/rand panics instead)
	return &passivePool{srv: s, slots: make(map[int]*portSlot), rnd: mrand.New(mrand.NewChaCha8(seed))}
}

type portSlot struct {
	port    int
	l       net.Listener
	waiters map[netip.Addr]*pendingData
}

// passiveWaiter is a session waiting for a port; done is closed once pd or
// err is set.
type passiveWaiter struct {
	key   netip.Addr
	anyIP bool
	done  chan struct{}
	pd    *pendingData
	err   error
}

// pendingState is where a reservation stands.
type pendingState int

const (
	pendingOpen     pendingState = iota // waiting for its data connection, or holding it unused
	pendingClaimed                      // a transfer has taken it: it no longer expires
	pendingExpired                      // unused within the data timeout: port and connection given back
	pendingReleased                     // given back by the session
)

// pendingData is a reserved passive port waiting for its data connection.
type pendingData struct {
	pool     *passivePool
	slot     *portSlot
	ip       netip.Addr
	anyIP    bool // AllowForeignData: accept the first connection from any IP
	ch       chan net.Conn
	Port     int  // listened port
	released bool // the port is given back (connection delivered, expired or released)
	state    pendingState
	expiry   *time.Timer
}

// reserve opens (or shares) a passive port for a session of client ip. When
// the range is busy it waits, behind earlier waiters, for at most the data
// timeout, and then fails with ErrNoPassivePorts.
func (p *passivePool) reserve(ip netip.Addr) (*pendingData, error) {
	s := p.srv
	key := ip
	anyIP := s.AllowForeignData && !s.PassiveMux
	if anyIP {
		key = netip.Addr{}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrServerClosed
	}
	w := &passiveWaiter{key: key, anyIP: anyIP, done: make(chan struct{})}
	if len(p.queue) == 0 {
		if pd := p.grantLocked(key, anyIP); pd != nil {
			p.mu.Unlock()
			return pd, nil
		}
		p.queue = append(p.queue, w)
	} else {
		// Behind earlier waiters; with multiplexing, what blocks them (their
		// own IP on every open port) may not block this one.
		p.queue = append(p.queue, w)
		p.serveLocked()
	}
	p.mu.Unlock()

	start := time.Now()
	t := time.NewTimer(s.dataTimeout())
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	}
	p.mu.Lock()
	if w.pd == nil && w.err == nil {
		p.dropWaiterLocked(w)
		w.err = fmt.Errorf("%w (range %s, waited %s)", ErrNoPassivePorts, s.PassivePorts, s.dataTimeout())
	}
	p.mu.Unlock()
	switch {
	case w.err == nil:
		s.Metrics.passiveWait("served", time.Since(start))
	case errors.Is(w.err, ErrNoPassivePorts):
		s.Metrics.passiveWait("timeout", time.Since(start))
	}
	return w.pd, w.err
}

// grantLocked reserves a port for key, trying the eligible ports in random
// order; it returns nil when none is free.
func (p *passivePool) grantLocked(key netip.Addr, anyIP bool) *pendingData {
	s := p.srv
	r := s.PassivePorts
	n := int(r.Size())
	if len(p.order) != n {
		p.order = make([]int, n)
		for i := range p.order {
			p.order[i] = i
		}
	}
	// A lazy Fisher-Yates shuffle: each step picks uniformly among the ports
	// not tried yet. The order left behind is as good a start as any.
	for i := 0; i < n; i++ {
		j := i + p.rnd.IntN(n-i)
		p.order[i], p.order[j] = p.order[j], p.order[i]
		port := int(r.Start) + p.order[i]
		slot := p.slots[port]
		if slot != nil {
			if !s.PassiveMux {
				continue
			}
			if _, busy := slot.waiters[key]; busy {
				continue
			}
		} else {
			l, err := p.listen(port)
			if err != nil {
				continue // the OS bind is the arbiter: someone else holds it
			}
			slot = &portSlot{port: port, l: l, waiters: make(map[netip.Addr]*pendingData)}
			p.slots[port] = slot
			s.Metrics.passive(1)
			go p.acceptLoop(slot)
		}
		pd := &pendingData{pool: p, slot: slot, ip: key, anyIP: anyIP, ch: make(chan net.Conn, 1), Port: port}
		slot.waiters[key] = pd
		pd.expiry = time.AfterFunc(s.dataTimeout(), pd.expire)
		return pd
	}
	return nil
}

// serveLocked hands free capacity to the waiters in arrival order. Without
// multiplexing any port suits any waiter, so the first that cannot be served
// ends the round; with it, a waiter whose IP already waits on every open port
// does not hold back waiters of other IPs.
func (p *passivePool) serveLocked() {
	if p.closed {
		return
	}
	kept := p.queue[:0]
	blocked := false
	for _, w := range p.queue {
		if !blocked {
			if pd := p.grantLocked(w.key, w.anyIP); pd != nil {
				w.pd = pd
				close(w.done)
				continue
			}
			blocked = !p.srv.PassiveMux
		}
		kept = append(kept, w)
	}
	clear(p.queue[len(kept):])
	p.queue = kept
}

func (p *passivePool) dropWaiterLocked(w *passiveWaiter) {
	if i := slices.Index(p.queue, w); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
	}
}

func (p *passivePool) listen(port int) (net.Listener, error) {
	addr := net.JoinHostPort(p.srv.PassiveHost, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("opening passive listener on %d: %w", port, err)
	}
	return p.srv.proxyListener(l), nil
}

func (p *passivePool) acceptLoop(slot *portSlot) {
	for {
		c, err := slot.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, proxyproto.ErrNoProxyProtocol) {
				continue
			}
			return // listener closed
		}
		// RemoteAddr may read a PROXY header: do it off the accept loop.
		go p.dispatch(slot, c)
	}
}

func (p *passivePool) dispatch(slot *portSlot, c net.Conn) {
	c, ok := p.srv.relayedIn(c) // a peer's relayed connection stands for its client
	if !ok {
		p.srv.Metrics.dataRefused()
		c.Close()
		return
	}
	ip := remoteIP(c)
	p.mu.Lock()
	pd := slot.waiters[ip]
	if pd == nil {
		pd = slot.waiters[netip.Addr{}] // AllowForeignData
	}
	if pd != nil && !pd.released {
		select {
		case pd.ch <- c:
			pd.releaseLocked()
			p.mu.Unlock()
			return
		default:
		}
	}
	p.mu.Unlock()
	p.srv.Metrics.dataRefused()
	p.srv.logger().Warn("refused data connection", "remote", c.RemoteAddr().String(), "port", slot.port)
	c.Close()
}

// releaseLocked unregisters the waiter, closes the listener if idle and
// hands the freed capacity to waiting sessions.
func (pd *pendingData) releaseLocked() {
	if pd.released {
		return
	}
	pd.released = true
	slot := pd.slot
	if slot.waiters[pd.ip] == pd {
		delete(slot.waiters, pd.ip)
	}
	if len(slot.waiters) == 0 && pd.pool.slots[slot.port] == slot {
		delete(pd.pool.slots, slot.port)
		slot.l.Close()
		pd.pool.srv.Metrics.passive(-1)
	}
	pd.pool.serveLocked()
}

// expire gives the port (and a connection that arrived but was never used)
// back when no transfer took the reservation within the data timeout.
func (pd *pendingData) expire() {
	p := pd.pool
	p.mu.Lock()
	if pd.state != pendingOpen {
		p.mu.Unlock()
		return
	}
	pd.state = pendingExpired
	pd.releaseLocked()
	p.mu.Unlock()
	pd.closeUnused()
	p.srv.Metrics.passiveExpired()
	p.srv.logger().Info("passive port expired: no transfer within the data timeout", "port", pd.Port,
		"client", pd.ip.String(), "timeout", p.srv.dataTimeout().String())
}

// Expired reports whether the reservation ran out before a transfer used it.
func (pd *pendingData) Expired() bool {
	pd.pool.mu.Lock()
	defer pd.pool.mu.Unlock()
	return pd.state == pendingExpired
}

// Release gives the port back; a delivered but unused connection is closed.
func (pd *pendingData) Release() {
	pd.expiry.Stop()
	pd.pool.mu.Lock()
	if pd.state != pendingExpired {
		pd.state = pendingReleased
	}
	pd.releaseLocked()
	pd.pool.mu.Unlock()
	pd.closeUnused()
}

func (pd *pendingData) closeUnused() {
	select {
	case c := <-pd.ch:
		c.Close()
	default:
	}
}

// Accept waits for the data connection.
func (pd *pendingData) Accept(ctx context.Context, timeout time.Duration) (net.Conn, error) {
	pd.pool.mu.Lock()
	if pd.state == pendingExpired {
		pd.pool.mu.Unlock()
		return nil, errPassiveExpired
	}
	pd.state = pendingClaimed
	pd.pool.mu.Unlock()
	pd.expiry.Stop()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case c := <-pd.ch:
		return c, nil
	case <-t.C:
		pd.Release()
		return nil, &ReplyError{Code: 425, Msg: "Can't open data connection: timed out."}
	case <-ctx.Done():
		pd.Release()
		return nil, errTransferAbort
	}
}

func (p *passivePool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, w := range p.queue {
		w.err = ErrServerClosed
		close(w.done)
	}
	clear(p.queue)
	p.queue = nil
	for port, slot := range p.slots {
		slot.l.Close()
		delete(p.slots, port)
		p.srv.Metrics.passive(-1)
	}
}
