package ftpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

// A client that sends EPSV and then nothing must not hold the port for its
// whole session: the listener is closed after the data timeout, the port goes
// to the next client, and the idle session's transfer gets a clear 425.
func TestIdlePassivePortExpires(t *testing.T) {
	reg := promtext.NewRegistry()
	e := newEnv(t, func(s *Server) {
		s.PassivePorts = portrangetest.Free(t, 1)
		s.DataTimeout = 400 * time.Millisecond
		s.Metrics = NewMetrics(reg)
	})
	e.write(t, "acme/f.txt", "payload")
	idle := dialRaw(t, e.addr, "")
	idle.login("acme", "secret")
	port := idle.epsv()

	// The port is free again once the data timeout has passed.
	waitFor(t, 3*time.Second, "passive listener closed", func() bool {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return false
		}
		l.Close()
		return true
	})
	if got := metricValue(t, reg, "ftpd_passive_expired_total", ""); got != 1 {
		t.Errorf("ftpd_passive_expired_total = %v, want 1", got)
	}
	if got := metricValue(t, reg, "ftpd_passive_ports_in_use", ""); got != 0 {
		t.Errorf("ftpd_passive_ports_in_use = %v, want 0", got)
	}

	// Another session gets the port and transfers.
	other := dialRaw(t, e.addr, "")
	other.login("acme", "secret")
	p2 := other.epsv()
	dc := dialData(t, p2, "")
	other.must(150, "RETR f.txt")
	if got := readAll(t, dc); got != "payload" {
		t.Fatalf("RETR got %q", got)
	}
	other.expect(226)

	// The idle session learns that its port is gone, and can start again.
	code, msg := idle.cmd("RETR f.txt")
	if code != 425 || !strings.Contains(msg, "expired") {
		t.Fatalf("RETR on an expired port: %d %q, want 425 ... expired", code, msg)
	}
	idle.must(425, "RETR f.txt") // nothing prepared any more
	p3 := idle.epsv()
	dc = dialData(t, p3, "")
	idle.must(150, "RETR f.txt")
	if got := readAll(t, dc); got != "payload" {
		t.Fatalf("RETR after a new EPSV got %q", got)
	}
	idle.expect(226)
}

// A connected but unused data connection does not live for ever either.
func TestConnectedUnusedDataConnectionExpires(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 1); s.DataTimeout = 300 * time.Millisecond })
	e.write(t, "acme/f.txt", "x")
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	dc := dialData(t, r.epsv(), "")
	defer dc.Close()
	_ = dc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := dc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("unused data connection: read %v, want EOF (closed by the server)", err)
	}
	code, msg := r.cmd("RETR f.txt")
	if code != 425 || !strings.Contains(msg, "expired") {
		t.Fatalf("RETR: %d %q, want 425 ... expired", code, msg)
	}
}

// A session holds at most one pending passive port: a new PASV or EPSV gives
// the previous one back first.
func TestNewPassiveReleasesPrevious(t *testing.T) {
	reg := promtext.NewRegistry()
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 1); s.Metrics = NewMetrics(reg) })
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	for i := 0; i < 6; i++ {
		start := time.Now()
		if i%2 == 0 {
			r.epsv()
		} else {
			r.must(227, "PASV")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("passive command %d took %v: the session's previous port was not released", i, d)
		}
		if got := metricValue(t, reg, "ftpd_passive_ports_in_use", ""); got != 1 {
			t.Fatalf("after passive command %d: %v ports in use, want 1", i, got)
		}
	}
}

// Ports are handed out at random within the range, so the next one cannot be
// guessed from the last. Criteria are deterministic bounds far from what
// uniform draws produce (false failure probability < 1e-20), and far from
// what a cursor or a lowest-free policy produces.
func TestPassivePortsRandom(t *testing.T) {
	const draws = 200
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 100) })
	rng := e.srv.PassivePorts
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	ports := make([]int, draws)
	for i := range ports {
		ports[i] = r.epsv()
		if ports[i] < int(rng.Start) || ports[i] > int(rng.End) {
			t.Fatalf("port %d outside %v", ports[i], rng)
		}
	}
	next, same := 0, 0
	seen := map[int]bool{}
	for i, p := range ports {
		seen[p] = true
		if i == 0 {
			continue
		}
		prev := ports[i-1]
		if p == int(rng.Start)+(prev-int(rng.Start)+1)%int(rng.Size()) {
			next++
		}
		if p == prev {
			same++
		}
	}
	// Uniform over 100 ports: about 2 successors and 2 repeats expected, about 86 distinct ports.
	if next > 25 || same > 25 || len(seen) < 50 {
		t.Fatalf("ports look predictable: %d of %d followed their predecessor, %d repeated it, %d distinct; first: %v",
			next, draws-1, same, len(seen), ports[:20])
	}
}

