package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// TestSpecLimitsWithFtplib: spec.limits.maxSessionsPerIP refuses the session beyond it with 421 (another address
// still gets in), and spec.limits.idleTimeout closes an idle session with 421.
func TestSpecLimitsWithFtplib(t *testing.T) {
	e := startRendered(t, "127.0.0.1", 4, func(s *ftpv1.FTPServer) {
		s.Spec.Limits = ftpv1.Limits{MaxSessionsPerIP: ptr.To[int32](2), IdleTimeout: &metav1.Duration{Duration: 2 * time.Second}}
	})
	out := e.pyFTP(t, `
def login(src):
    f = ftplib.FTP(timeout=10, source_address=(src, 0))
    f.connect(host, port)
    f.login(user, password)
    return f
a, b = login("127.0.0.1"), login("127.0.0.1")
try:
    login("127.0.0.1")
    sys.exit("third session from 127.0.0.1 was let in")
except ftplib.error_temp as err:
    assert str(err).startswith("421 Too many connections from your address"), err
other = login("127.0.0.2")  # the cap is per address
other.quit()
a.quit()
for i in range(50):  # a freed slot is usable again, once the server has closed a's session
    try:
        c = login("127.0.0.1")
        break
    except ftplib.error_temp:
        time.sleep(0.1)
else:
    sys.exit("a's slot was never freed")
c.voidcmd("NOOP")
time.sleep(3.5)  # idleTimeout is 2s
try:
    c.voidcmd("NOOP")
    sys.exit("idle session still open")
except ftplib.error_temp as err:
    assert str(err).startswith("421 Idle timeout"), err
print("OK")
`, nil)
	if strings.TrimSpace(out) != "OK" {
		t.Fatalf("ftplib: %s", short(out))
	}
}

// TestSpecBandwidthWithCurl: spec.limits.bandwidthPerConnection caps a download (curl's own measurement). The engine
// lets the first second's worth (at most 256 KiB) through at once, so 768 KiB at 256 KiB/s take 2 s, not 3.
func TestSpecBandwidthWithCurl(t *testing.T) {
	curl := needClient(t, "curl")
	e := startRendered(t, "127.0.0.1", 4, func(s *ftpv1.FTPServer) {
		s.Spec.Limits.BandwidthPerConnection = ptr.To(resource.MustParse("256Ki"))
	})
	writeRandom(t, filepath.Join(e.home, "big.bin"), 768<<10, 1)
	out := run(t, time.Minute, curl, "-sS", "-o", "/dev/null", "-w", "%{speed_download} %{time_total}",
		"--user", user+":"+pass, "ftp://127.0.0.1:"+e.port+"/big.bin")
	var speed, secs float64
	if _, err := fmt.Sscan(out, &speed, &secs); err != nil {
		t.Fatalf("curl -w: %q: %v", out, err)
	}
	t.Logf("768 KiB at %.0f B/s in %.2fs (cap 262144 B/s)", speed, secs)
	if speed > 256<<10*1.6 || secs < 1.8 {
		t.Fatalf("download at %.0f B/s in %.2fs: not capped at 256Ki/s", speed, secs)
	}
}

// TestSpecAddressOverrides: a client from 127.0.0.2 (inside the override's CIDR) is told the override's address
// and transfers through it with curl; a client from 127.0.0.1 is told the server's own address.
func TestSpecAddressOverrides(t *testing.T) {
	curl := needClient(t, "curl")
	// The server's published address is a documentation address that nothing here dials: only the reply is read.
	e := startRendered(t, "192.0.2.10", 4, func(s *ftpv1.FTPServer) {
		s.Spec.AddressOverrides = []ftpv1.AddressOverride{
			{CIDR: "127.0.0.2/32", Address: "127.0.0.1"},
			{CIDR: "10.0.0.0/8", Address: "10.96.0.10"},
		}
	})
	writeFile(t, filepath.Join(e.home, "f.txt"), "hello override\n")
	out := run(t, time.Minute, curl, "-sS", "-v", "--disable-epsv", "--no-ftp-skip-pasv-ip", "--interface", "127.0.0.2", "--user", user+":"+pass,
		"ftp://127.0.0.1:"+e.port+"/f.txt")
	if !strings.Contains(out, "hello override") || !strings.Contains(out, "227 Entering Passive Mode (127,0,0,1,") {
		t.Fatalf("curl from 127.0.0.2:\n%s", short(out))
	}
	out = e.pyFTP(t, `
f = ftplib.FTP(timeout=10, source_address=(src, 0))
f.connect(host, port)
f.login(user, password)
print(f.sendcmd("PASV"))
`, map[string]string{"src": "127.0.0.1"})
	if !strings.Contains(out, "(192,0,2,10,") {
		t.Fatalf("client from 127.0.0.1 was told %q, want the server's address 192.0.2.10", out)
	}
}

