package ftpd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
)

func TestSTOU(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/report.txt", "original")
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	names := map[string]bool{}
	for i := 0; i < 3; i++ {
		dc := dialData(t, r.epsv(), "")
		msg := r.must(150, "STOU report.txt")
		_, _ = dc.Write([]byte("unique"))
		dc.Close()
		done := r.expect(226)
		i, j := strings.Index(done, "name: "), strings.LastIndex(done, ")")
		if i < 0 || j < i {
			t.Fatalf("226 without name: %q (150 was %q)", done, msg)
		}
		name := done[i+6 : j]
		if name == "report.txt" || names[name] {
			t.Fatalf("STOU reused name %q", name)
		}
		names[name] = true
		if s, _ := e.read(t, "acme/"+name); s != "unique" {
			t.Fatalf("STOU file %q = %q", name, s)
		}
	}
	if s, _ := e.read(t, "acme/report.txt"); s != "original" {
		t.Fatal("STOU overwrote the existing file")
	}
}

func TestAnonymousOnlyWhenConfigured(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.addr, "")
	r.must(331, "USER anonymous")
	r.must(530, "PASS guest@example.com")
	writeAtomic(t, e.users, []byte(testUsers+"  - name: anonymous\n    anonymous: true\n    home: /pub\n    access: ReadOnly\n"))
	e.write(t, "pub/readme.txt", "public")
	r.must(331, "USER anonymous")
	r.must(230, "PASS guest@example.com")
	r.must(213, "SIZE readme.txt")
	r.epsv()
	r.must(550, "STOR x.txt")
}

func TestEPSVAll(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.must(200, "EPSV ALL")
	r.must(503, "PASV")
	r.must(503, "PORT 127,0,0,1,195,80")
	r.must(503, "EPRT |1|127.0.0.1|50000|")
	r.epsv()
	r.must(522, "EPSV 2")
}

func TestDataConnectionTimeout(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.DataTimeout = 300 * time.Millisecond })
	e.write(t, "acme/f.txt", "x")
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.epsv()
	start := time.Now()
	r.must(425, "RETR f.txt") // nobody connects
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("425 after %v", d)
	}
	r.must(425, "RETR f.txt") // the reservation is gone
	r.must(200, "NOOP")
}

func TestBandwidthLimit(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.BandwidthLimit = 1 << 20 })
	e.write(t, "acme/f.bin", strings.Repeat("b", 768<<10))
	c := e.dial(t, "acme", "secret")
	start := time.Now()
	resp, err := c.Retr("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp)
	resp.Close()
	// 768 KiB at 1 MiB/s with a 256 KiB burst needs at least 0.5 s.
	if d := time.Since(start); n != 768<<10 || d < 450*time.Millisecond {
		t.Fatalf("%d bytes in %v: limit not applied", n, d)
	}
}

func TestTempNamesAreReserved(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.epsv()
	r.must(553, "STOR "+tmpPrefix+"0123.part")
	r.must(553, "DELE sub/"+tmpPrefix+"x")
}

func TestCloseDropsSessions(t *testing.T) {
	dir := t.TempDir()
	usersPath := filepath.Join(dir, "users.yaml")
	_ = os.WriteFile(usersPath, []byte(testUsers), 0o600)
	auth, _ := NewFileAuthenticator(usersPath)
	srv := &Server{Auth: auth, FileSystems: RootFS{Dir: dir}, PassivePorts: portrangetest.Free(t, 5), LoginDelay: -1}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	r := dialRaw(t, l.Addr().String(), "")
	r.login("acme", "secret")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != ErrServerClosed {
		t.Fatalf("Serve = %v", err)
	}
	// The session may still say 421 (it saw the shutdown before Close killed it); then the connection must end.
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(r.c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("session still open after Close")
	}
	if err := srv.Serve(l); err != ErrServerClosed {
		t.Fatalf("Serve after Close = %v", err)
	}
}

type countingResolver struct {
	n    atomic.Int32
	addr string
}

func (c *countingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	c.n.Add(1)
	return []netip.Addr{netip.MustParseAddr(c.addr)}, nil
}

