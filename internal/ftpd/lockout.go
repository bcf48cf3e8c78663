package ftpd

import (
	"net/netip"
	"sync"
	"time"
)

// LockoutPolicy bounds password guessing per client IP. After Threshold
// consecutive failures an IP is locked for Backoff; every further lockout of
// the same IP doubles the duration up to MaxBackoff. A successful login resets
// the IP. Zero values take the defaults (5 failures, 30 s, 15 min).
type LockoutPolicy struct {
	Threshold  int
	Backoff    time.Duration
	MaxBackoff time.Duration
	Disabled   bool
}

type lockoutEntry struct {
	failures int
	strikes  int // how many times locked
	until    time.Time
	last     time.Time
}

type lockout struct {
	policy  LockoutPolicy
	mu      sync.Mutex
	entries map[netip.Addr]*lockoutEntry
	now     func() time.Time
}

func newLockout(p LockoutPolicy) *lockout {
	if p.Threshold <= 0 {
		p.Threshold = 5
	}
	if p.Backoff <= 0 {
		p.Backoff = 30 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 15 * time.Minute
	}
	return &lockout{policy: p, entries: make(map[netip.Addr]*lockoutEntry), now: time.Now}
}

// lockedFor returns how long ip stays locked (0 = not locked).
func (l *lockout) lockedFor(ip netip.Addr) time.Duration {
	if l.policy.Disabled {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[ip]
	if e == nil {
		return 0
	}
	if d := e.until.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failed login and reports whether the IP is now locked.
func (l *lockout) fail(ip netip.Addr) bool {
	if l.policy.Disabled {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.gcLocked(now)
	e := l.entries[ip]
	if e == nil {
		e = &lockoutEntry{}
		l.entries[ip] = e
	}
	e.last = now
	e.failures++
	if e.failures < l.policy.Threshold {
		return false
	}
	e.failures = 0
	d := l.policy.Backoff << min(e.strikes, 20)
	if d > l.policy.MaxBackoff || d <= 0 {
		d = l.policy.MaxBackoff
	}
	e.strikes++
	e.until = now.Add(d)
	return true
}

func (l *lockout) succeed(ip netip.Addr) {
	l.mu.Lock()
	delete(l.entries, ip)
	l.mu.Unlock()
}

// gcLocked drops entries idle for longer than MaxBackoff, keeping the map
// bounded by the number of IPs seen recently.
func (l *lockout) gcLocked(now time.Time) {
	if len(l.entries) < 1024 {
		return
	}
	for ip, e := range l.entries {
		if now.Sub(e.last) > l.policy.MaxBackoff && now.After(e.until) {
			delete(l.entries, ip)
		}
	}
}
