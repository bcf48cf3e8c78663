package ftpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/crypto/bcrypt"

	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

func TestFileOperations(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []ftp.DialOption
	}{
		{name: "EPSV"},
		{name: "PASV", opts: []ftp.DialOption{ftp.DialWithDisabledEPSV(true)}},
		{name: "LIST", opts: []ftp.DialOption{ftp.DialWithDisabledMLSD(true)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.dial(t, "acme", "secret", tt.opts...)
			names := []string{"plain.txt", "with space .txt", "héllo wörld ✓.txt", `quo"te.txt`}
			if err := c.MakeDir("dir one"); err != nil {
				t.Fatal(err)
			}
			if err := c.ChangeDir("dir one"); err != nil {
				t.Fatal(err)
			}
			if pwd, err := c.CurrentDir(); err != nil || pwd != "/dir one" {
				t.Fatalf("pwd = %q, %v", pwd, err)
			}
			for i, n := range names {
				if err := c.Stor(n, strings.NewReader(strings.Repeat(n, i+1))); err != nil {
					t.Fatalf("stor %q: %v", n, err)
				}
			}
			if err := c.Stor("empty", strings.NewReader("")); err != nil {
				t.Fatal(err)
			}
			entries, err := c.List("")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			for _, en := range entries {
				got[en.Name] = en.Size
			}
			for i, n := range names {
				if got[n] != uint64(len(n)*(i+1)) {
					t.Errorf("listing: %q size %d, want %d (all: %v)", n, got[n], len(n)*(i+1), got)
				}
			}
			if sz, ok := got["empty"]; !ok || sz != 0 {
				t.Errorf("empty file missing from listing: %v", got)
			}
			for i, n := range names {
				r, err := c.Retr(n)
				if err != nil {
					t.Fatalf("retr %q: %v", n, err)
				}
				if s := readAll(t, r); s != strings.Repeat(n, i+1) {
					t.Errorf("retr %q = %q", n, s)
				}
				r.Close()
				if sz, err := c.FileSize(n); err != nil || sz != int64(len(n)*(i+1)) {
					t.Errorf("size %q = %d, %v", n, sz, err)
				}
			}
			if err := c.Rename("plain.txt", "renamed.txt"); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete("renamed.txt"); err != nil {
				t.Fatal(err)
			}
			if _, ok := e.read(t, "acme/dir one/renamed.txt"); ok {
				t.Error("deleted file still exists")
			}
			if s, _ := e.read(t, "acme/dir one/with space .txt"); s != strings.Repeat("with space .txt", 2) {
				t.Errorf("file on disk = %q", s)
			}
			if err := c.ChangeDirToParent(); err != nil {
				t.Fatal(err)
			}
			if err := c.RemoveDir("dir one"); err == nil {
				t.Error("RMD of non-empty dir succeeded")
			}
			names2, err := c.NameList("dir one")
			if err != nil || len(names2) != len(names) { // 4 names - renamed + empty
				t.Errorf("NLST = %v, %v", names2, err)
			}
		})
	}
}

func TestPWDQuoting(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.must(257, `MKD a"b`)
	r.must(250, `CWD a"b`)
	if msg := r.must(257, "PWD"); !strings.HasPrefix(msg, `"/a""b"`) {
		t.Fatalf("PWD = %q", msg)
	}
}

func TestPreAuthCommandsRefused(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/f.txt", "x")
	r := dialRaw(t, e.addr, "")
	for _, c := range []string{"LIST", "RETR f.txt", "STOR g", "CWD /", "PWD", "PASV", "EPSV", "PORT 127,0,0,1,200,1",
		"DELE f.txt", "MKD x", "SIZE f.txt", "MLST", "TYPE I", "REST 1", "RNFR f.txt", "HASH f.txt", "SITE CHMOD 777 f.txt"} {
		if code, msg := r.cmd("%s", c); code != 530 {
			t.Errorf("%s before login: %d %s, want 530", c, code, msg)
		}
	}
	r.must(503, "PASS secret") // PASS without USER
	r.must(211, "FEAT")
	r.must(200, "NOOP")
	if _, ok := e.read(t, "acme/g"); ok {
		t.Error("pre-auth STOR created a file")
	}
}

