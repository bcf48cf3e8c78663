package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
	"github.com/ftp-operator/ftp-operator/internal/promtext/promtexttest"
	"github.com/ftp-operator/ftp-operator/internal/testcert"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ftpCmd sends a command and returns the final reply line.
func ftpCmd(t *testing.T, c net.Conn, r *bufio.Reader, cmd string) string {
	t.Helper()
	if cmd != "" {
		if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if len(line) >= 4 && line[3] == ' ' {
			return strings.TrimSpace(line)
		}
	}
}

func TestRunFTPDFlagsHealthAndAddressFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.yaml")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("p4ss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("users:\n  - name: acme\n    passwordFile: "+pwFile+"\n    home: /acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(dir, "address")
	if err := os.WriteFile(addrFile, []byte("192.0.2.10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctl, health := freeAddr(t), freeAddr(t)
	startFTPD(t, "--listen", ctl, "--health-listen", health, "--root", root, "--users", users,
		"--passive-ports", "21000-21009", "--address-file", addrFile, "--active-mode", "Disabled",
		"--xferlog", filepath.Join(dir, "xfer.log"), "--log-level", "error", "--fsync-uploads")
	var resp *http.Response
	for i := 0; i < 100; i++ {
		var err error
		if resp, err = http.Get("http://" + health + "/readyz"); err == nil && resp.StatusCode == 200 {
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp == nil || resp.StatusCode != 200 {
		t.Fatal("/readyz never became ready")
	}
	resp.Body.Close()
	for _, p := range []string{"/healthz", "/metrics"} {
		r, err := http.Get("http://" + health + p)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v", p, err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if p == "/metrics" && !strings.Contains(string(b), "ftpd_sessions_active") {
			t.Fatalf("/metrics lacks engine metrics")
		}
		if p != "/metrics" {
			continue
		}
		// The binary's version and the passive range's size (21000-21009).
		for _, want := range []string{`ftpd_build_info{goversion="` + runtime.Version() + `",version="` + version + `"} 1`,
			"\nftpd_passive_ports 10\n"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	}
	c, err := net.Dial("tcp", ctl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	for _, step := range []struct{ cmd, want string }{
		{"", "220"}, {"USER acme", "331"}, {"PASS p4ss", "230"}, {"PORT 127,0,0,1,100,100", "502"},
	} {
		if got := ftpCmd(t, c, r, step.cmd); !strings.HasPrefix(got, step.want) {
			t.Fatalf("%q: got %q, want %s", step.cmd, got, step.want)
		}
	}
	waitPASV := func(want string) {
		for i := 0; i < 100; i++ {
			if got := ftpCmd(t, c, r, "PASV"); strings.Contains(got, want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("PASV never announced %s", want)
	}
	waitPASV("(192,0,2,10,")
	if err := os.WriteFile(addrFile, []byte("192.0.2.11"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPASV("(192,0,2,11,")
}

// TestFTPDRejectsBadInput: the ftpd subcommand refuses bad arguments before it serves (engineconfig tests name
// each case), and a root that is not a directory or a missing users file when it builds the server.
func TestFTPDRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "u.yaml")
	_ = os.WriteFile(users, []byte("users: []\n"), 0o600)
	for _, args := range [][]string{
		{"--users", users},
		{"--root", dir, "--users", users, "--tls-mode", "Required"},
		{"--root", dir, "--users", users, "--address-overrides", "nonsense"},
		{"--root", filepath.Join(dir, "missing"), "--users", users},
		{"--root", users, "--users", users},
	} {
		if err := runFTPD(context.Background(), append(args, "--listen=127.0.0.1:0", "--health-listen=")); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestTLSRequireSessionReuseFlag: the requirement is on unless --tls-require-session-reuse=false.
func TestTLSRequireSessionReuseFlag(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "u.yaml")
	_ = os.WriteFile(users, []byte("users: []\n"), 0o600)
	cert, key := writeSelfSigned(t, dir)
	for _, tt := range []struct {
		extra    []string
		optional bool
	}{
		{nil, false},
		{[]string{"--tls-require-session-reuse"}, false},
		{[]string{"--tls-require-session-reuse=false"}, true},
	} {
		args := append([]string{"--root", dir, "--users", users, "--tls-cert", cert, "--tls-key", key}, tt.extra...)
		cfg, err := engineconfig.Parse(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		reg := promtext.NewRegistry()
		srv, _, err := buildServer(cfg, nil, ftpd.NewMetrics(reg))
		if err != nil {
			t.Fatal(err)
		}
		// The certificate's expiry is a metric from the first load on.
		if err := testutil.GatherAndCompare(promtexttest.Gatherer(reg), strings.NewReader(fmt.Sprintf(`
# HELP ftpd_tls_certificate_expiry_timestamp_seconds NotAfter (unix time) of the TLS certificate served, updated on every (re)load; absent without TLS.
# TYPE ftpd_tls_certificate_expiry_timestamp_seconds gauge
ftpd_tls_certificate_expiry_timestamp_seconds %d
`, certNotAfter(t, cert))), "ftpd_tls_certificate_expiry_timestamp_seconds"); err != nil {
			t.Error(err)
		}
		if srv.TLSSessionReuseOptional != tt.optional {
			t.Errorf("%v: TLSSessionReuseOptional = %v, want %v", tt.extra, srv.TLSSessionReuseOptional, tt.optional)
		}
	}
}

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	return testcert.New(t, testcert.Options{Hosts: []string{"127.0.0.1"}}).WriteFiles(t, dir)
}

func certNotAfter(t *testing.T, certFile string) int64 {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter.Unix()
}