func TestDNSCacheTTL(t *testing.T) {
	res := &countingResolver{addr: "192.0.2.1"}
	now := time.Unix(0, 0)
	b := &addressBook{resolver: res, ttl: 10 * time.Second, now: func() time.Time { return now }}
	for i := 0; i < 5; i++ {
		ip, err := b.resolve4(context.Background(), "ftp.example.test")
		if err != nil || ip.String() != "192.0.2.1" {
			t.Fatalf("resolve = %v, %v", ip, err)
		}
	}
	if res.n.Load() != 1 {
		t.Fatalf("%d lookups within the TTL, want 1", res.n.Load())
	}
	res.addr = "192.0.2.2" // the name moved
	now = now.Add(11 * time.Second)
	if ip, _ := b.resolve4(context.Background(), "ftp.example.test"); ip.String() != "192.0.2.2" || res.n.Load() != 2 {
		t.Fatalf("after TTL: %v with %d lookups", ip, res.n.Load())
	}
	if ip, _ := b.resolve4(context.Background(), "2001:db8::1"); ip.IsValid() {
		t.Fatalf("IPv6 literal gave IPv4 %v", ip)
	}
}

// TestABORWithUrgentData sends ABOR the way Python's ftplib does: Telnet
// IP/Synch and the final byte as TCP urgent (MSG_OOB) data.
func TestABORWithUrgentData(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.BandwidthLimit = 256 << 10 })
	e.write(t, "acme/slow.bin", strings.Repeat("s", 4<<20))
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	dc := dialData(t, r.epsv(), "")
	defer dc.Close()
	r.must(150, "RETR slow.bin")
	buf := make([]byte, 1024)
	if _, err := dc.Read(buf); err != nil {
		t.Fatal(err)
	}
	rc, err := r.c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	_ = rc.Write(func(fd uintptr) bool {
		_, serr = syscallSendOOB(fd, []byte("\xff\xf4\xff\xf2ABOR\r\n"))
		return true
	})
	if serr != nil {
		t.Fatal(serr)
	}
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if code, msg := r.read(); code != 426 {
		t.Fatalf("first reply after urgent ABOR: %d %s", code, msg)
	}
	r.expect(226)
}

func TestListGlob(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a.txt", "b.txt", "c.log"} {
		e.write(t, "acme/"+n, n)
	}
	c := e.dial(t, "acme", "secret")
	names, err := c.NameList("*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sortedCopy(names), ",") != "a.txt,b.txt" {
		t.Fatalf("NLST *.txt = %v", names)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// fullDiskFS fails writes with ENOSPC after limit bytes per file.
type fullDiskFS struct {
	FileSystem
	limit int64
}

type fullDiskProvider struct {
	RootFS
	limit int64
}

func (p fullDiskProvider) FileSystem(u *User) (FileSystem, error) {
	fsys, err := p.RootFS.FileSystem(u)
	if err != nil {
		return nil, err
	}
	return &fullDiskFS{FileSystem: fsys, limit: p.limit}, nil
}

func (f *fullDiskFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.FileSystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fullDiskFile{File: file, left: f.limit}, nil
}

type fullDiskFile struct {
	File
	left int64
}

func (f *fullDiskFile) Write(p []byte) (int, error) {
	if int64(len(p)) > f.left {
		n, _ := f.File.Write(p[:f.left])
		f.left = 0
		return n, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	}
	f.left -= int64(len(p))
	return f.File.Write(p)
}

func TestFullDiskKeepsPreviousFile(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.FileSystems = fullDiskProvider{RootFS: s.FileSystems.(RootFS), limit: 100 << 10}
	})
	e.write(t, "acme/f.bin", "previous")
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	dc := dialData(t, r.epsv(), "")
	r.must(150, "STOR f.bin")
	go func() {
		_, _ = dc.Write(make([]byte, 1<<20))
		dc.Close()
	}()
	if code, msg := r.read(); code != 552 {
		t.Fatalf("full disk reply %d %s, want 552", code, msg)
	}
	if s, _ := e.read(t, "acme/f.bin"); s != "previous" {
		t.Fatalf("previous file changed to %d bytes", len(s))
	}
	waitFor(t, 5*time.Second, "temp file removed", func() bool { return len(tempFiles(t, e)) == 0 })
}