func TestLongLineRefused(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.addr, "")
	long := "USER " + strings.Repeat("A", 100<<10)
	r.must(500, "%s", long)
	r.must(200, "NOOP") // session still usable, nothing buffered
	r.login("acme", "secret")
	// A line without end that exceeds the discard bound closes the session.
	go func() { _, _ = r.c.Write(bytes.Repeat([]byte("B"), 2<<20)) }()
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(r.c); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) {
			t.Fatalf("reading after flood: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "session closed after flood", func() bool { return e.sessions() == 0 })
}

func TestBruteForceLockout(t *testing.T) {
	reg := promtext.NewRegistry()
	m := NewMetrics(reg)
	e := newEnv(t, func(s *Server) {
		s.Lockout = LockoutPolicy{Threshold: 3, Backoff: 400 * time.Millisecond, MaxBackoff: 10 * time.Second}
		s.Metrics = m
	})
	r := dialRaw(t, e.addr, "")
	for i := 0; i < 3; i++ {
		r.must(331, "USER acme")
		r.must(530, "PASS wrong%d", i)
	}
	// Locked: even the right password is refused without being checked.
	r.must(331, "USER acme")
	if msg := r.must(530, "PASS secret"); !strings.Contains(msg, "Too many") {
		t.Fatalf("locked reply = %q", msg)
	}
	// Another IP is not affected.
	r2 := dialRaw(t, e.addr, "127.0.0.2")
	r2.login("acme", "secret")
	time.Sleep(450 * time.Millisecond)
	r.login("acme", "secret")
	// Failures count again after the lock expired.
	r4 := dialRaw(t, e.addr, "")
	for i := 0; i < 3; i++ {
		r4.must(331, "USER other")
		r4.must(530, "PASS wrong")
	}
	r3 := dialRaw(t, e.addr, "")
	r3.must(331, "USER other")
	r3.must(530, "PASS other-secret")
	if got := metricValue(t, reg, "ftpd_logins_total", "failed"); got != 6 {
		t.Errorf("failed logins metric = %v, want 6", got)
	}
	if got := metricValue(t, reg, "ftpd_lockouts_total", ""); got != 2 {
		t.Errorf("lockouts metric = %v, want 2", got)
	}
}

func TestLockoutBackoffDoubles(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLockout(LockoutPolicy{Threshold: 2, Backoff: time.Second, MaxBackoff: 3 * time.Second})
	l.now = func() time.Time { return now }
	ip := netip.MustParseAddr("192.0.2.1")
	pair := lockKey{scope: scopePair, ip: ip, user: "u"}
	var got []time.Duration
	for i := 0; i < 4; i++ {
		lockFail(t, l, ip, "u")
		if !lockFail(t, l, ip, "u") {
			t.Fatalf("round %d: not locked", i)
		}
		got = append(got, l.lockedFor(pair))
		now = now.Add(got[len(got)-1])
	}
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs = %v, want %v", got, want)
		}
	}
	a, _, refused := l.begin(ip, "u")
	if refused {
		t.Fatal("refused after the lock expired")
	}
	l.end(a, true)
	if l.lockedFor(pair) != 0 {
		t.Fatal("success did not reset")
	}
}

// lockFail records one failed attempt and reports whether it locked a scope.
func lockFail(t testing.TB, l *lockout, ip netip.Addr, user string) bool {
	t.Helper()
	a, _, refused := l.begin(ip, user)
	if refused {
		t.Fatalf("attempt of %s from %s refused", user, ip)
	}
	return l.end(a, false)
}

func TestTraversalRefused(t *testing.T) {
	e := newEnv(t)
	e.write(t, "other/secret.txt", "TOP SECRET")
	e.write(t, "acme/mine.txt", "mine")
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	for _, p := range []string{"../other/secret.txt", "/../other/secret.txt", "../../../../etc/passwd", "/etc/passwd",
		"sub/../../other/secret.txt", "..\\other\\secret.txt"} {
		r.must(550, "SIZE %s", p)
		r.epsv()
		if code, msg := r.cmd("RETR %s", p); code != 550 {
			t.Errorf("RETR %s: %d %s", p, code, msg)
		}
	}
	r.must(250, "CWD ../../..")
	if msg := r.must(257, "PWD"); !strings.HasPrefix(msg, `"/"`) {
		t.Errorf("PWD after CWD ../../.. = %q", msg)
	}
	r.must(213, "SIZE mine.txt")
	r.must(550, "DELE ../other/secret.txt")
	r.must(550, "RNFR ../other/secret.txt")
	if s, _ := e.read(t, "other/secret.txt"); s != "TOP SECRET" {
		t.Fatal("other user's file changed")
	}
}

func TestSymlinkEscapeRefused(t *testing.T) {
	e := newEnv(t)
	e.write(t, "other/secret.txt", "TOP SECRET")
	e.write(t, "acme/sub/inside.txt", "inside")
	home := filepath.Join(e.root, "acme")
	for name, target := range map[string]string{
		"rel-escape": "../other",
		"abs-escape": filepath.Join(e.root, "other"),
		"etc":        "/etc",
		"file-esc":   "../other/secret.txt",
		"ok-link":    "sub",
	} {
		if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	for _, p := range []string{"rel-escape/secret.txt", "abs-escape/secret.txt", "etc/passwd", "file-esc"} {
		r.must(550, "SIZE %s", p)
		r.epsv()
		r.must(550, "RETR %s", p)
	}
	for _, d := range []string{"rel-escape", "abs-escape", "etc"} {
		r.must(550, "CWD %s", d)
		r.epsv()
		r.must(550, "LIST %s", d)
	}
	// Writing through an escaping link is refused too.
	r.epsv()
	r.must(550, "STOR rel-escape/planted.txt")
	if _, ok := e.read(t, "other/planted.txt"); ok {
		t.Fatal("file planted outside the home")
	}
	// A link that stays inside the home works.
	r.must(213, "SIZE ok-link/inside.txt")
	r.must(250, "CWD ok-link")
}

func TestActivePORTRules(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/f.txt", "active data")
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	tests := []struct {
		cmd  string
		want int
	}{
		{"PORT 127,0,0,2,195,80", 501},       // bounce to another IP (FXP)
		{"PORT 10,0,0,1,195,80", 501},        // bounce to a private network host
		{"PORT 127,0,0,1,0,25", 501},         // privileged port (SMTP)
		{"PORT 127,0,0,1,3,255", 501},        // 1023
		{"EPRT |1|127.0.0.2|50000|", 501},    // bounce
		{"EPRT |1|127.0.0.1|22|", 501},       // privileged
		{"EPRT |2|::1|50000|", 501},          // other address family / IP
		{"EPRT |3|127.0.0.1|50000|", 522},    // unknown protocol
		{"PORT 127,0,0,1,300,1", 501},        // malformed
		{"EPRT |1|127.0.0.1|50000", 501},     // malformed
		{"PORT 127,0,0,1,195,80", 200},       // allowed
		{"EPRT |1|127.0.0.1|50000|", 200},    // allowed
		{"PORT 127 , 0, 0, 1, 195, 81", 200}, // sloppy spacing tolerated
	}
	for _, tt := range tests {
		if code, msg := r.cmd("%s", tt.cmd); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.cmd, code, msg, tt.want)
		}
	}
	// A real active transfer: the server connects to us from a non-20 port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r.must(200, "PORT 127,0,0,1,%d,%d", port>>8, port&0xff)
	if err := r.tp.PrintfLine("RETR f.txt"); err != nil {
		t.Fatal(err)
	}
	dc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	src := dc.RemoteAddr().(*net.TCPAddr)
	if src.Port == 20 || !src.IP.Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("active connection from %v, want 127.0.0.1 and not port 20", src)
	}
	r.expect(150)
	if s := readAll(t, dc); s != "active data" {
		t.Errorf("active RETR = %q", s)
	}
	r.expect(226)
	// Disabled active mode.
	e2 := newEnv(t, func(s *Server) { s.ActiveMode = false })
	r2 := dialRaw(t, e2.addr, "")
	r2.login("acme", "secret")
	r2.must(502, "PORT 127,0,0,1,195,80")
}