// While the range is busy, PASV/EPSV waits for a port, first come first
// served, instead of answering 425.
func TestPassiveWaitFIFO(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 1); s.DataTimeout = 10 * time.Second })
	e.srv.init()
	p := e.srv.pool
	ip := netip.MustParseAddr("127.0.0.1")
	first, err := p.reserve(ip)
	if err != nil {
		t.Fatal(err)
	}
	type grant struct {
		who string
		pd  *pendingData
		err error
	}
	got := make(chan grant, 3)
	wait := func(who string) {
		pd, err := p.reserve(ip)
		got <- grant{who, pd, err}
	}
	queued := func(n int) func() bool {
		return func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.queue) == n }
	}
	go wait("early")
	waitFor(t, 3*time.Second, "first waiter queued", queued(1))
	go wait("late")
	waitFor(t, 3*time.Second, "second waiter queued", queued(2))
	select {
	case g := <-got:
		t.Fatalf("%s served while the only port is held (err %v)", g.who, g.err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Release()
	g := <-got
	if g.who != "early" || g.err != nil {
		t.Fatalf("after the first release: %s served (err %v), want early", g.who, g.err)
	}
	select {
	case g2 := <-got:
		t.Fatalf("%s served while early holds the port", g2.who)
	case <-time.After(100 * time.Millisecond):
	}
	g.pd.Release()
	if g = <-got; g.who != "late" || g.err != nil {
		t.Fatalf("after the second release: %s (err %v), want late", g.who, g.err)
	}
	g.pd.Release()
}

// A wait is bounded by the data timeout; then the reply is 425.
func TestPassiveWaitTimesOut(t *testing.T) {
	reg := promtext.NewRegistry()
	e := newEnv(t, func(s *Server) {
		s.PassivePorts = portrangetest.Free(t, 2)
		s.DataTimeout = 300 * time.Millisecond
		s.Metrics = NewMetrics(reg)
	})
	// Someone else holds every port of the range: the OS bind is the arbiter.
	rng := e.srv.PassivePorts
	for port := rng.Start; port <= rng.End; port++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
		if err != nil {
			t.Skipf("port %d taken: %v", port, err)
		}
		defer l.Close()
	}
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	start := time.Now()
	code, msg := r.cmd("EPSV")
	d := time.Since(start)
	if code != 425 || !strings.Contains(msg, "No passive port") {
		t.Fatalf("EPSV on a range held elsewhere: %d %q", code, msg)
	}
	if d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("425 after %v, want after the data timeout (300ms)", d)
	}
	if got := metricValue(t, reg, "ftpd_passive_waits_total", "timeout"); got != 1 {
		t.Errorf(`ftpd_passive_waits_total{result="timeout"} = %v, want 1`, got)
	}
}

// burst runs n sessions at once with the Go client in PASV mode, each
// downloading and uploading a small file, and returns how many got a 425.
func burst(t *testing.T, e *testEnv, n int) (refused int, took time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(60*time.Second), ftp.DialWithDisabledEPSV(true))
				if err != nil {
					return err
				}
				defer c.Quit()
				if err := c.Login("acme", "secret"); err != nil {
					return err
				}
				rc, err := c.Retr("small.txt")
				if err != nil {
					return fmt.Errorf("RETR: %w", err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(b) != "small file" {
					return fmt.Errorf("RETR got %q, %v", b, err)
				}
				if err := c.Stor(fmt.Sprintf("up/%03d.txt", i), bytes.NewReader([]byte("up "+strconv.Itoa(i)))); err != nil {
					return fmt.Errorf("STOR: %w", err)
				}
				return nil
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took = time.Since(start)
	for _, err := range errs {
		if strings.Contains(err.Error(), "425") {
			refused++
		}
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d sessions failed (%d with 425) in %v; first: %v", len(errs), n, refused, took, errs[0])
	}
	for i := 0; i < n; i++ {
		if got, ok := e.read(t, fmt.Sprintf("acme/up/%03d.txt", i)); !ok || got != "up "+strconv.Itoa(i) {
			t.Errorf("upload %d: %q", i, got)
			break
		}
	}
	return refused, took
}

// Issue 10 §4: a busy range is a short wait, not a refusal. 200 sessions at
// once complete on a 100-port range and on the operator's default 16 ports.
func TestPassiveBurst(t *testing.T) {
	for _, ports := range []int{100, 16} {
		t.Run(fmt.Sprintf("%d ports", ports), func(t *testing.T) {
			e := newEnv(t, func(s *Server) {
				s.PassivePorts = portrangetest.Free(t, ports)
				s.DataTimeout = 20 * time.Second
				s.MaxSessionsPerIP = -1
			})
			e.write(t, "acme/small.txt", "small file")
			if err := os.MkdirAll(filepath.Join(e.root, "acme/up"), 0o755); err != nil {
				t.Fatal(err)
			}
			refused, took := burst(t, e, 200)
			t.Logf("200 sessions on %d ports: %v, %d refused with 425", ports, took, refused)
			if took > 60*time.Second {
				t.Errorf("200 sessions took %v", took)
			}
		})
	}
}

// With multiplexing, a session waiting because its own IP already waits on
// every port does not hold back a later session from another IP.
func TestPassiveMuxWaitDoesNotBlockOtherIPs(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 1); s.PassiveMux = true })
	a := dialRaw(t, e.addr, "127.0.0.1")
	a.login("acme", "secret")
	a.epsv()
	b := dialRaw(t, e.addr, "127.0.0.1")
	b.login("acme", "secret")
	got := make(chan int, 1)
	go func() { code, _ := b.cmd("EPSV"); got <- code }()
	e.srv.init()
	waitFor(t, 3*time.Second, "b queued", func() bool {
		e.srv.pool.mu.Lock()
		defer e.srv.pool.mu.Unlock()
		return len(e.srv.pool.queue) == 1
	})
	c := dialRaw(t, e.addr, "127.0.0.2")
	c.login("other", "other-secret")
	start := time.Now()
	c.epsv()
	if d := time.Since(start); d > time.Second {
		t.Errorf("127.0.0.2 waited %v behind a waiter of 127.0.0.1", d)
	}
	a.must(221, "QUIT")
	if code := <-got; code != 229 {
		t.Fatalf("b: %d, want 229 once a is gone", code)
	}
}