func TestPasswordsNeverLogged(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	e := newEnv(t, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	r := dialRaw(t, e.addr, "")
	r.must(331, "USER acme")
	r.must(530, "PASS wr0ng-Pa55word")
	r.login("acme", "secret")
	r.must(221, "QUIT")
	waitFor(t, 5*time.Second, "session end", func() bool { return e.sessions() == 0 })
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if !strings.Contains(logs, "verb=PASS") || !strings.Contains(logs, "login failed") {
		t.Fatalf("expected PASS commands and the failure in the debug log:\n%s", logs)
	}
	for _, secret := range []string{"wr0ng-Pa55word", "secret"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("password %q in logs:\n%s", secret, logs)
		}
	}
}

// TestSlowTransferNotCutByDataTimeout: the data timeout bounds stalls, not
// whole transfers; a transfer that keeps progressing slowly completes.
func TestSlowTransferNotCutByDataTimeout(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.BandwidthLimit = 512 << 10; s.DataTimeout = 400 * time.Millisecond })
	data := strings.Repeat("slow", 192<<10) // 768 KiB: about 1 s at 512 KiB/s after the burst
	e.write(t, "acme/slow.bin", data)
	c := e.dial(t, "acme", "secret")
	resp, err := c.Retr("slow.bin")
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, resp)
	if err := resp.Close(); err != nil {
		t.Fatalf("transfer failed: %v", err)
	}
	if got != data {
		t.Fatalf("got %d of %d bytes", len(got), len(data))
	}
	if err := c.Stor("up.bin", strings.NewReader(data)); err != nil {
		t.Fatalf("slow upload: %v", err)
	}
}

// TestSlowReaderOnZeroCopyPath: a client that reads slowly gets a sendfile
// download through even though the transfer takes several data timeouts. The
// file is larger than the socket buffers, so sendfile really blocks.
func TestSlowReaderOnZeroCopyPath(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.DataTimeout = 300 * time.Millisecond })
	data := strings.Repeat("z", 10<<20)
	e.write(t, "acme/z.bin", data)
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	port := r.epsv()
	dc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	r.must(150, "RETR z.bin")
	start := time.Now()
	var got int
	buf := make([]byte, 64<<10)
	for i := 0; i < 10000; i++ { // at most ~4 MiB/s: about 2.5 s, several data timeouts
		n, err := dc.Read(buf)
		got += n
		if err != nil {
			break
		}
		time.Sleep(15 * time.Millisecond)
	}
	if got != len(data) {
		t.Fatalf("got %d of %d bytes after %v", got, len(data), time.Since(start))
	}
	r.expect(226)
	if el := time.Since(start); el < time.Second {
		t.Logf("reader was not slow enough to be meaningful: %v", el)
	}
}

func TestProxyTrustedUpstreams(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.ProxyProtocol = true
		s.ProxyTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	})
	// An untrusted peer without a header is served under its own address.
	r := dialRaw(t, e.addr, "127.0.0.1")
	r.login("acme", "secret")
	r.must(200, "PORT 127,0,0,1,195,80")
	// An untrusted peer cannot spoof its address with a header: it is a
	// bad command, and the session keeps the peer's real address.
	c := proxyDial(t, e.addr, "198.51.100.7", 1)
	defer c.Close()
	rs := &raw{t: t, c: c, tp: newTP(c)}
	rs.expect(220)
	rs.expect(502) // "PROXY TCP4 ..."
	rs.login("acme", "secret")
	rs.must(501, "PORT 198,51,100,7,195,80")
	rs.must(200, "PORT 127,0,0,1,195,80")
	// The trusted balancer's header is used.
	lb, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	_ = lb.SetDeadline(time.Now().Add(10 * time.Second))
	h := proxyproto.HeaderProxyFromAddrs(1, &net.TCPAddr{IP: net.ParseIP("198.51.100.8"), Port: 4000}, lb.RemoteAddr())
	if _, err := h.WriteTo(lb); err != nil {
		t.Fatal(err)
	}
	rl := &raw{t: t, c: lb, tp: newTP(lb)}
	rl.expect(220)
	rl.login("acme", "secret")
	rl.must(501, "PORT 127,0,0,2,195,80")
	rl.must(200, "PORT 198,51,100,8,195,80")
}