func TestDataConnectionFromOtherIPRefused(t *testing.T) {
	reg := promtext.NewRegistry()
	m := NewMetrics(reg)
	e := newEnv(t, func(s *Server) { s.Metrics = m })
	e.write(t, "acme/f.txt", "for the owner only")
	for _, mode := range []string{"EPSV", "PASV"} {
		t.Run(mode, func(t *testing.T) {
			r := dialRaw(t, e.addr, "127.0.0.1")
			r.login("acme", "secret")
			var port int
			if mode == "EPSV" {
				port = r.epsv()
			} else {
				port = int(parse227(t, r.must(227, "PASV")).Port())
			}
			// The thief connects first, from another IP.
			thief := dialData(t, port, "127.0.0.2")
			defer thief.Close()
			_ = thief.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, err := io.ReadAll(thief); len(b) != 0 || (err != nil && !isReset(err)) {
				t.Fatalf("thief got %q, %v", b, err)
			}
			owner := dialData(t, port, "127.0.0.1")
			r.must(150, "RETR f.txt")
			if s := readAll(t, owner); s != "for the owner only" {
				t.Fatalf("owner got %q", s)
			}
			r.expect(226)
		})
	}
	if got := metricValue(t, reg, "ftpd_data_connections_rejected_total", ""); got != 2 {
		t.Errorf("rejected data connections metric = %v, want 2", got)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || errors.Is(err, io.EOF))
}

func TestVanishedClientLeavesNoPartialFile(t *testing.T) {
	for _, tt := range []struct {
		name     string
		existing bool
		how      string
	}{
		{name: "new file, control and data gone", how: "both"},
		// A killed client whose data connection's end arrives before its control connection's: on the data
		// connection alone this is a finished upload.
		{name: "new file, killed: data end first, control 10ms later", how: "data-first"},
		{name: "overwrite, killed: data end first, control 10ms later", existing: true, how: "data-first"},
		{name: "overwrite, control and data gone", existing: true, how: "both"},
		{name: "overwrite, data reset", existing: true, how: "reset"},
		{name: "new file, ABOR", how: "abor"},
		{name: "append, data reset", existing: true, how: "appe-reset"},
	} {
		// One attempt; it returns what went wrong ("" for nothing) and, for data-first, how far apart the two
		// closes were.
		attempt := func(t *testing.T) (gap time.Duration, bad string) {
			e := newEnv(t)
			if tt.existing {
				e.write(t, "acme/up.bin", "previous content")
			} else {
				e.write(t, "acme/.keep", "")
			}
			r := dialRaw(t, e.addr, "")
			r.login("acme", "secret")
			port := r.epsv()
			dc := dialData(t, port, "")
			verb := "STOR"
			if tt.how == "appe-reset" {
				verb = "APPE"
			}
			r.must(150, "%s up.bin", verb)
			if _, err := dc.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
				t.Fatal(err)
			}
			// The temporary file exists but is hidden from listings.
			waitFor(t, 5*time.Second, "upload data in the temp file", func() bool { return uploadReceiving(t, e) })
			switch tt.how {
			case "data-first":
				time.Sleep(200 * time.Millisecond) // mid-transfer for a while, as a killed client is
				closed := time.Now()
				dc.Close()
				time.Sleep(10 * time.Millisecond)
				r.c.Close()
				gap = time.Since(closed)
			case "both":
				r.c.Close()
				time.Sleep(50 * time.Millisecond)
				dc.Close() // a clean FIN after the control connection vanished
			case "reset", "appe-reset":
				dc.(*net.TCPConn).SetLinger(0)
				dc.Close()
				if code, msg := r.read(); code != 426 {
					t.Fatalf("after reset: %d %s, want 426", code, msg)
				}
			case "abor":
				if code, _ := r.cmd("ABOR"); code != 426 {
					t.Fatalf("ABOR first reply %d, want 426", code)
				}
				r.expect(226)
				dc.Close()
			}
			waitFor(t, 5*time.Second, "temp file removed", func() bool { return len(tempFiles(t, e)) == 0 })
			got, ok := e.read(t, "acme/up.bin")
			switch {
			case tt.existing && got != "previous content":
				return gap, fmt.Sprintf("previous file changed: %d bytes", len(got))
			case !tt.existing && ok:
				return gap, fmt.Sprintf("partial file visible: %d bytes", len(got))
			}
			return gap, ""
		}
		t.Run(tt.name, func(t *testing.T) {
			// The engine waits for the control connection's end at most the default UploadCloseGrace (50 ms)
			// after the data connection's. On a loaded machine the test itself can be held up between its two
			// closes for longer than that: such an attempt proves nothing either way and is repeated (bounded).
			// An engine that does not wait at all fails every attempt, whose gap is the 10 ms asked for.
			const inconclusive = 40 * time.Millisecond
			for i := 1; ; i++ {
				gap, bad := attempt(t)
				if bad == "" {
					return
				}
				if tt.how != "data-first" || gap < inconclusive || i == 5 {
					t.Fatalf("%s (closes %s apart, attempt %d)", bad, gap.Round(time.Millisecond), i)
				}
				t.Logf("attempt %d: %s, but the closes were %s apart (machine loaded): again", i, bad, gap.Round(time.Millisecond))
			}
		})
	}
}

