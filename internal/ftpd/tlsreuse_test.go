package ftpd

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// resumingTLS is clientTLS (one session cache for the control and data connections, as FTPS clients have) up to
// maxVersion.
func resumingTLS(maxVersion uint16) *tls.Config {
	c := clientTLS()
	c.MaxVersion = maxVersion
	return c
}

// ftpsRaw logs in over AUTH TLS with cfg and sets PBSZ 0 / PROT P.
func ftpsRaw(t testing.TB, addr string, cfg *tls.Config, user, pass string) *raw {
	t.Helper()
	r := dialRaw(t, addr, "127.0.0.1")
	r.must(234, "AUTH TLS")
	tc := tls.Client(r.c, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("control handshake: %v", err)
	}
	r2 := &raw{t: t, c: tc, tp: newTP(tc)}
	r2.login(user, pass) // reading the replies also reads TLS 1.3 session tickets
	r2.must(200, "PBSZ 0")
	r2.must(200, "PROT P")
	return r2
}

// passivePort asks for a passive port with PASV or EPSV.
func (r *raw) passivePort(epsv bool) int {
	r.t.Helper()
	if epsv {
		return r.epsv()
	}
	return int(parse227(r.t, r.must(227, "PASV")).Port())
}

// TestStolenPassiveDataRefused: a victim's PROT P transfer is pending on a passive port; an attacker from the same
// address reaches the port first and completes a TLS handshake, either fresh or by resuming a ticket of its own
// FTP session. The attacker must neither receive the victim's download nor supply the victim's upload; the victim
// gets 522 and its session goes on working with a resumed data connection.
func TestStolenPassiveDataRefused(t *testing.T) {
	cr, _ := certReloader(t, t.TempDir(), "x")
	const secret = "the victim's secret payload"
	for _, version := range []struct {
		name string
		max  uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		for _, attacker := range []string{"fresh handshake", "own session's ticket"} {
			for _, verb := range []string{"RETR", "STOR"} {
				t.Run(version.name+"/"+attacker+"/"+verb, func(t *testing.T) {
					e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig() })
					e.write(t, "acme/f.txt", secret)
					victimTLS := resumingTLS(version.max)
					victim := ftpsRaw(t, e.addr, victimTLS, "acme", "secret")
					attackerTLS := &tls.Config{InsecureSkipVerify: true, MaxVersion: version.max}
					if attacker == "own session's ticket" {
						// A logged-in user of the same server, holding valid tickets of its own session.
						attackerTLS = resumingTLS(version.max)
						own := ftpsRaw(t, e.addr, attackerTLS, "other", "other-secret")
						own.must(200, "NOOP")
					}
					port := victim.passivePort(version.max == tls.VersionTLS13)

					thief := dialData(t, port, "127.0.0.1")
					defer thief.Close()
					arg := "f.txt"
					if verb == "STOR" {
						arg = "up.txt"
					}
					if err := victim.tp.PrintfLine("%s %s", verb, arg); err != nil {
						t.Fatal(err)
					}
					tc := tls.Client(thief, attackerTLS)
					var got []byte
					if err := tc.Handshake(); err == nil {
						if verb == "RETR" {
							got, _ = io.ReadAll(tc)
						} else {
							_, _ = tc.Write([]byte("attacker bytes"))
							_ = tc.CloseWrite()
							_, _ = io.ReadAll(tc)
						}
						tc.Close()
					}
					victim.expect(150)
					code, msg := victim.read()
					if len(got) > 0 {
						t.Fatalf("the attacker received %q", got)
					}
					if code != 522 || !strings.Contains(msg, "reuse the control connection's TLS session") {
						t.Fatalf("victim got %d %q, want 522 (reuse required)", code, msg)
					}
					if s, ok := e.read(t, "acme/up.txt"); ok {
						t.Fatalf("the attacker's bytes were stored under the victim's name: %q", s)
					}

					// The victim's session goes on: its own resumed data connection works.
					port = victim.passivePort(false)
					dc := dialData(t, port, "127.0.0.1")
					if err := victim.tp.PrintfLine("%s %s", verb, arg); err != nil {
						t.Fatal(err)
					}
					vtc := tls.Client(dc, victimTLS)
					if err := vtc.Handshake(); err != nil {
						t.Fatalf("victim's data handshake: %v", err)
					}
					if !vtc.ConnectionState().DidResume {
						t.Fatal("victim's data connection did not resume")
					}
					if verb == "RETR" {
						if b, _ := io.ReadAll(vtc); string(b) != secret {
							t.Fatalf("victim's RETR got %q", b)
						}
					} else {
						_, _ = vtc.Write([]byte("victim bytes"))
						_ = vtc.CloseWrite()
					}
					vtc.Close()
					victim.expect(150)
					victim.expect(226)
					if verb == "STOR" {
						if s, _ := e.read(t, "acme/up.txt"); s != "victim bytes" {
							t.Fatalf("stored %q", s)
						}
					}
				})
			}
		}
	}
}

