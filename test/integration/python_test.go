package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ftplibScript exercises Python's ftplib. argv: mode host port implicit_port
// cafile workdir user password. It prints "OK" when every check passed.
const ftplibScript = `
import ftplib, hashlib, os, socket, ssl, sys

mode, host, port, iport, cafile, work, user, password = sys.argv[1:9]
port, iport = int(port), int(iport)

class ResumingFTP_TLS(ftplib.FTP_TLS):
    """ftplib's FTP_TLS does not resume the control connection's TLS session on data connections
    (cpython issue 63699), which the engine requires by default: pass it, as docs/security.md shows."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

class ImplicitFTP_TLS(ResumingFTP_TLS):
    """ftplib has no implicit FTPS: wrap the socket before the greeting."""
    def connect(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.create_connection((host, port), timeout)
        self.af = self.sock.family
        self.sock = self.context.wrap_socket(self.sock, server_hostname=host)
        self.file = self.sock.makefile('r', encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

def ctx():
    c = ssl.create_default_context(cafile=cafile)
    c.check_hostname = False
    return c

if mode == "implicit":
    ftp = ImplicitFTP_TLS(context=ctx(), timeout=30)
    ftp.connect(host, iport, 30)
    ftp.login(user, password)
    ftp.prot_p()
elif mode == "explicit":
    ftp = ResumingFTP_TLS(context=ctx(), timeout=30)
    ftp.connect(host, port)
    ftp.login(user, password)  # sends AUTH TLS first
    ftp.prot_p()
else:
    ftp = ftplib.FTP(timeout=30)
    ftp.connect(host, port)
    ftp.login(user, password)
if mode == "active":
    ftp.set_pasv(False)
if mode == "epsv":
    ftp.af = socket.AF_INET6  # makes ftplib use EPSV (it uses PASV for IPv4)

name = "py héllo wörld %s.txt" % mode
body = ("grüße via ftplib %s\n" % mode).encode()
with open(os.path.join(work, "src"), "wb") as f:
    f.write(body)
with open(os.path.join(work, "src"), "rb") as f:
    ftp.storbinary("STOR " + name, f)
got = bytearray()
ftp.retrbinary("RETR " + name, got.extend)
assert bytes(got) == body, ("retr", got)
assert ftp.size(name) == len(body), "size"

# Resume: REST + RETR.
tail = bytearray()
ftp.retrbinary("RETR " + name, tail.extend, rest=5)
assert bytes(tail) == body[5:], ("rest", tail)

# Empty file.
import io
ftp.storbinary("STOR empty.bin", io.BytesIO(b""))
e = bytearray()
ftp.retrbinary("RETR empty.bin", e.extend)
assert e == b"", "empty"

# Listings: LIST (parsed by ftplib's dir), NLST and MLSD, 5000 entries.
lines = []
ftp.dir("many", lines.append)
assert len(lines) == 5000, ("LIST", len(lines))
assert all(l.split(None, 8)[8].startswith("file ") for l in lines), lines[0]
names = ftp.nlst("many")
assert len(names) == 5000, ("NLST", len(names))
facts = dict(ftp.mlsd("many", facts=["type", "size"]))
assert len(facts) == 5000 and facts["file 04999.txt"]["type"] == "file", ("MLSD", len(facts))
assert name in ftp.nlst(), "uploaded name missing from NLST"

# Directory with spaces and UTF-8, PWD.
ftp.mkd("dïr with space")
ftp.cwd("dïr with space")
assert ftp.pwd() == "/dïr with space", ftp.pwd()
ftp.cwd("..")
ftp.rmd("dïr with space")
ftp.delete(name)
ftp.quit()
print("OK")
`

func TestPythonFtplib(t *testing.T) {
	py := needClient(t, "python3")
	e := newEnv(t)
	makeMany(t, filepath.Join(e.root, "many"), 5000)
	script := filepath.Join(t.TempDir(), "ftplib_test.py")
	if err := os.WriteFile(script, []byte(ftplibScript), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		mode  string
		verbs []string
		not   []string
	}{
		{mode: "passive", verbs: []string{"PASV"}, not: []string{"EPSV", "PORT"}},
		{mode: "epsv", verbs: []string{"EPSV"}, not: []string{"PASV", "PORT"}},
		{mode: "active", verbs: []string{"PORT"}, not: []string{"PASV", "EPSV"}},
		{mode: "explicit", verbs: []string{"AUTH", "PBSZ", "PROT", "PASV"}},
		{mode: "implicit", verbs: []string{"PBSZ", "PROT", "PASV"}, not: []string{"AUTH"}},
	} {
		t.Run(m.mode, func(t *testing.T) {
			e.takeVerbs()
			out := run(t, 2*time.Minute, py, script, m.mode, e.host, e.port, e.implicitPort, e.certFile, t.TempDir(), user, pass)
			if strings.TrimSpace(out) != "OK" {
				t.Fatalf("ftplib output: %s", short(out))
			}
			e.expectVerbs(t, append([]string{"STOR", "RETR", "REST", "LIST", "NLST", "MLSD", "MKD", "RMD", "DELE"}, m.verbs...), m.not)
		})
	}
}