func tempFiles(t *testing.T, e *testEnv) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(e.root, "acme", tmpPrefix+"*"))
	return m
}

// uploadReceiving reports whether exactly one upload is in progress and the engine has written some of its data to
// the temporary file: the event a test waits for before it cuts a transfer "mid-way". The temporary file alone is
// not enough: it exists before the engine reads the first byte, and a client's write returns once the kernel
// buffers hold the data.
func uploadReceiving(t *testing.T, e *testEnv) bool {
	t.Helper()
	m := tempFiles(t, e)
	if len(m) != 1 {
		return false
	}
	fi, err := os.Stat(m[0])
	return err == nil && fi.Size() > 0
}

func TestUploadCompletesAtomically(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.SyncUploads = true })
	e.write(t, "acme/f.txt", "old")
	c := e.dial(t, "acme", "secret")
	data := bytes.Repeat([]byte("0123456789"), 300000)
	if err := c.Stor("f.txt", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read(t, "acme/f.txt"); got != string(data) {
		t.Fatalf("got %d bytes", len(got))
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "acme"))
	if len(entries) != 1 {
		t.Fatalf("leftover files: %v", entries)
	}
}

func TestResumeAndAppend(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/f.txt", "0123456789")
	c := e.dial(t, "acme", "secret")
	r, err := c.RetrFrom("f.txt", 4)
	if err != nil {
		t.Fatal(err)
	}
	if s := readAll(t, r); s != "456789" {
		t.Errorf("REST 4 RETR = %q", s)
	}
	r.Close()
	if err := c.StorFrom("f.txt", strings.NewReader("ABC"), 3); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.read(t, "acme/f.txt"); s != "012ABC" {
		t.Errorf("REST 3 STOR result = %q, want 012ABC", s)
	}
	if err := c.Append("f.txt", strings.NewReader("xyz")); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.read(t, "acme/f.txt"); s != "012ABCxyz" {
		t.Errorf("APPE result = %q", s)
	}
	if err := c.Append("new.txt", strings.NewReader("n")); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.read(t, "acme/new.txt"); s != "n" {
		t.Errorf("APPE new = %q", s)
	}
	if _, err := c.RetrFrom("f.txt", 100); err == nil {
		t.Error("REST beyond EOF accepted")
	}
}

func TestASCIIMode(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.must(200, "TYPE A")
	port := r.epsv()
	dc := dialData(t, port, "")
	r.must(150, "STOR a.txt")
	_, _ = dc.Write([]byte("line1\r\nline2\r\n\r\nbare\rcr\r"))
	dc.Close()
	r.expect(226)
	if s, _ := e.read(t, "acme/a.txt"); s != "line1\nline2\n\nbare\rcr\r" {
		t.Fatalf("stored %q", s)
	}
	e.write(t, "acme/b.txt", "x\ny\n")
	port = r.epsv()
	dc = dialData(t, port, "")
	r.must(150, "RETR b.txt")
	if s := readAll(t, dc); s != "x\r\ny\r\n" {
		t.Fatalf("ASCII RETR %q", s)
	}
	r.expect(226)
	r.must(200, "TYPE I")
}

func TestAsciiReaderChunking(t *testing.T) {
	in := "a\r\nb\r\r\nc\r"
	for size := 2; size < 8; size++ {
		ar := &asciiReader{r: &oneByteReader{s: in}}
		var out []byte
		buf := make([]byte, size)
		for i := 0; i < 100; i++ {
			n, err := ar.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			}
		}
		if string(out) != "a\nb\r\nc\r" {
			t.Fatalf("size %d: %q", size, out)
		}
	}
}

type oneByteReader struct{ s string }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