// TestSessionReuseRequiredByDefault: a client without a session cache is refused with a clear 522 and its session
// stays usable; TLSSessionReuseOptional lets it through.
func TestSessionReuseRequiredByDefault(t *testing.T) {
	cr, _ := certReloader(t, t.TempDir(), "x")
	for _, optional := range []bool{false, true} {
		e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig(); s.TLSSessionReuseOptional = optional })
		e.write(t, "acme/f.txt", "payload")
		noCache := &tls.Config{InsecureSkipVerify: true}
		c := e.dial(t, "acme", "secret", ftp.DialWithExplicitTLS(noCache))
		r, err := c.Retr("f.txt")
		if optional {
			if err != nil {
				t.Fatalf("optional reuse: %v", err)
			}
			if s := readAll(t, r); s != "payload" {
				t.Fatalf("optional reuse: got %q", s)
			}
			r.Close()
			continue
		}
		if err == nil {
			// The 522 may come with the close of the data connection.
			_, _ = io.ReadAll(r)
			err = r.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "522") ||
			!strings.Contains(err.Error(), "reuse the control connection's TLS session") {
			t.Fatalf("client without a session cache: %v, want 522", err)
		}
		if _, err := c.CurrentDir(); err != nil {
			t.Fatalf("session unusable after the 522: %v", err)
		}
		// The same client with a session cache is served.
		ok := e.dial(t, "acme", "secret", ftp.DialWithExplicitTLS(resumingTLS(0)))
		r, err = ok.Retr("f.txt")
		if err != nil {
			t.Fatal(err)
		}
		if s := readAll(t, r); s != "payload" {
			t.Fatalf("got %q", s)
		}
		r.Close()
	}
}

// TestSessionReuseImplicitTLS: implicit FTPS binds tickets too.
func TestSessionReuseImplicitTLS(t *testing.T) {
	cr, _ := certReloader(t, t.TempDir(), "x")
	e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig(); s.TLSMode = TLSImplicit })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeImplicitTLS(l)
	e.write(t, "acme/f.txt", "implicit payload")
	for _, cfg := range []*tls.Config{resumingTLS(0), {InsecureSkipVerify: true}} {
		c, err := ftp.Dial(l.Addr().String(), ftp.DialWithTLS(cfg), ftp.DialWithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("acme", "secret"); err != nil {
			t.Fatal(err)
		}
		r, err := c.Retr("f.txt")
		if err == nil {
			b, _ := io.ReadAll(r)
			err = errors.Join(r.Close())
			if err == nil && string(b) != "implicit payload" {
				t.Fatalf("got %q", b)
			}
		}
		resumes := cfg.ClientSessionCache != nil
		if resumes && err != nil {
			t.Fatalf("resuming client: %v", err)
		}
		if !resumes && (err == nil || !strings.Contains(err.Error(), "522")) {
			t.Fatalf("client without a session cache: %v, want 522", err)
		}
		c.Quit()
	}
}

// TestSessionReuseConfigChecks: configs that would defeat the requirement are refused at Serve.
func TestSessionReuseConfigChecks(t *testing.T) {
	base := func() *Server {
		return &Server{Auth: &FileAuthenticator{}, FileSystems: RootFS{Dir: t.TempDir()}, PassivePorts: PortRange{Start: 30000, End: 30001}}
	}
	for name, cfg := range map[string]*tls.Config{
		"tickets disabled": {SessionTicketsDisabled: true},
		"own WrapSession":  {WrapSession: func(tls.ConnectionState, *tls.SessionState) ([]byte, error) { return nil, nil }},
	} {
		s := base()
		s.TLSConfig = cfg
		if err := s.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		s.TLSSessionReuseOptional = true
		if err := s.validate(); err != nil {
			t.Errorf("%s with reuse optional: %v", name, err)
		}
	}
}

// TestSessionReuseAfterResumedControl: a client that resumes its control connection with a ticket of an earlier
// FTP session (clients keep one session cache per server) gets fresh tickets bound to the new session, so its data
// connections still resume.
func TestSessionReuseAfterResumedControl(t *testing.T) {
	cr, _ := certReloader(t, t.TempDir(), "x")
	e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig() })
	e.write(t, "acme/f.txt", "payload")
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := resumingTLS(max)
		for i := range 3 {
			c := e.dial(t, "acme", "secret", ftp.DialWithExplicitTLS(cfg))
			r, err := c.Retr("f.txt")
			if err != nil {
				t.Fatalf("TLS %x, session %d: %v", max, i, err)
			}
			if s := readAll(t, r); s != "payload" {
				t.Fatalf("got %q", s)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("TLS %x, session %d: %v", max, i, err)
			}
			c.Quit()
		}
	}
}
