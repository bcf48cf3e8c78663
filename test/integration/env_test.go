// Package integration drives the embedded FTP engine (started in-process on
// 127.0.0.1) with real external clients: curl, lftp and Python's ftplib.
// Install them with hack/install-test-clients.sh. A missing client skips its
// tests locally and fails them when CI is set.
package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/internal/testcert"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// needClient returns the path of a client binary; missing binaries fail the
// test under CI and skip it elsewhere.
func needClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (run hack/install-test-clients.sh): %v", name, err)
		}
		t.Skipf("%s not installed; run hack/install-test-clients.sh", name)
	}
	return p
}

type env struct {
	log          *support.SyncBuffer // debug log: proves which commands a client used
	srv          *ftpd.Server
	host         string
	port         string // explicit (plain / AUTH TLS) control port
	implicitPort string
	root         string // acme's home on disk
	certFile     string
}

const user, pass = "acme", "s3cret pass"

// newEnv starts the engine on 127.0.0.1; opts adjust the server before it serves.
func newEnv(t *testing.T, opts ...func(*ftpd.Server)) *env {
	t.Helper()
	dir := t.TempDir()
	root, users := acmeRoot(t, dir)
	auth, err := ftpd.NewFileAuthenticator(users)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := selfSigned(t, dir)
	cr, err := ftpd.NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := &ftpd.Server{
		Auth:         auth,
		FileSystems:  ftpd.RootFS{Dir: root},
		PassivePorts: portrangetest.Free(t, 100),
		PassiveHost:  "127.0.0.1",
		ActiveMode:   true,
		TLSConfig:    cr.TLSConfig(),
		TLSMode:      ftpd.TLSExplicit,
		IdleTimeout:  time.Minute,
		DataTimeout:  20 * time.Second,
		LoginDelay:   -1,
	}
	for _, o := range opts {
		o(srv)
	}
	logBuf := &support.SyncBuffer{}
	var logW io.Writer = logBuf
	if os.Getenv("FTPD_DEBUG") != "" {
		logW = io.MultiWriter(logBuf, os.Stderr)
	}
	srv.Logger = slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- srv.Serve(l) }()
	go func() { done <- srv.ServeImplicitTLS(il) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := <-done; !errors.Is(err, ftpd.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	_, p, _ := net.SplitHostPort(l.Addr().String())
	_, ip, _ := net.SplitHostPort(il.Addr().String())
	return &env{log: logBuf, srv: srv, host: "127.0.0.1", port: p, implicitPort: ip, root: filepath.Join(root, "acme"), certFile: certFile}
}

// acmeRoot makes dir/root with acme's home and dir/users.yaml naming acme; it returns both paths.
func acmeRoot(t *testing.T, dir string) (root, users string) {
	t.Helper()
	root = filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	users = filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - name: acme\n    password: \""+pass+"\"\n    home: /acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return root, users
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	return testcert.New(t, testcert.Options{Hosts: []string{"127.0.0.1", "localhost"}, ValidFor: 24 * time.Hour}).WriteFiles(t, dir)
}

// run executes a client with a timeout and returns its combined output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(redact(args), " "), err, short(string(out)))
	}
	return string(out)
}

func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, pass, "***")
	}
	return out
}

// writeRandom writes size bytes from a seeded PRNG and returns the SHA-256.
func writeRandom(t *testing.T, path string, size int64, seed uint64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	src := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1, 2, 3})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		_, _ = src.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		h.Write(buf[:n])
		left -= n
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeMany creates dir with n empty files "file NNNNN.txt".
func makeMany(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, "file "+pad(i)+".txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func pad(i int) string {
	s := strconv.Itoa(i)
	return strings.Repeat("0", 5-len(s)) + s
}

// splitLines splits client output on LF, dropping CRs and a final empty line.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// short truncates long client output in failure messages.
func short(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "...(truncated)"
	}
	return s
}

// takeVerbs returns the command verbs logged since the last call.
func (e *env) takeVerbs() map[string]bool {
	text := e.log.Take()
	verbs := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if i := strings.Index(l, " verb="); i >= 0 {
			v, _, _ := strings.Cut(l[i+6:], " ")
			verbs[v] = true
		}
	}
	return verbs
}

// expectVerbs fails unless every verb was used by the client and none of
// the forbidden ones; it proves a mode was exercised, not silently replaced.
func (e *env) expectVerbs(t *testing.T, want, forbidden []string) {
	t.Helper()
	seen := e.takeVerbs()
	for _, v := range want {
		if !seen[v] {
			t.Errorf("client never sent %s (sent %v)", v, seen)
		}
	}
	for _, v := range forbidden {
		if seen[v] {
			t.Errorf("client sent %s, expected it not to", v)
		}
	}
}