func TestAccessModes(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/f.txt", "data")
	e.write(t, "drop/existing.txt", "keep")
	ro := dialRaw(t, e.addr, "")
	ro.login("reader", "r")
	ro.must(213, "SIZE f.txt")
	ro.must(550, "DELE f.txt")
	ro.must(550, "MKD d")
	ro.must(550, "RNFR f.txt")
	ro.epsv()
	ro.must(550, "STOR g.txt")
	ro.epsv()
	ro.must(550, "APPE f.txt")

	wo := dialRaw(t, e.addr, "")
	wo.login("dropbox", "w")
	wo.epsv()
	wo.must(550, "LIST")
	wo.epsv()
	wo.must(550, "RETR existing.txt")
	wo.must(550, "SIZE existing.txt")
	wo.must(550, "DELE existing.txt")
	wo.epsv()
	wo.must(550, "STOR existing.txt") // no overwrite in a drop box
	wo.must(257, "MKD in")
	port := wo.epsv()
	dc := dialData(t, port, "")
	wo.must(150, "STOR in/new.txt")
	_, _ = dc.Write([]byte("dropped"))
	dc.Close()
	wo.expect(226)
	if s, _ := e.read(t, "drop/in/new.txt"); s != "dropped" {
		t.Fatalf("drop box upload %q", s)
	}
	if s, _ := e.read(t, "drop/existing.txt"); s != "keep" {
		t.Fatalf("drop box overwrote %q", s)
	}
}

// writeK8sSecret lays out a password file the way the kubelet does:
// dir/..<ts>/password, dir/..data -> ..<ts>, dir/password -> ..data/password.
func writeK8sSecret(t *testing.T, dir, password string, gen int) {
	t.Helper()
	ts := fmt.Sprintf("..2026_%d", gen)
	if err := os.MkdirAll(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ts, "password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "password")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink("..data/password", link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPasswordAndUsersFileReloadWithoutRestart(t *testing.T) {
	e := newEnv(t)
	secretDir := filepath.Join(t.TempDir(), "secrets", "k8s")
	writeK8sSecret(t, secretDir, "first", 1)
	hash, _ := bcrypt.GenerateFromPassword([]byte("hashed-pw"), bcrypt.MinCost)
	users := testUsers + fmt.Sprintf("  - name: kube\n    passwordFile: %s\n    home: /kube\n  - name: hashed\n    passwordHash: %q\n",
		filepath.Join(secretDir, "password"), string(hash))
	writeAtomic(t, e.users, []byte(users))

	try := func(user, pass string) int {
		r := dialRaw(t, e.addr, "")
		r.must(331, "USER %s", user)
		code, _ := r.cmd("PASS %s", pass)
		r.c.Close()
		return code
	}
	for _, tt := range []struct {
		user, pass string
		want       int
	}{
		{"kube", "first", 230}, {"kube", "second", 530}, {"hashed", "hashed-pw", 230}, {"hashed", "nope", 530},
	} {
		if got := try(tt.user, tt.pass); got != tt.want {
			t.Errorf("login %s/%s = %d, want %d", tt.user, tt.pass, got, tt.want)
		}
	}
	// The kubelet swaps ..data to a new generation: the new password works at
	// once, the old one no longer does.
	writeK8sSecret(t, secretDir, "second", 2)
	if got := try("kube", "second"); got != 230 {
		t.Errorf("new password after secret swap = %d, want 230", got)
	}
	if got := try("kube", "first"); got != 530 {
		t.Errorf("old password after secret swap = %d, want 530", got)
	}
	// A bcrypt hash in the password file works too.
	h2, _ := bcrypt.GenerateFromPassword([]byte("third"), bcrypt.MinCost)
	writeK8sSecret(t, secretDir, string(h2), 3)
	if got := try("kube", "third"); got != 230 {
		t.Errorf("bcrypt password file = %d, want 230", got)
	}
	// A user removed from the users file can no longer log in; a broken file
	// keeps the last good list.
	writeAtomic(t, e.users, []byte("users:\n  - name: newbie\n    password: hi\n"))
	if got := try("acme", "secret"); got != 530 {
		t.Errorf("removed user login = %d", got)
	}
	if got := try("newbie", "hi"); got != 230 {
		t.Errorf("added user login = %d", got)
	}
	writeAtomic(t, e.users, []byte("users: [ {name: broken"))
	if got := try("newbie", "hi"); got != 230 {
		t.Errorf("login after broken users file = %d, want last good list", got)
	}
	if e.srv.Auth.(*FileAuthenticator).LastError() == nil {
		t.Error("broken users file not reported")
	}
}

type fakeResolver map[string]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestPublicAddressLiveUpdate(t *testing.T) {
	res := fakeResolver{"ftp.example.test": "198.51.100.9"}
	e := newEnv(t, func(s *Server) { s.Resolver = res })
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	pasvIP := func() string { return parse227(t, r.must(227, "PASV")).Addr().String() }
	// No address yet: a loopback (private) client gets the local address.
	if got := pasvIP(); got != "127.0.0.1" {
		t.Fatalf("PASV before address = %s", got)
	}
	e.srv.SetPublicAddress("203.0.113.7")
	if got := pasvIP(); got != "203.0.113.7" {
		t.Fatalf("PASV after SetPublicAddress = %s", got)
	}
	e.srv.SetPublicAddress("ftp.example.test")
	if got := pasvIP(); got != "198.51.100.9" {
		t.Fatalf("PASV with DNS name = %s", got)
	}
	e.srv.SetPublicAddress("")
	if got := pasvIP(); got != "127.0.0.1" {
		t.Fatalf("PASV after clearing = %s", got)
	}
	r.must(200, "NOOP") // the session survived every change
}

func TestAddressFileAndOverrides(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.AddressOverrides = []AddressOverride{{Prefix: netip.MustParsePrefix("127.0.0.2/32"), Address: "10.96.0.10"}}
	})
	f := filepath.Join(t.TempDir(), "address")
	if err := os.WriteFile(f, []byte("192.0.2.44\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.srv.WatchAddressFile(ctx, f, 20*time.Millisecond)
	waitFor(t, 5*time.Second, "address from file", func() bool { return e.srv.CurrentPublicAddress() == "192.0.2.44" })
	r := dialRaw(t, e.addr, "127.0.0.1")
	r.login("acme", "secret")
	if got := parse227(t, r.must(227, "PASV")).Addr().String(); got != "192.0.2.44" {
		t.Fatalf("PASV = %s", got)
	}
	r2 := dialRaw(t, e.addr, "127.0.0.2")
	r2.login("acme", "secret")
	if got := parse227(t, r2.must(227, "PASV")).Addr().String(); got != "10.96.0.10" {
		t.Fatalf("override PASV = %s", got)
	}
	writeAtomic(t, f, []byte("192.0.2.45"))
	waitFor(t, 5*time.Second, "address file change", func() bool {
		return parse227(t, r.must(227, "PASV")).Addr().String() == "192.0.2.45"
	})
}

// proxyDial opens a control or data connection that claims src via PROXY v1/v2.
func proxyDial(t *testing.T, addr string, src string, version byte) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	dst := c.RemoteAddr().(*net.TCPAddr)
	h := proxyproto.HeaderProxyFromAddrs(version, &net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, dst)
	if _, err := h.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProxyProtocolAndUnknownAddress(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.ProxyProtocol = true })
	e.write(t, "acme/f.txt", "proxied")
	for _, v := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c := proxyDial(t, e.addr, "198.51.100.20", v)
			defer c.Close()
			r := &raw{t: t, c: c, tp: newTP(c)}
			r.expect(220)
			r.login("acme", "secret")
			// Public client, no address known: a clear 4xx, not a wrong address.
			if msg := r.must(425, "PASV"); !strings.Contains(msg, "EPSV") {
				t.Errorf("425 text %q should suggest EPSV", msg)
			}
			port := r.epsv()
			// A data connection claiming another client IP is refused...
			thief := proxyDial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "198.51.100.66", v)
			_ = thief.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, _ := io.ReadAll(thief); len(b) != 0 {
				t.Fatalf("thief got %q", b)
			}
			// ...and one from the real client behind the balancer is served.
			dc := proxyDial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "198.51.100.20", v)
			r.must(150, "RETR f.txt")
			if s := readAll(t, dc); s != "proxied" {
				t.Fatalf("RETR %q", s)
			}
			r.expect(226)
			// PORT must target the client's real (proxied) IP.
			r.must(501, "PORT 127,0,0,1,195,80")
			r.must(200, "PORT 198,51,100,20,195,80")
		})
	}
	// Without a header the connection is refused.
	plain, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, _ = plain.Write([]byte("USER acme\r\n"))
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(plain); strings.Contains(string(b), "331") {
		t.Fatalf("connection without PROXY header served: %q", b)
	}
}

