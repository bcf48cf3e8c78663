package ftpd

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingAuth counts evaluated passwords and makes each one slow, as
// bcrypt is.
type countingAuth struct {
	Authenticator
	calls atomic.Int32
	delay time.Duration
}

func (a *countingAuth) Authenticate(ctx context.Context, user, pass string) (*User, error) {
	a.calls.Add(1)
	time.Sleep(a.delay)
	return a.Authenticator.Authenticate(ctx, user, pass)
}

// A success from the same IP (another account the attacker owns) must not
// reset the failures counted for the attacked user.
func TestLockoutSuccessDoesNotClearOtherUsers(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.Lockout = LockoutPolicy{Threshold: 3, Backoff: time.Minute}
	})
	r := dialRaw(t, e.addr, "")
	for i := 0; i < 8; i++ {
		r.must(331, "USER acme")
		if code, msg := r.cmd("PASS guess%d", i); code != 530 {
			t.Fatalf("guess %d: %d %s", i, code, msg)
		}
		// The attacker's own account, from the same address.
		o := dialRaw(t, e.addr, "")
		o.login("other", "other-secret")
		o.must(221, "QUIT")
	}
	r.must(331, "USER acme")
	if msg := r.must(530, "PASS secret"); !strings.Contains(msg, "Too many") {
		t.Fatalf("after 8 guesses interleaved with successes of another user: %q, want locked", msg)
	}
}

// Five wrong passwords for one user behind a NAT address do not lock out the
// other users behind it.
func TestLockoutPerUserNotPerIP(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.Lockout = LockoutPolicy{Threshold: 5, Backoff: time.Minute}
	})
	r := dialRaw(t, e.addr, "")
	for i := 0; i < 5; i++ {
		r.must(331, "USER acme")
		r.must(530, "PASS wrong")
	}
	r.must(331, "USER acme")
	if msg := r.must(530, "PASS secret"); !strings.Contains(msg, "Too many") {
		t.Fatalf("acme not locked: %q", msg)
	}
	r2 := dialRaw(t, e.addr, "")
	r2.login("other", "other-secret")
}