// TestSpecPassiveMultiplexing: with spec.passivePorts.multiplexing Enabled and one passive port, clients from two
// addresses are given that same port at once (without multiplexing the second PASV waits for the first client's
// reservation to expire), connect to it together, and each gets its own file.
func TestSpecPassiveMultiplexing(t *testing.T) {
	e := startRendered(t, "127.0.0.1", 1, func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts.Multiplexing = ftpv1.PassiveMultiplexingEnabled
		s.Spec.Limits.DataTimeout = &metav1.Duration{Duration: 3 * time.Second}
	})
	writeFile(t, filepath.Join(e.home, "a.txt"), "file for a\n")
	writeFile(t, filepath.Join(e.home, "b.txt"), "file for b\n")
	out := e.pyFTP(t, `
def login(src):
    f = ftplib.FTP(timeout=10, source_address=(src, 0))
    f.connect(host, port)
    f.login(user, password)
    f.voidcmd("TYPE I")
    return f
def pasv(f):
    h, p = ftplib.parse227(f.sendcmd("PASV"))
    return h, p
a, b = login("127.0.0.1"), login("127.0.0.2")
ha, pa = pasv(a)
t0 = time.monotonic()
hb, pb = pasv(b)  # a's port is reserved and not yet connected: shared, not waited for
assert pa == pb and time.monotonic() - t0 < 1, (pa, pb, time.monotonic() - t0)
da = socket.create_connection((ha, pa), timeout=10, source_address=("127.0.0.1", 0))
db = socket.create_connection((hb, pb), timeout=10, source_address=("127.0.0.2", 0))
def retr(f, d, name):
    f.putcmd("RETR " + name)
    r = f.getresp()
    assert r.startswith("150"), r
    data = b""
    while True:
        chunk = d.recv(65536)
        if not chunk:
            break
        data += chunk
    d.close()
    f.voidresp()
    return data
assert retr(b, db, "b.txt") == b"file for b\n"
assert retr(a, da, "a.txt") == b"file for a\n"
print("OK")
`, nil)
	if strings.TrimSpace(out) != "OK" {
		t.Fatalf("ftplib: %s", short(out))
	}
}

// TestSpecTransferLog: spec.transferLog writes one record per transfer on the engine's standard output: xferlog
// lines by default, JSON records with format json.
func TestSpecTransferLog(t *testing.T) {
	curl := needClient(t, "curl")
	for _, format := range []ftpv1.TransferLogFormat{"", ftpv1.TransferLogJSON} {
		t.Run("format="+string(format), func(t *testing.T) {
			e := startRendered(t, "127.0.0.1", 4, func(s *ftpv1.FTPServer) { s.Spec.TransferLog = &ftpv1.TransferLog{Format: format} })
			src := filepath.Join(t.TempDir(), "up.txt")
			writeFile(t, src, "12345")
			url := "ftp://127.0.0.1:" + e.port + "/"
			run(t, time.Minute, curl, "-sS", "--user", user+":"+pass, "-T", src, url)
			run(t, time.Minute, curl, "-sS", "-o", os.DevNull, "--user", user+":"+pass, url+"up.txt")
			var lines []string
			for deadline := time.Now().Add(5 * time.Second); len(lines) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				lines = e.transferLines()
			}
			if len(lines) != 2 {
				t.Fatalf("standard output holds %d lines, want one per transfer:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			for i, dir := range []string{"i", "o"} {
				if format == "" {
					f := strings.Fields(lines[i])
					if len(f) != 18 || f[6] != "127.0.0.1" || f[7] != "5" || f[8] != "/up.txt" || f[11] != dir || f[13] != user || f[17] != "c" {
						t.Errorf("xferlog line %q", lines[i])
					}
					continue
				}
				var rec ftpd.XferLogRecord // parsed by the engine's own record type; a non-numeric duration fails here
				if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil || !strings.Contains(lines[i], `"durationSeconds":`) {
					t.Fatalf("line %q: %v", lines[i], err)
				}
				want := map[string]string{"i": "upload", "o": "download"}[dir]
				if rec.Client != "127.0.0.1" || rec.User != user || rec.Direction != want || rec.Path != "/up.txt" || rec.Bytes != 5 ||
					rec.DurationSeconds < 0 || rec.Result != "complete" || time.Since(rec.Time) > time.Minute {
					t.Errorf("record %q", lines[i])
				}
			}
		})
	}
}

// TestSpecLockoutWithFtplib: after spec.lockout.threshold failed logins from one address even the right password is
// refused there for spec.lockout.backoff, while the same user from another address logs in.
func TestSpecLockoutWithFtplib(t *testing.T) {
	e := startRendered(t, "127.0.0.1", 4, func(s *ftpv1.FTPServer) {
		s.Spec.Lockout = ftpv1.Lockout{Threshold: ptr.To[int32](2), Backoff: &metav1.Duration{Duration: 2 * time.Second}}
	})
	out := e.pyFTP(t, `
def login(src, pw):
    f = ftplib.FTP(timeout=10, source_address=(src, 0))
    f.connect(host, port)
    try:
        f.login(user, pw)
        return "230"
    except ftplib.error_perm as err:
        return str(err)
    finally:
        f.close()
for i in range(2):
    r = login("127.0.0.1", "wrong")
    assert r.startswith("530 Login incorrect"), r
r = login("127.0.0.1", password)
assert r.startswith("530 Too many failed logins"), r
assert login("127.0.0.2", password) == "230"
time.sleep(2.5)
r = login("127.0.0.1", password)
assert r == "230", r
print("OK")
`, nil)
	if strings.TrimSpace(out) != "OK" {
		t.Fatalf("ftplib: %s", short(out))
	}
}
