// Package support is the one place for test start-up, used by every suite (controllers, kubectl-ftp, integration,
// packaging, chaos, e2e), the operator benchmarks and the demo: a real kube-apiserver and etcd with the CRD
// (StartEnvtest, EnvtestFor, EnvtestMain) and managers that share it (ManagerOptions), MetalLB's controller as a
// real load balancer, `ftp-operator manager` as a process, a real FTP engine on loopback with a raw control-channel
// dialog (StartEngine, ControlDialog, PASVReply), polling (Eventually, WaitFor), free ports and kubeconfigs.
// Certificates come from internal/testcert and passive ranges from internal/portrange/portrangetest, which the
// engine's own package tests can import too (this package imports the engine, so they cannot import it).
package support

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// MetalLB describes one MetalLB controller run: where its binary is, the pool it assigns from and the
// loadBalancerClass it serves (so that other Services in the same API server cannot drain its pool).
type MetalLB struct {
	Dir       string // hack/metallb.sh's folder: controller binary and crds/
	PoolName  string
	Addresses string // such as 198.51.100.10-198.51.100.20
	Class     string
	LogLevel  string // default info
}

// Start runs MetalLB's controller as a process against env, with one IPAddressPool. The process is ours and is
// killed by its PID when the test ends; its log is printed if the test failed.
func (m MetalLB) Start(t testing.TB, env *envtest.Environment, c client.Client) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
		"metadata": map[string]any{"name": m.PoolName, "namespace": "metallb-system"},
		"spec":     map[string]any{"addresses": []any{m.Addresses}},
	}}
	if err := c.Create(ctx, pool); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	kc := Kubeconfig(t, env, "metallb")
	logs, err := os.Create(filepath.Join(t.TempDir(), "metallb.log"))
	if err != nil {
		t.Fatal(err)
	}
	level := m.LogLevel
	if level == "" {
		level = "info"
	}
	// Its metrics listen on every interface at --port: give it a port that is free.
	cmd := exec.Command(filepath.Join(m.Dir, "controller"), "--namespace=metallb-system", "--webhook-mode=disabled",
		"--lb-class="+m.Class, fmt.Sprintf("--port=%d", FreePort(t)), "--kubeconfig="+kc, "--log-level="+level)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the process we started, by its PID
		_ = cmd.Wait()
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("MetalLB log (tail):\n%s", tail(string(b), 3000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// FreePort is a loopback TCP port that the OS just said is free.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreeLoopbackPort is FreePort for programs (the demo, the benchmark harness) rather than tests.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// EngineUser and EnginePassword log in to StartEngine's server.
const (
	EngineUser     = "acme"
	EnginePassword = "s3cret"
)

// StartEngine runs a real engine on 127.0.0.1 with one user and a one-port passive range, until the test ends.
// It returns the server and its control address.
func StartEngine(t testing.TB) (*ftpd.Server, string) {
	t.Helper()
	return StartEngineWith(t, nil)
}

// StartEngineWith is StartEngine with configure (when not nil) applied to the server before it starts serving,
// for fields that cannot change later (PassiveHost, TLSConfig, limits).
func StartEngineWith(t testing.TB, configure func(*ftpd.Server)) (*ftpd.Server, string) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	doc := fmt.Sprintf("users:\n- name: %s\n  password: %s\n  home: /%s\n", EngineUser, EnginePassword, EngineUser)
	if err := os.WriteFile(users, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := ftpd.NewFileAuthenticator(users)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	p := FreePort(t)
	srv := &ftpd.Server{Auth: auth, FileSystems: ftpd.RootFS{Dir: root}, PassivePorts: ftpd.PortRange{Start: int32(p), End: int32(p)}}
	if configure != nil {
		configure(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, l.Addr().String()
}

// PASVReply logs in to StartEngine's server on a fresh session and returns the reply to PASV.
func PASVReply(addr string) (string, error) {
	replies, err := ControlDialog(addr, "USER "+EngineUser, "PASS "+EnginePassword, "PASV")
	if err != nil {
		return "", err
	}
	return replies[2], nil
}

// ControlDialog opens a control connection to addr, reads the greeting, and sends each command in turn, reading
// its reply whatever it is. It returns the final line of each reply (such as "227 Entering Passive Mode (...)"),
// one per command, or the first error. The whole dialog has 10 seconds.
func ControlDialog(addr string, cmds ...string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func() (string, error) {
		for range 64 {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if len(line) >= 4 && line[3] == ' ' {
				return strings.TrimSpace(line), nil
			}
		}
		return "", fmt.Errorf("reply of more than 64 lines")
	}
	if _, err := read(); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	var replies []string
	for _, cmd := range cmds {
		if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
			return replies, err
		}
		line, err := read()
		if err != nil {
			return replies, fmt.Errorf("reply to %s: %w", strings.Fields(cmd)[0], err)
		}
		replies = append(replies, line)
	}
	return replies, nil
}

// UseEnvtestAssets points KUBEBUILDER_ASSETS at the kube-apiserver and etcd that hack/envtest-assets.sh caches in
// bin/k8s, unless it is set already. make names the folder itself; this serves a plain `go test` after a make run.
func UseEnvtestAssets() error {
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return nil
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", "k8s", "*-linux-amd64", "kube-apiserver"))
	if len(matches) == 0 {
		return fmt.Errorf("no kube-apiserver in bin/k8s: run `make envtest-assets` first (it builds kube-apiserver and etcd)")
	}
	return os.Setenv("KUBEBUILDER_ASSETS", filepath.Dir(matches[len(matches)-1]))
}