func TestPassivePortsBoundedAndReused(t *testing.T) {
	reg := promtext.NewRegistry()
	m := NewMetrics(reg)
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 2); s.Metrics = m })
	rng := e.srv.PassivePorts
	a := dialRaw(t, e.addr, "")
	a.login("acme", "secret")
	for i := 0; i < 10; i++ { // one pending per session: no hoarding
		if p := a.epsv(); p < int(rng.Start) || p > int(rng.End) {
			t.Fatalf("port %d outside %v", p, rng)
		}
	}
	b := dialRaw(t, e.addr, "")
	b.login("acme", "secret")
	b.epsv()
	if got := metricValue(t, reg, "ftpd_passive_ports_in_use", ""); got != 2 {
		t.Errorf("passive ports in use = %v, want 2", got)
	}
	// A third session waits for a port (no 425) and gets the one a frees.
	c := dialRaw(t, e.addr, "")
	c.login("acme", "secret")
	got := make(chan int, 1)
	go func() { code, _ := c.cmd("EPSV"); got <- code }()
	select {
	case code := <-got:
		t.Fatalf("EPSV on a full range answered %d at once, want a wait", code)
	case <-time.After(200 * time.Millisecond):
	}
	start := time.Now()
	a.must(221, "QUIT")
	if code := <-got; code != 229 {
		t.Fatalf("waiting EPSV: %d, want 229", code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waiting EPSV served %v after the port was freed", d)
	}
}

func TestAdvertisedPortDiffersFromListened(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.PassivePorts = portrangetest.Free(t, 5)
		s.PassivePorts.AdvertisedStart = 30000
	})
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	p := r.epsv()
	if p < 30000 || p > 30004 {
		t.Fatalf("advertised %d, want 30000-30004", p)
	}
	ap := parse227(t, r.must(227, "PASV"))
	if ap.Port() < 30000 || ap.Port() > 30004 {
		t.Fatalf("PASV advertised %d", ap.Port())
	}
}

