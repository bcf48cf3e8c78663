package integration

import (
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
)

// idlePASV logs in over a bare control connection, sends PASV and then
// nothing: a misbehaving script.
func idlePASV(t *testing.T, e *env) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(e.host, e.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	step := func(want int, cmd string) {
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, msg, err := tp.ReadResponse(want); err != nil {
			t.Fatalf("%q: %v %s", cmd, err, msg)
		}
	}
	step(220, "")
	step(331, "USER "+user)
	step(230, "PASS "+pass)
	step(227, "PASV")
}

// Issue 17: sixteen sessions that send PASV and go idle on a 16-port range
// must not take the server off the air. A 17th client (curl, PASV) transfers
// within the data timeout + 1 s.
func TestIdlePASVSessionsDoNotStarveOthers(t *testing.T) {
	curl := needClient(t, "curl")
	const dataTimeout = 2 * time.Second
	e := newEnv(t, func(s *ftpd.Server) { s.PassivePorts = portrangetest.Free(t, 16); s.DataTimeout = dataTimeout })
	writeFile(t, filepath.Join(e.root, "f.txt"), "seventeenth\n")
	for i := 0; i < 16; i++ {
		idlePASV(t, e)
	}
	start := time.Now()
	out := run(t, time.Minute, curl, "-sS", "--disable-epsv", "-u", user+":"+pass,
		"ftp://"+net.JoinHostPort(e.host, e.port)+"/f.txt")
	took := time.Since(start)
	if out != "seventeenth\n" {
		t.Fatalf("17th client got %q", out)
	}
	t.Logf("17th client done in %v (data timeout %v)", took, dataTimeout)
	if took > dataTimeout+time.Second {
		t.Fatalf("17th client took %v, want within the data timeout + 1s (%v)", took, dataTimeout+time.Second)
	}
}

// ftplibBurst runs N sessions at once in threads of one Python process, each
// in PASV mode downloading and uploading a small file. argv: host port user
// password N. It prints "OK <seconds>" or the errors.
const ftplibBurst = `
import ftplib, io, sys, threading, time
host, port, user, password, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
errors, lock = [], threading.Lock()
go = threading.Event()
def one(i):
    go.wait()
    try:
        ftp = ftplib.FTP(timeout=90) # above the engine's data timeout: a PASV may wait that long
        ftp.connect(host, port)
        ftp.login(user, password)
        got = bytearray()
        ftp.retrbinary("RETR small.txt", got.extend)
        assert bytes(got) == b"small file", got
        ftp.storbinary("STOR up/%03d.txt" % i, io.BytesIO(b"up %d" % i))
        ftp.quit()
    except Exception as e:
        with lock:
            errors.append("%d: %r" % (i, e))
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
start = time.monotonic()
go.set()
for t in threads:
    t.join()
took = time.monotonic() - start
if errors:
    print("FAILED %d of %d in %.2fs, 425s: %d" % (len(errors), n, took, sum("425" in e for e in errors)))
    print("\n".join(errors[:5]))
else:
    print("OK %.2f" % took)
`

// Issue 10 §4: a busy range is a short wait, not a refusal. 200 ftplib
// sessions at once (PASV, RETR and STOR each) complete on a 100-port range and
// on the operator's default 16 ports.
func TestPASVBurstOnSmallRange(t *testing.T) {
	py := needClient(t, "python3")
	script := filepath.Join(t.TempDir(), "burst.py")
	if err := os.WriteFile(script, []byte(ftplibBurst), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for _, ports := range []int{100, 16} {
		t.Run(fmt.Sprintf("%d ports", ports), func(t *testing.T) {
			e := newEnv(t, func(s *ftpd.Server) {
				s.PassivePorts = portrangetest.Free(t, ports)
				s.MaxSessionsPerIP = -1
				// Logins are not what this test is about. With the default lockout policy the n logins of one
				// user from one address run 5 at a time and each waits at most 10 s (loginQueueTimeout) for
				// its turn: on a loaded machine the burst's own logins then fail with 530, before any PASV.
				s.Lockout = ftpd.LockoutPolicy{Threshold: n}
				// A PASV on a busy range waits at most the data timeout; the burst takes about 2 s here but 25 s
				// on one loaded core. Correctness, not speed, is tested: the run's 3 minutes bound the whole.
				s.DataTimeout = time.Minute
			})
			writeFile(t, filepath.Join(e.root, "small.txt"), "small file")
			if err := os.MkdirAll(filepath.Join(e.root, "up"), 0o755); err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSpace(run(t, 3*time.Minute, py, script, e.host, e.port, user, pass, strconv.Itoa(n)))
			if !strings.HasPrefix(out, "OK ") {
				t.Fatalf("ftplib burst: %s", short(out))
			}
			t.Logf("%d ftplib sessions on %d ports: %ss", n, ports, strings.TrimPrefix(out, "OK "))
			for i := 0; i < n; i++ {
				if got := readFile(t, filepath.Join(e.root, "up", fmt.Sprintf("%03d.txt", i))); got != "up "+strconv.Itoa(i) {
					t.Fatalf("upload %d: %q", i, got)
				}
			}
		})
	}
}

// ftplibMLSD checks that what MLSD offers as a readable file, RETR delivers,
// and that RETR refuses everything else. argv: host port user password.
const ftplibMLSD = `
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP(timeout=30)
ftp.connect(host, port)
ftp.login(user, password)
for name, facts in ftp.mlsd(facts=["type", "perm"]):
    offered = facts["type"] == "file" and "r" in facts.get("perm", "")
    try:
        ftp.retrbinary("RETR " + name, lambda b: None)
        fetched = True
    except ftplib.error_perm:
        fetched = False
    print("%s %s %s %s" % (name, facts["type"], "offered" if offered else "not-offered", "fetched" if fetched else "refused"))
ftp.quit()
`

// Issue 17: MLSD must not offer a symlink pointing outside the user's home as
// a readable file when RETR refuses it.
func TestMLSDMatchesRETRWithFtplib(t *testing.T) {
	py := needClient(t, "python3")
	e := newEnv(t)
	outside := filepath.Join(filepath.Dir(e.root), "secret.txt")
	writeFile(t, outside, "secret")
	writeFile(t, filepath.Join(e.root, "plain.txt"), "plain")
	for name, target := range map[string]string{"escape-link": outside, "inside-link": "plain.txt"} {
		if err := os.Symlink(target, filepath.Join(e.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(t.TempDir(), "mlsd.py")
	if err := os.WriteFile(script, []byte(ftplibMLSD), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, time.Minute, py, script, e.host, e.port, user, pass)
	seen := map[string]bool{}
	for _, l := range splitLines(out) {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("bad line %q", l)
		}
		seen[f[0]] = true
		if (f[2] == "offered") != (f[3] == "fetched") {
			t.Errorf("MLSD and RETR disagree: %s", l)
		}
	}
	for _, name := range []string{"plain.txt", "escape-link", "inside-link"} {
		if !seen[name] {
			t.Errorf("%s not listed:\n%s", name, out)
		}
	}
}
