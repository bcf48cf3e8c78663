package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
)

// rootAndUsers makes a temporary folder with a root folder and a users file of one user, acme/p4ss.
func rootAndUsers(t *testing.T) (dir, root, users string) {
	t.Helper()
	dir = t.TempDir()
	root = filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	users = filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - name: acme\n    password: p4ss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, root, users
}

// startLocalFTPD runs the ftpd subcommand (startFTPD) with one user (acme/p4ss) and the extra arguments, and waits
// for /readyz. It returns the control and health addresses and startFTPD's stop.
func startLocalFTPD(t *testing.T, extra ...string) (ctl, health string, stop func() error) {
	t.Helper()
	_, root, users := rootAndUsers(t)
	ctl, health = freeAddr(t), freeAddr(t)
	stop = startFTPD(t, append([]string{"--listen", ctl, "--health-listen", health, "--root", root, "--users", users,
		"--public-address", "127.0.0.1", "--log-level", "error"}, extra...)...)
	for range 200 {
		if code, _ := httpStatus(health, "/readyz"); code == http.StatusOK {
			return ctl, health, stop
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("/readyz never became ready")
	return
}

func httpStatus(addr, path string) (int, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func login(t *testing.T, ctl string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ctl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for _, step := range []struct{ cmd, want string }{{"", "220"}, {"USER acme", "331"}, {"PASS p4ss", "230"}, {"TYPE I", "200"}} {
		if got := ftpCmd(t, c, r, step.cmd); !strings.HasPrefix(got, step.want) {
			t.Fatalf("%q: got %q, want %s", step.cmd, got, step.want)
		}
	}
	return c, r
}

// epsvPort sends EPSV and returns the port of the reply.
func epsvPort(t *testing.T, c net.Conn, r *bufio.Reader) int32 {
	t.Helper()
	reply := ftpCmd(t, c, r, "EPSV")
	i, j := strings.Index(reply, "(|||"), strings.LastIndex(reply, "|)")
	if !strings.HasPrefix(reply, "229") || i < 0 || j < i {
		t.Fatalf("EPSV: %q", reply)
	}
	p, err := strconv.Atoi(reply[i+4 : j])
	if err != nil {
		t.Fatalf("EPSV: %q", reply)
	}
	return int32(p)
}

// TestFTPDServesTheSliceOfItsOrdinal: a StatefulSet's pod (POD_NAME ftp-2) given the slice of ordinal 0 with
// --passive-slice-by-ordinal opens its passive listeners only in the slice of ordinal 2, and /metrics counts that
// slice's ports.
func TestFTPDServesTheSliceOfItsOrdinal(t *testing.T) {
	grant := portrangetest.Free(t, 12) // three pods of four ports
	slice0 := grant.First(4)
	want := slice0.Shift(2)
	t.Setenv(engineconfig.PodNameEnv, "ftp-2")
	ctl, health, _ := startLocalFTPD(t, "--passive-ports", slice0.String(), "--passive-slice-by-ordinal")
	c, r := login(t, ctl)
	seen := map[int32]bool{}
	for range 8 {
		p := epsvPort(t, c, r)
		if !want.Contains(p) {
			t.Fatalf("pod ftp-2 offered port %d, outside its slice %s (grant %s)", p, want, grant)
		}
		seen[p] = true
	}
	t.Logf("pod ftp-2 of grant %s offered %d distinct ports, all in its slice %s", grant, len(seen), want)
	resp, err := http.Get("http://" + health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = bufio.NewReader(resp.Body).WriteTo(b)
	if !strings.Contains(b.String(), "\nftpd_passive_ports 4\n") {
		t.Error("/metrics does not count the 4 ports of the slice")
	}
}

// TestFTPDRefusesAPodNameWithoutOrdinal: with --passive-slice-by-ordinal and no ordinal in POD_NAME the engine
// does not start, and says why.
func TestFTPDRefusesAPodNameWithoutOrdinal(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(engineconfig.PodNameEnv, "")
	err := runFTPD(context.Background(), []string{"--root", dir, "--users", users, "--passive-ports", "31000-31003",
		"--passive-slice-by-ordinal", "--health-listen", ""})
	if err == nil || !strings.Contains(err.Error(), "POD_NAME") {
		t.Fatalf("runFTPD: %v; want an error naming POD_NAME", err)
	}
}

// TestReadyzFalseAtOnceOnSIGTERMWhileTransfersFinish: when the engine is told to stop (SIGTERM cancels its
// context), /readyz answers 503 at once, so the pod leaves the Services' endpoints, while /healthz stays 200 (the
// kubelet must not kill a draining pod) and a running upload still completes with 226 and its bytes.
func TestReadyzFalseAtOnceOnSIGTERMWhileTransfersFinish(t *testing.T) {
	ctl, health, cancel := startLocalFTPD(t, "--passive-ports", portrangetest.Free(t, 4).String(), "--shutdown-timeout", "20s")
	c, r := login(t, ctl)
	port := epsvPort(t, c, r)
	data, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	if got := ftpCmd(t, c, r, "STOR drain.bin"); !strings.HasPrefix(got, "150") {
		t.Fatalf("STOR: %q", got)
	}
	chunk := strings.Repeat("x", 64<<10)
	if _, err := data.Write([]byte(chunk)); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- cancel() }()
	var notReady time.Duration
	for notReady == 0 && time.Since(start) < 5*time.Second {
		if code, _ := httpStatus(health, "/readyz"); code == http.StatusServiceUnavailable {
			notReady = time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if notReady == 0 {
		t.Fatal("/readyz never answered 503 after the stop")
	}
	if code, err := httpStatus(health, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz during the drain: %d %v; want 200", code, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("the engine stopped (%v) before its upload finished", err)
	default:
	}
	// The upload goes on and completes.
	if _, err := data.Write([]byte(chunk)); err != nil {
		t.Fatalf("upload interrupted by the drain: %v", err)
	}
	data.Close()
	if got := ftpCmd(t, c, r, ""); !strings.HasPrefix(got, "226") {
		t.Fatalf("upload during the drain: %q, want 226", got)
	}
	_ = ftpCmd(t, c, r, "QUIT")
	if err := <-stopped; err != nil {
		t.Fatalf("runFTPD: %v", err)
	}
	t.Logf("/readyz answered 503 %s after the stop; the running upload completed", notReady.Round(time.Millisecond))
}
