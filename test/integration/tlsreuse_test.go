package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// The engine requires PROT P data connections to resume their control connection's TLS session (the default).
// These tests prove the clients people use do resume, with TLS 1.2 and 1.3, PASV and EPSV, uploads and
// downloads, and several transfers in one session: a client that did not resume would get 522 and fail.

var tlsVersions = []struct{ name, lftp, python string }{
	{"TLS1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLSv1_2"},
	{"TLS1.3", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "TLSv1_3"},
}

// expectAllResumed fails if the engine refused a data connection for not resuming.
func (e *env) expectAllResumed(t *testing.T) {
	t.Helper()
	text := e.log.String()
	if strings.Contains(text, "refused data connection") {
		t.Fatalf("the engine refused a data connection:\n%s", short(text))
	}
}

func TestTLSSessionReuseCurl(t *testing.T) {
	curl := needClient(t, "curl")
	e := newEnv(t)
	// curl (OpenSSL) negotiates TLS 1.3 with the engine by default; "default" proves that, "TLS1.3" forces it.
	for _, v := range []struct{ name, args string }{{"default", ""}, {"TLS1.3", "--tlsv1.3"}} {
		for _, passive := range []string{"PASV", "EPSV"} {
			t.Run(v.name+"/"+passive, func(t *testing.T) {
				args := []string{"-sS", "--max-time", "60", "-u", user + ":" + pass, "--ssl-reqd", "--cacert", e.certFile}
				if v.args != "" {
					args = append(args, v.args)
				}
				if passive == "PASV" {
					args = append(args, "--disable-epsv")
				}
				dir := t.TempDir()
				sums := map[string]string{}
				for i := 1; i <= 5; i++ {
					n := "f" + strconv.Itoa(i)
					sums[n] = writeRandom(t, filepath.Join(dir, n), int64(100_000+i*7919), uint64(i))
				}
				sub := "curl-" + v.name + "-" + passive
				base := "ftp://" + e.host + ":" + e.port + "/" + sub + "/"
				e.takeVerbs()
				// One curl command, one session: five uploads, then five downloads.
				run(t, time.Minute, curl, append(args, "--ftp-create-dirs", "-T", filepath.Join(dir, "f[1-5]"), base)...)
				down := t.TempDir()
				run(t, time.Minute, curl, append(args, base+"f[1-5]", "-o", filepath.Join(down, "f#1"))...)
				for n, sum := range sums {
					if got := sha256File(t, filepath.Join(e.root, sub, n)); got != sum {
						t.Errorf("uploaded %s differs", n)
					}
					if got := sha256File(t, filepath.Join(down, n)); got != sum {
						t.Errorf("downloaded %s differs", n)
					}
				}
				e.expectAllResumed(t)
				e.expectVerbs(t, []string{"AUTH", "PROT", passive, "STOR", "RETR"}, nil)
			})
		}
	}
	// Limitation, kept visible: curl with OpenSSL turns session tickets off (SSL_OP_NO_TICKET) and resumes TLS 1.2
	// by session ID, which Go's crypto/tls server does not implement. Forced to TLS 1.2 its data connection is
	// refused (curl drops the connection before reading the 522). docs/security.md says so; if this starts
	// passing, update the docs.
	t.Run("TLS1.2 refused", func(t *testing.T) {
		writeFile(t, filepath.Join(e.root, "small.txt"), "small\n")
		e.takeVerbs()
		out, err := exec.Command(curl, "-sS", "--max-time", "60", "-u", user+":"+pass, "--ssl-reqd", "--cacert", e.certFile,
			"--tls-max", "1.2", "ftp://"+e.host+":"+e.port+"/small.txt").CombinedOutput()
		log := e.log.String()
		if err == nil || !strings.Contains(log, "did not resume the control connection's TLS session") {
			t.Fatalf("curl --tls-max 1.2: %v %s; want the data connection refused", err, out)
		}
	})
}

func TestTLSSessionReuseLFTP(t *testing.T) {
	bin := needClient(t, "lftp")
	e := newEnv(t)
	for _, v := range tlsVersions {
		for _, passive := range []string{"PASV", "EPSV"} {
			t.Run(v.name+"/"+passive, func(t *testing.T) {
				epsv := "no"
				if passive == "EPSV" {
					epsv = "yes"
				}
				dir := t.TempDir()
				var puts, gets []string
				sums := map[string]string{}
				for i := 1; i <= 3; i++ {
					n := "f" + strconv.Itoa(i)
					sums[n] = writeRandom(t, filepath.Join(dir, n), int64(200_000+i*7919), uint64(10+i))
					puts = append(puts, "put '"+filepath.Join(dir, n)+"' -o "+n)
					gets = append(gets, "get "+n+" -o '"+filepath.Join(dir, "got-"+n)+"'")
				}
				sub := v.name + "-" + passive
				e.takeVerbs()
				script := append([]string{"mkdir -p " + sub, "cd " + sub}, puts...)
				e.lftp(t, bin, false, []string{"set ftp:ssl-force yes", "set ftp:ssl-protect-data yes", "set ftp:ssl-protect-list yes",
					"set ssl:priority '" + v.lftp + "'", "set ftp:passive-mode on", "set ftp:prefer-epsv " + epsv},
					append(script, gets...)...)
				for n, sum := range sums {
					if got := sha256File(t, filepath.Join(e.root, sub, n)); got != sum {
						t.Errorf("uploaded %s differs", n)
					}
					if got := sha256File(t, filepath.Join(dir, "got-"+n)); got != sum {
						t.Errorf("downloaded %s differs", n)
					}
				}
				e.expectAllResumed(t)
				e.expectVerbs(t, []string{"AUTH", "PROT", passive, "STOR", "RETR"}, nil)
			})
		}
	}
}

