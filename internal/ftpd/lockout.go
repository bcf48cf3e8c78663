package ftpd

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"
)

// LockoutPolicy bounds password guessing. Failed logins are counted in three
// scopes, each with its own threshold:
//
//   - one user from one client IP (Threshold, default 5): the usual case of
//     someone guessing one account; other users behind the same address (a
//     NAT, a load balancer without PROXY protocol) are not affected;
//   - one user from all IPs (UserThreshold, default 4×Threshold): guessing
//     one account from many addresses. This lock applies to every address, so
//     whoever knows a user name can keep it locked (bounded by MaxBackoff);
//     that is the price of stopping distributed guessing;
//   - one client IP over all users (IPThreshold, default 10×Threshold):
//     spraying one password over many accounts from one address.
//
// A scope that reaches its threshold is locked for Backoff; each further
// lockout of the same scope doubles the duration up to MaxBackoff. Counts are
// forgotten after MaxBackoff without a failure. A login attempt is reserved
// before the password is checked, so concurrent attempts count too: once
// failures plus attempts in flight reach a threshold, further attempts are
// refused without evaluating the password. A successful login clears only the
// failures of that user from that IP; it never clears another user's
// failures, nor the user-wide or IP-wide counts. Zero values take the
// defaults (5 failures, 30 s, 15 min).
type LockoutPolicy struct {
	Threshold     int
	UserThreshold int
	IPThreshold   int
	Backoff       time.Duration
	MaxBackoff    time.Duration
	Disabled      bool
}

// Lockout defaults (one place for each).
const (
	// loginQueueTimeout bounds how long a login waits for attempts in flight
	// of the same scope to end (see acquire).
	loginQueueTimeout = 10 * time.Second

	DefaultLockoutThreshold       = 5
	DefaultLockoutBackoff         = 30 * time.Second
	DefaultLockoutMaxBackoff      = 15 * time.Minute
	defaultUserThresholdFactor    = 4
	defaultIPThresholdFactor      = 10
	lockScopes                    = 3
	scopePair, scopeUser, scopeIP = 0, 1, 2
)

// lockKey names one counting scope: scopePair {ip, user}, scopeUser {user},
// scopeIP {ip}.
type lockKey struct {
	scope uint8
	ip    netip.Addr
	user  string
}

type lockoutEntry struct {
	key      lockKey
	failures int
	inflight int
	strikes  int // how many times locked
	until    time.Time
	last     time.Time     // last failure or attempt; the entry expires at last+MaxBackoff
	elem     *list.Element // in lockout.order
}

// lockout is the state of a LockoutPolicy. Entries are kept in a list ordered
// by last use, which is also their order of expiry (every use sets last to
// now and moves the entry to the back), so expiring is O(1) amortised per
// operation, whatever the number of entries.
type lockout struct {
	policy  LockoutPolicy
	mu      sync.Mutex
	entries map[lockKey]*lockoutEntry
	order   *list.List    // of *lockoutEntry, least recently used first
	changed chan struct{} // closed (and replaced) whenever an attempt ends
	now     func() time.Time
	visited int // entries examined by expire (for tests)
}

func newLockout(p LockoutPolicy) *lockout {
	if p.Threshold <= 0 {
		p.Threshold = DefaultLockoutThreshold
	}
	if p.UserThreshold <= 0 {
		p.UserThreshold = defaultUserThresholdFactor * p.Threshold
	}
	if p.IPThreshold <= 0 {
		p.IPThreshold = defaultIPThresholdFactor * p.Threshold
	}
	if p.Backoff <= 0 {
		p.Backoff = DefaultLockoutBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultLockoutMaxBackoff
	}
	return &lockout{policy: p, entries: make(map[lockKey]*lockoutEntry), order: list.New(), now: time.Now,
		changed: make(chan struct{})}
}

func (l *lockout) threshold(scope uint8) int {
	switch scope {
	case scopeUser:
		return l.policy.UserThreshold
	case scopeIP:
		return l.policy.IPThreshold
	}
	return l.policy.Threshold
}

func keysOf(ip netip.Addr, user string) [lockScopes]lockKey {
	return [lockScopes]lockKey{
		{scope: scopePair, ip: ip, user: user},
		{scope: scopeUser, user: user},
		{scope: scopeIP, ip: ip},
	}
}