func TestPassiveMultiplexing(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.PassivePorts = portrangetest.Free(t, 1); s.PassiveMux = true })
	e.write(t, "acme/a.txt", "AAA")
	e.write(t, "other/b.txt", "BBB")
	ra := dialRaw(t, e.addr, "127.0.0.1")
	ra.login("acme", "secret")
	rb := dialRaw(t, e.addr, "127.0.0.2")
	rb.login("other", "other-secret")
	pa, pb := ra.epsv(), rb.epsv()
	if pa != pb {
		t.Fatalf("ports %d and %d, want one shared port", pa, pb)
	}
	// Same IP twice on one port is not allowed: the second waits until the
	// first one's data connection has arrived.
	rc := dialRaw(t, e.addr, "127.0.0.1")
	rc.login("acme", "secret")
	got := make(chan int, 1)
	go func() { code, _ := rc.cmd("EPSV"); got <- code }()
	select {
	case code := <-got:
		t.Fatalf("second EPSV from 127.0.0.1 answered %d while the port waits for that IP", code)
	case <-time.After(200 * time.Millisecond):
	}
	db := dialData(t, pb, "127.0.0.2")
	da := dialData(t, pa, "127.0.0.1")
	rb.must(150, "RETR b.txt")
	ra.must(150, "RETR a.txt")
	if s := readAll(t, da); s != "AAA" {
		t.Errorf("a got %q", s)
	}
	if s := readAll(t, db); s != "BBB" {
		t.Errorf("b got %q", s)
	}
	ra.expect(226)
	rb.expect(226)
	if code := <-got; code != 229 {
		t.Fatalf("waiting EPSV from 127.0.0.1: %d, want 229", code)
	}
}

func TestSessionLimits(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.MaxSessionsPerIP = 2; s.MaxSessions = 3 })
	dialRaw(t, e.addr, "127.0.0.1")
	dialRaw(t, e.addr, "127.0.0.1")
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "421") {
		t.Fatalf("third session from one IP got %q", b)
	}
	dialRaw(t, e.addr, "127.0.0.2")
	c2, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c2); !strings.HasPrefix(string(b), "421") {
		t.Fatalf("fourth session got %q", b)
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	r := dialRaw(t, e.addr, "")
	start := time.Now()
	r.expect(421)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle timeout after %v", d)
	}
}

func TestFeatMLSTHashMFMT(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/h.txt", "hash me")
	r := dialRaw(t, e.addr, "")
	feat := r.must(211, "FEAT")
	for _, f := range []string{"UTF8", "EPSV", "MLST", "SIZE", "MDTM", "REST STREAM", "HASH SHA-256", "MFMT"} {
		if !strings.Contains(feat, f) {
			t.Errorf("FEAT lacks %s:\n%s", f, feat)
		}
	}
	r.must(200, "OPTS UTF8 ON")
	r.login("acme", "secret")
	sum := sha256.Sum256([]byte("hash me"))
	if msg := r.must(213, "HASH h.txt"); !strings.Contains(msg, hex.EncodeToString(sum[:])) {
		t.Errorf("HASH = %q", msg)
	}
	r.must(213, "MFMT 20200102030405 h.txt")
	if msg := r.must(213, "MDTM h.txt"); msg != "20200102030405" {
		t.Errorf("MDTM = %q", msg)
	}
	if msg := r.must(250, "MLST h.txt"); !strings.Contains(msg, "type=file;size=7;modify=20200102030405;") {
		t.Errorf("MLST = %q", msg)
	}
	r.must(502, "XYZZ")
	r.must(500, "12 3")
	r.must(504, "TYPE E")
	r.must(534, "CCC")
	r.must(502, "AUTH TLS") // no TLS configured
	if msg := r.must(211, "STAT"); !strings.Contains(msg, "acme") {
		t.Errorf("STAT = %q", msg)
	}
	if msg := r.must(213, "STAT /"); !strings.Contains(msg, "h.txt") {
		t.Errorf("STAT / = %q", msg)
	}
}

func TestLargeListing(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.root, "acme", "many")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file %05d.txt", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range [][]ftp.DialOption{nil, {ftp.DialWithDisabledMLSD(true)}} {
		c := e.dial(t, "acme", "secret", opts...)
		entries, err := c.List("many")
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(entries))
		for _, en := range entries {
			names = append(names, en.Name)
		}
		sort.Strings(names)
		if len(names) != n || names[0] != "file 00000.txt" || names[n-1] != "file 04999.txt" {
			t.Fatalf("listing has %d entries (first %q)", len(names), names[0])
		}
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cr, first := certReloader(t, dir, "first")
	cr.CheckInterval = 10 * time.Millisecond
	for _, mode := range []TLSMode{TLSExplicit, TLSRequired, TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig(); s.TLSMode = mode })
			e.write(t, "acme/f.txt", "secret payload")
			opt := ftp.DialWithExplicitTLS(clientTLS())
			addr := e.addr
			if mode == TLSImplicit {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go e.srv.ServeImplicitTLS(l)
				addr = l.Addr().String()
				opt = ftp.DialWithTLS(clientTLS())
			}
			c, err := ftp.Dial(addr, opt, ftp.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Quit()
			if err := c.Login("acme", "secret"); err != nil {
				t.Fatal(err)
			}
			if err := c.Stor("up.txt", strings.NewReader("over tls")); err != nil {
				t.Fatal(err)
			}
			r, err := c.Retr("f.txt")
			if err != nil {
				t.Fatal(err)
			}
			if s := readAll(t, r); s != "secret payload" {
				t.Fatalf("RETR over TLS %q", s)
			}
			r.Close()
			if s, _ := e.read(t, "acme/up.txt"); s != "over tls" {
				t.Fatalf("STOR over TLS %q", s)
			}
			if mode != TLSExplicit {
				p := dialRaw(t, e.addr, "")
				p.must(530, "USER acme")
			}
		})
	}
	// Certificate reload: replace the files, the next handshake sees the new one.
	e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig() })
	serial := func() string {
		r := dialRaw(t, e.addr, "")
		r.must(234, "AUTH TLS")
		tc := tls.Client(r.c, clientTLS())
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(); got != first.SerialNumber.String() {
		t.Fatalf("serial %s, want first", got)
	}
	_, _, second := selfSigned(t, dir, "second")
	waitFor(t, 5*time.Second, "reloaded certificate", func() bool { return serial() == second.SerialNumber.String() })
}