// concurrentPASS logs n sessions of acme in at once from one IP, each with password(i), against an engine whose
// password check takes delay (as bcrypt does), and checks every reply is want. It returns how many passwords the
// engine evaluated.
func concurrentPASS(t *testing.T, n, threshold int, delay time.Duration, password func(int) string, want int) int32 {
	t.Helper()
	var ca *countingAuth
	e := newEnv(t, func(s *Server) {
		ca = &countingAuth{Authenticator: s.Auth, delay: delay}
		s.Auth = ca
		s.Lockout = LockoutPolicy{Threshold: threshold, Backoff: time.Minute}
	})
	rs := make([]*raw, n)
	for i := range rs {
		rs[i] = dialRaw(t, e.addr, "")
		rs[i].must(331, "USER acme")
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = rs[i].tp.PrintfLine("PASS %s", password(i))
			if code, msg, _ := rs[i].tp.ReadResponse(0); code != want {
				t.Errorf("PASS %d: %d %s", i, code, msg)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d concurrent PASS answered in %v; %d evaluated", n, time.Since(start), ca.calls.Load())
	return ca.calls.Load()
}

// Concurrent PASS from one IP: the attempt is reserved before the (slow)
// password check, so at most Threshold passwords are ever evaluated.
func TestLockoutConcurrentAttemptsReserved(t *testing.T) {
	const n, threshold = 40, 5
	got := concurrentPASS(t, n, threshold, 200*time.Millisecond, func(i int) string { return fmt.Sprintf("wrong%d", i) }, 530)
	if got > threshold {
		t.Fatalf("%d passwords evaluated, want at most %d", got, threshold)
	}
}

// Parallel sessions of one user from one address (a client opening several
// connections at once) all log in: an attempt held back only by attempts in
// flight waits for them instead of being refused.
func TestLockoutConcurrentCorrectLoginsAllSucceed(t *testing.T) {
	const n, threshold = 20, 3
	if got := concurrentPASS(t, n, threshold, 50*time.Millisecond, func(int) string { return "secret" }, 230); got != n {
		t.Fatalf("%d passwords evaluated, want %d", got, n)
	}
}

// Guessing one user from many addresses locks that user everywhere (at
// UserThreshold); spraying many users from one address locks the address (at
// IPThreshold); neither touches unrelated users or addresses.
func TestLockoutUserAndIPScopes(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLockout(LockoutPolicy{Threshold: 3, UserThreshold: 6, IPThreshold: 9, Backoff: time.Minute})
	l.now = func() time.Time { return now }
	ipN := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	// Two failures each from three addresses: no pair reaches 3, the user reaches 6.
	for i := 0; i < 6; i++ {
		lockFail(t, l, ipN(i/2), "victim")
	}
	if _, wait, refused := l.begin(ipN(200), "victim"); !refused || wait <= 0 {
		t.Fatalf("victim from a fresh address: refused=%v wait=%v, want locked", refused, wait)
	}
	if a, _, refused := l.begin(ipN(200), "bystander"); refused {
		t.Fatal("another user refused")
	} else {
		l.end(a, true)
	}
	// Spraying: two failures each for many users from one address.
	sprayer := ipN(250)
	for i := 0; i < 9; i++ {
		lockFail(t, l, sprayer, fmt.Sprintf("user%d", i/2))
	}
	if _, _, refused := l.begin(sprayer, "fresh-user"); !refused {
		t.Fatal("spraying address not locked")
	}
	// A success of another user from that address clears nothing.
	if a, _, refused := l.begin(ipN(251), "user0"); !refused {
		l.end(a, true)
	}
	if _, _, refused := l.begin(sprayer, "fresh-user"); !refused {
		t.Fatal("lock of the spraying address cleared")
	}
}

// Expiry is in time order: with 100,000 live entries a failure examines O(1)
// entries (the old code scanned the whole map past 1,024 addresses), and
// expired entries go, oldest first.
func TestLockoutExpiryIsConstantPerFailure(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLockout(LockoutPolicy{MaxBackoff: time.Minute})
	l.now = func() time.Time { return now }
	const n = 100000
	for i := 0; i < n; i++ {
		lockFail(t, l, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), fmt.Sprint("u", i))
		if i == n/2 {
			now = now.Add(30 * time.Second)
		}
	}
	l.visited = 0
	for i := 0; i < 100; i++ {
		lockFail(t, l, netip.AddrFrom4([4]byte{11, 0, 0, byte(i)}), fmt.Sprint("x", i))
	}
	if l.visited > 2*100 {
		t.Fatalf("100 failures examined %d entries, want O(1) each", l.visited)
	}
	// 45 s later the first half (30 s older; three scopes each) has
	// expired, the second not.
	now = now.Add(45 * time.Second)
	before := len(l.entries)
	lockFail(t, l, netip.MustParseAddr("192.0.2.9"), "y")
	if dropped, want := before+3-len(l.entries), 3*(n/2+1); dropped != want {
		t.Fatalf("expired %d entries, want the %d older ones", dropped, want)
	}
}

// BenchmarkLockoutFailure100k measures one failed login with 100,000 client
// addresses known, and reports the ratio against 1,000 measured in the same
// run (about 1 when the cost does not grow with the table).
func BenchmarkLockoutFailure100k(b *testing.B) {
	perOp := func(known, ops int) time.Duration {
		l := newLockout(LockoutPolicy{})
		for i := 0; i < known; i++ {
			a, _, _ := l.begin(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), strconv.Itoa(i))
			l.end(a, false)
		}
		start := time.Now()
		for i := 0; i < ops; i++ {
			a, _, _ := l.begin(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), strconv.Itoa(i))
			l.end(a, false)
		}
		return time.Since(start) / time.Duration(ops)
	}
	base := perOp(1000, 20000)
	b.ResetTimer()
	big := perOp(100000, max(b.N, 1))
	b.ReportMetric(float64(big.Nanoseconds()), "ns/failure@100k")
	b.ReportMetric(float64(big)/float64(base), "x-vs-1k")
}
