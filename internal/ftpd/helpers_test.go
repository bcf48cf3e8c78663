package ftpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
	"github.com/ftp-operator/ftp-operator/internal/promtext/promtexttest"
	"github.com/ftp-operator/ftp-operator/internal/testcert"
)

type testEnv struct {
	srv   *Server
	addr  string // control address
	root  string // server root dir
	users string // users file path
	done  chan error
}

const testUsers = `users:
  - name: acme
    password: secret
    home: /acme
    access: ReadWrite
  - name: other
    password: other-secret
    home: /other
  - name: reader
    password: r
    home: /acme
    access: ReadOnly
  - name: dropbox
    password: w
    home: /drop
    access: WriteOnly
`

func newEnv(t testing.TB, opts ...func(*Server)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	usersPath := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersPath, []byte(testUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := NewFileAuthenticator(usersPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{
		Auth:         auth,
		FileSystems:  RootFS{Dir: root},
		PassivePorts: portrangetest.Free(t, 50),
		PassiveHost:  "127.0.0.1",
		ActiveMode:   true,
		IdleTimeout:  20 * time.Second,
		DataTimeout:  5 * time.Second,
		LoginDelay:   -1,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() && os.Getenv("FTPD_DEBUG") != "" {
		srv.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{srv: srv, addr: l.Addr().String(), root: root, users: usersPath, done: make(chan error, 1)}
	go func() { e.done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-e.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return e
}

func (e *testEnv) write(t testing.TB, rel, content string) {
	t.Helper()
	p := filepath.Join(e.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) read(t testing.TB, rel string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, rel))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func (e *testEnv) dial(t testing.TB, user, pass string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(5 * time.Second)}, opts...)
	c, err := ftp.Dial(e.addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// raw is a minimal line client for protocol-level attacks.
type raw struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func dialRaw(t testing.TB, addr string, from string) *raw {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	r.expect(220)
	return r
}

// cmd sends a command and returns the reply code and text.
func (r *raw) cmd(format string, args ...any) (int, string) {
	r.t.Helper()
	if err := r.tp.PrintfLine(format, args...); err != nil {
		r.t.Fatalf("send %q: %v", format, err)
	}
	return r.read()
}

func (r *raw) read() (int, string) {
	r.t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

func (r *raw) expect(want int) string {
	r.t.Helper()
	code, msg := r.read()
	if code != want {
		r.t.Fatalf("got %d %q, want %d", code, msg, want)
	}
	return msg
}

func (r *raw) must(want int, format string, args ...any) string {
	r.t.Helper()
	code, msg := r.cmd(format, args...)
	if code != want {
		r.t.Fatalf("%s: got %d %q, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

func (r *raw) login(user, pass string) {
	r.t.Helper()
	r.must(331, "USER %s", user)
	r.must(230, "PASS %s", pass)
}

// epsv returns the data port from a 229 reply.
func (r *raw) epsv() int {
	r.t.Helper()
	msg := r.must(229, "EPSV")
	i := strings.Index(msg, "(|||")
	j := strings.LastIndex(msg, "|)")
	p, err := strconv.Atoi(msg[i+4 : j])
	if err != nil {
		r.t.Fatalf("bad 229 %q", msg)
	}
	return p
}

// pasv returns the address from a 227 reply.
func parse227(t testing.TB, msg string) netip.AddrPort {
	t.Helper()
	i, j := strings.Index(msg, "("), strings.Index(msg, ")")
	if i < 0 || j < i {
		t.Fatalf("bad 227 %q", msg)
	}
	ap, err := ParsePORT(msg[i+1 : j])
	if err != nil {
		t.Fatalf("bad 227 %q: %v", msg, err)
	}
	return ap
}

func dialData(t testing.TB, port int, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("data dial: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *testEnv) sessions() int {
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	return len(e.srv.sessions)
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost as dir/tls.crt and dir/tls.key (each
// renamed into place, so a concurrent reload never sees half a pair) and returns the file paths and the certificate.
func selfSigned(t testing.TB, dir, cn string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	c := testcert.New(t, testcert.Options{CommonName: cn, Hosts: []string{"127.0.0.1", "localhost"}})
	certFile, keyFile = c.WriteFiles(t, dir)
	return certFile, keyFile, c.X509
}

// certReloader serves a certificate from selfSigned(t, dir, cn); selfSigned(t, dir, …) again replaces it. It
// returns the reloader and the certificate it serves first.
func certReloader(t testing.TB, dir, cn string) (*CertReloader, *x509.Certificate) {
	t.Helper()
	certFile, keyFile, cert := selfSigned(t, dir, cn)
	cr, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cr, cert
}

func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	testcert.WriteAtomic(t, path, data)
}

// clientTLS is a client config that resumes the control connection's TLS session on data connections, as FTPS
// clients do (the engine requires it by default).
func clientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func newTP(c net.Conn) *textproto.Conn { return textproto.NewConn(c) }

// metricValue returns the value of a counter or gauge; label, if set, must
// equal one of the series' label values.
func metricValue(t testing.TB, reg *promtext.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := promtexttest.Gatherer(reg).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