func TestRequiredTLSRefusesClearData(t *testing.T) {
	cr, _ := certReloader(t, t.TempDir(), "x")
	e := newEnv(t, func(s *Server) { s.TLSConfig = cr.TLSConfig(); s.TLSMode = TLSRequired })
	r := dialRaw(t, e.addr, "")
	r.must(234, "AUTH TLS")
	tc := tls.Client(r.c, clientTLS())
	r2 := &raw{t: t, c: tc, tp: newTP(tc)}
	r2.login("acme", "secret")
	r2.epsv()
	r2.must(521, "LIST")
	r2.must(503, "PROT P") // PBSZ first
	r2.must(200, "PBSZ 0")
	r2.must(534, "PROT C")
	r2.must(200, "PROT P")
	r2.must(534, "CCC")
}

func TestShutdownDrainsTransfers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	usersPath := filepath.Join(dir, "users.yaml")
	_ = os.WriteFile(usersPath, []byte(testUsers), 0o600)
	auth, _ := NewFileAuthenticator(usersPath)
	srv := &Server{Auth: auth, FileSystems: RootFS{Dir: dir}, PassivePorts: portrangetest.Free(t, 10), PassiveHost: "127.0.0.1",
		BandwidthLimit: 1 << 20, LoginDelay: -1}
	data := bytes.Repeat([]byte("z"), 600<<10) // ~0.6 s at 1 MiB/s
	_ = os.MkdirAll(filepath.Join(dir, "acme"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "acme", "big"), data, 0o644)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	addr := l.Addr().String()

	idle := dialRaw(t, addr, "")
	idle.login("acme", "secret")
	busy := dialRaw(t, addr, "")
	busy.login("acme", "secret")
	dc := dialData(t, busy.epsv(), "")
	busy.must(150, "RETR big")
	var got []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); got, _ = io.ReadAll(dc) }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	if !bytes.Equal(got, data) {
		t.Fatalf("transfer cut by shutdown: %d of %d bytes", len(got), len(data))
	}
	busy.expect(226)
	busy.expect(421)
	idle.expect(421)
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

func TestXferlog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	e := newEnv(t, func(s *Server) { s.XferLog = &lockedWriter{w: &buf, mu: &mu} })
	c := e.dial(t, "acme", "secret")
	if err := c.Stor("a b.txt", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	line := buf.String()
	mu.Unlock()
	f := strings.Fields(line)
	if len(f) != 18 || f[6] != "127.0.0.1" || f[7] != "5" || f[8] != "/a_b.txt" || f[9] != "b" || f[11] != "i" ||
		f[13] != "acme" || f[14] != "ftp" || f[17] != "c" {
		t.Fatalf("xferlog line %q (%d fields)", line, len(f))
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestUsersFileValidation(t *testing.T) {
	for _, bad := range []string{
		"users: [{name: a}]",
		"users: [{name: a, password: x, passwordFile: /y}]",
		"users: [{name: a, password: x, access: Admin}]",
		"users: [{name: a, password: x}, {name: a, password: y}]",
		"users: [{name: a, passwordHash: notbcrypt}]",
		"users: [{name: bob, anonymous: true}]",
		"users: [{name: a, password: x, unknownField: 1}]",
	} {
		if _, err := ParseUsersFile([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	f, err := ParseUsersFile([]byte(`{"users":[{"name":"a","password":"x"},{"name":"anonymous","anonymous":true,"home":"pub","access":"ReadOnly"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Users[0].Home != "/a" || f.Users[0].Access != ReadWrite || f.Users[1].Home != "/pub" {
		t.Fatalf("defaults not applied: %+v", f.Users)
	}
}

// TestShutdownRacingServe starts Serve and Shutdown at the same moment, many times. Serve's first steps (the
// upload sweep of a backend that has one, the accept loop) start goroutines that Shutdown waits for; under the
// race detector (make test runs this package with -race) an Add to that WaitGroup that races Shutdown's Wait is
// reported, as CI once caught in an engine that failed at once. Each round must end with Serve returning
// ErrServerClosed and Shutdown returning nil, whichever ran first.
func TestShutdownRacingServe(t *testing.T) {
	for i := range 100 {
		srv := &Server{
			Auth:         &countingAuth{}, // never asked: no client connects
			FileSystems:  RootFS{Dir: t.TempDir()},
			PassivePorts: portrangetest.Free(t, 1),
			Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		if i%2 == 1 {
			runtime.Gosched() // let Serve get further in every other round
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: Shutdown: %v", i, err)
		}
		cancel()
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Fatalf("round %d: Serve returned %v, want ErrServerClosed", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Serve still running 5 s after Shutdown", i)
		}
	}
}
