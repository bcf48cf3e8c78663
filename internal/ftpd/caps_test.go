package ftpd

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// With no limits configured the defaults apply: one address cannot open more
// than DefaultMaxSessionsPerIP sessions.
func TestDefaultSessionCaps(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < DefaultMaxSessionsPerIP; i++ {
		dialRaw(t, e.addr, "127.0.0.1")
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "421") {
		t.Fatalf("session %d from one IP got %q, want 421", DefaultMaxSessionsPerIP+1, b)
	}
	// Another address is still served.
	dialRaw(t, e.addr, "127.0.0.2")
	if got := (&Server{}).maxSessions(); got != DefaultMaxSessions {
		t.Fatalf("default max sessions %d, want %d", got, DefaultMaxSessions)
	}
}

// A negative limit means unlimited.
func TestSessionCapsUnlimited(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.MaxSessionsPerIP = -1 })
	for i := 0; i < DefaultMaxSessionsPerIP+2; i++ {
		dialRaw(t, e.addr, "127.0.0.1")
	}
}

// A session that has not logged in within LoginTimeout is closed, even if it
// keeps sending commands; a logged-in session is not.
func TestLoginTimeout(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.LoginTimeout = 400 * time.Millisecond })
	r := dialRaw(t, e.addr, "")
	start := time.Now()
	var code int
	for time.Since(start) < 3*time.Second {
		time.Sleep(100 * time.Millisecond)
		if code, _ = r.cmd("NOOP"); code != 200 {
			break
		}
	}
	if code != 421 {
		t.Fatalf("unauthenticated session after %v: %d, want 421", time.Since(start), code)
	}
	if el := time.Since(start); el < 400*time.Millisecond || el > 2*time.Second {
		t.Fatalf("closed after %v, want about 400ms", el)
	}
	// Silent and unauthenticated: closed too.
	r2 := dialRaw(t, e.addr, "")
	_ = r2.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if code, _ := r2.read(); code != 421 {
		t.Fatalf("silent session: %d, want 421", code)
	}
	// Logged in: the login timeout no longer applies.
	r3 := dialRaw(t, e.addr, "")
	r3.login("acme", "secret")
	time.Sleep(700 * time.Millisecond)
	r3.must(257, "PWD")
	if got := (&Server{}).loginTimeout(); got != DefaultLoginTimeout {
		t.Fatalf("default login timeout %v, want %v", got, DefaultLoginTimeout)
	}
}