// loginAttempt is a reserved login attempt; finish it with end.
type loginAttempt struct {
	keys [lockScopes]lockKey
	ok   bool // reserved (false when the lockout is disabled)
}

// begin reserves a login attempt of user from ip. When a scope is locked, or
// its failures plus attempts in flight already reach its threshold, it
// returns refused=true and how long the lock still lasts (0 when only
// attempts in flight block it).
func (l *lockout) begin(ip netip.Addr, user string) (a loginAttempt, wait time.Duration, refused bool) {
	if l.policy.Disabled {
		return a, 0, false
	}
	a.keys = keysOf(ip, user)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.expire(now)
	for _, k := range a.keys {
		e := l.entries[k]
		if e == nil {
			continue
		}
		if d := e.until.Sub(now); d > 0 {
			wait, refused = max(wait, d), true
		} else if e.failures+e.inflight >= l.threshold(k.scope) {
			refused = true
		}
	}
	if refused {
		return loginAttempt{}, wait, true
	}
	for _, k := range a.keys {
		e := l.entries[k]
		if e == nil {
			e = &lockoutEntry{key: k}
			e.elem = l.order.PushBack(e)
			l.entries[k] = e
		}
		e.inflight++
		l.touch(e, now)
	}
	a.ok = true
	return a, 0, false
}

// acquire is begin for a session: an attempt held back only by attempts in
// flight (none locked yet) waits for them to end instead of being refused, so
// parallel sessions of one user from one address (a client opening several
// connections at once) all log in, while a burst of guesses still has at most
// a threshold's worth evaluated: once those fail the scope is locked and the
// waiters are refused. ctx bounds the wait; when it ends the attempt is refused.
func (l *lockout) acquire(ctx context.Context, ip netip.Addr, user string) (a loginAttempt, wait time.Duration, refused bool) {
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		a, wait, refused = l.begin(ip, user)
		if !refused || wait > 0 {
			return a, wait, refused
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return a, 0, true
		}
	}
}

// end finishes a reserved attempt; it reports whether a scope became locked.
func (l *lockout) end(a loginAttempt, success bool) (locked bool) {
	if !a.ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() {
		close(l.changed)
		l.changed = make(chan struct{})
	}()
	now := l.now()
	for _, k := range a.keys {
		e := l.entries[k]
		if e == nil {
			continue // cannot happen: entries in flight are never expired
		}
		e.inflight--
		switch {
		case success && k.scope == scopePair:
			e.failures, e.strikes, e.until = 0, 0, time.Time{}
		case !success:
			e.failures++
			l.touch(e, now)
			if e.failures >= l.threshold(k.scope) {
				e.failures = 0
				d := l.policy.Backoff << min(e.strikes, 20)
				if d > l.policy.MaxBackoff || d <= 0 {
					d = l.policy.MaxBackoff
				}
				e.strikes++
				e.until = now.Add(d)
				locked = true
			}
		}
		if e.failures == 0 && e.inflight == 0 && e.strikes == 0 {
			l.remove(e)
		}
	}
	return locked
}

// lockedFor reports how long the scope key stays locked (tests).
func (l *lockout) lockedFor(k lockKey) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[k]; e != nil {
		return max(e.until.Sub(l.now()), 0)
	}
	return 0
}

func (l *lockout) touch(e *lockoutEntry, now time.Time) {
	e.last = now
	l.order.MoveToBack(e.elem)
}

func (l *lockout) remove(e *lockoutEntry) {
	l.order.Remove(e.elem)
	delete(l.entries, e.key)
}

// expire drops entries unused for longer than MaxBackoff, oldest first. A
// lock never outlasts its entry: until <= last+MaxBackoff, as until is set
// (at most MaxBackoff ahead) when last is. It stops at the first entry still
// alive, so the cost is O(1) amortised: each entry is removed once.
func (l *lockout) expire(now time.Time) {
	for f := l.order.Front(); f != nil; f = l.order.Front() {
		e := f.Value.(*lockoutEntry)
		l.visited++
		if now.Sub(e.last) <= l.policy.MaxBackoff {
			return
		}
		if e.inflight > 0 {
			l.touch(e, now) // an attempt still running (at most once per attempt)
			continue
		}
		l.remove(e)
	}
}
