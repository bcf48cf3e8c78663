package ftpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
type passivePool struct {
	srv *Server

	mu     sync.Mutex
	slots  map[int]*portSlot
	cursor int
	closed bool
}

type portSlot struct {
	port    int
	l       net.Listener
	waiters map[netip.Addr]*pendingData
}

// pendingData is a reserved passive port waiting for its data connection.
type pendingData struct {
	pool     *passivePool
	slot     *portSlot
	ip       netip.Addr
	anyIP    bool // AllowForeignData: accept the first connection from any IP
	ch       chan net.Conn
	Port     int // listened port
	released bool
}

// reserve opens (or shares) a passive port for a session of client ip.
func (p *passivePool) reserve(ip netip.Addr) (*pendingData, error) {
	s := p.srv
	r := s.PassivePorts
	n := r.Len()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrServerClosed
	}
	key := ip
	anyIP := s.AllowForeignData && !s.PassiveMux
	if anyIP {
		key = netip.Addr{}
	}
	for i := 0; i < n; i++ {
		port := r.Start + (p.cursor+i)%n
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
		p.cursor = (p.cursor + i + 1) % n
		return pd, nil
	}
	return nil, fmt.Errorf("%w (range %s)", ErrNoPassivePorts, r)
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

// releaseLocked unregisters the waiter and closes the listener if idle.
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
}

// Release gives the port back; a delivered but unused connection is closed.
func (pd *pendingData) Release() {
	pd.pool.mu.Lock()
	pd.releaseLocked()
	pd.pool.mu.Unlock()
	select {
	case c := <-pd.ch:
		c.Close()
	default:
	}
}

// Accept waits for the data connection.
func (pd *pendingData) Accept(ctx context.Context, timeout time.Duration) (net.Conn, error) {
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
	for port, slot := range p.slots {
		slot.l.Close()
		delete(p.slots, port)
		p.srv.Metrics.passive(-1)
	}
}