// ftplibReuseScript: argv host port cafile workdir user password tlsversion epsv stock. Uploads and downloads
// three files in one session with PROT P. ftplib's FTP_TLS does not resume the control session on data
// connections (cpython issue 63699); the subclass docs/security.md shows does (stock=no).
const ftplibReuseScript = `
import ftplib, hashlib, os, socket, ssl, sys
host, port, cafile, work, user, password, version, epsv, stock = sys.argv[1:10]
` + support.FtplibResumingTLS + `
c = ssl.create_default_context(cafile=cafile)
c.check_hostname = False
c.minimum_version = c.maximum_version = getattr(ssl.TLSVersion, version)
ftp = (ftplib.FTP_TLS if stock == "yes" else ResumingFTP_TLS)(context=c, timeout=30)
ftp.connect(host, int(port))
ftp.login(user, password)
ftp.prot_p()
if epsv == "yes":
    ftp.af = socket.AF_INET6  # makes ftplib use EPSV
if stock == "yes":
    # A download first: a refused upload may fail on its write before the 522 is read.
    try:
        ftp.retrlines("LIST", lambda line: None)
    except ftplib.error_perm as e:
        print(e)
        sys.exit(3)
d = "py-%s-%s-%s" % (version, epsv, stock)
ftp.mkd(d)
ftp.cwd(d)
for i in range(1, 4):
    body = os.urandom(150000 + i * 7919)
    with open(os.path.join(work, "f%d" % i), "wb") as f:
        f.write(body)
    with open(os.path.join(work, "f%d" % i), "rb") as f:
        ftp.storbinary("STOR f%d" % i, f)
    got = bytearray()
    try:
        ftp.retrbinary("RETR f%d" % i, got.extend)
    except ftplib.error_perm as e:
        print(e)
        sys.exit(3)
    assert bytes(got) == body, ("retr", i, len(got))
ftp.quit()
print("OK")
`

func TestTLSSessionReusePythonFtplib(t *testing.T) {
	py := needClient(t, "python3")
	script := filepath.Join(t.TempDir(), "reuse.py")
	if err := os.WriteFile(script, []byte(ftplibReuseScript), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	for _, v := range tlsVersions {
		for _, passive := range []string{"PASV", "EPSV"} {
			t.Run(v.name+"/"+passive, func(t *testing.T) {
				epsv := "no"
				if passive == "EPSV" {
					epsv = "yes"
				}
				work := t.TempDir()
				e.takeVerbs()
				out := run(t, time.Minute, py, script, e.host, e.port, e.certFile, work, user, pass, v.python, epsv, "no")
				if strings.TrimSpace(out) != "OK" {
					t.Fatalf("ftplib: %s", out)
				}
				for i := 1; i <= 3; i++ {
					n := "f" + strconv.Itoa(i)
					if sha256File(t, filepath.Join(work, n)) != sha256File(t, filepath.Join(e.root, "py-"+v.python+"-"+epsv+"-no", n)) {
						t.Errorf("uploaded %s differs", n)
					}
				}
				e.expectAllResumed(t)
				e.expectVerbs(t, []string{"AUTH", "PROT", passive, "STOR", "RETR"}, nil)
			})
		}
	}
	// Stock FTP_TLS does not resume: refused with the clear 522 by default, served with the requirement off.
	stock := func(e *env) (string, error) {
		cmd := exec.Command(py, script, e.host, e.port, e.certFile, t.TempDir(), user, pass, "TLSv1_3", "no", "yes")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("stock ftplib refused", func(t *testing.T) {
		out, err := stock(e)
		if err == nil || !strings.Contains(out, "522 Data connection must reuse the control connection's TLS session") {
			t.Fatalf("stock ftplib: %v %s; want the 522 refusal", err, short(out))
		}
	})
	t.Run("stock ftplib with reuse optional", func(t *testing.T) {
		e := newEnv(t, func(s *ftpd.Server) { s.TLSSessionReuseOptional = true })
		if out, err := stock(e); err != nil || strings.TrimSpace(out) != "OK" {
			t.Fatalf("stock ftplib with reuse optional: %v %s", err, short(out))
		}
	})
}
