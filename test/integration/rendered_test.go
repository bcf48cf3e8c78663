package integration

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// renderedEngine is the `ftp-operator ftpd` binary started with the arguments the operator renders for an
// FTPServer, as in its pod: spec → render.EngineConfig → Args → the engine's own flag parser → behaviour. Only
// what points into the pod is moved onto this machine: the listen addresses (127.0.0.1), the storage and users
// folders, and the address (the address the operator would publish is set with --public-address instead of
// following the ConfigMap).
type renderedEngine struct {
	port   string // control port on 127.0.0.1
	home   string // acme's home on disk
	stdout *support.SyncBuffer
	stderr *support.SyncBuffer
	grant  ftpv1.PortRange
}

// startRendered runs the engine for an FTPServer with one user (acme, password pass) that mut adjusts, with
// passive ports ports (none: 10 random ones) and address as the operator's published address.
func startRendered(t *testing.T, address string, ports int32, mut func(*ftpv1.FTPServer)) *renderedEngine {
	t.Helper()
	bin := support.OperatorBinary(t)
	srv := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Name: "tuned", Namespace: "ns"},
		Spec: ftpv1.FTPServerSpec{
			Users:   []ftpv1.User{{Name: user, PasswordSecretRef: ftpv1.SecretKeySelector{Name: "acme"}}},
			Service: ftpv1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		},
	}
	if mut != nil {
		mut(srv)
	}
	start := int32(20000 + mrand.IntN(12000))
	grant := ftpv1.PortRange{Start: start, End: start + ports - 1}
	c := render.EngineConfig(srv, grant)

	dir := t.TempDir()
	secret, err := render.UsersSecret(srv, map[string][]byte{user: []byte(pass)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	usersDir := filepath.Join(dir, "users")
	if err := os.Mkdir(usersDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if c.Users, err = support.MountUsersSecret(usersDir, secret); err != nil {
		t.Fatal(err)
	}
	c.Root = filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(c.Root, user), 0o755); err != nil {
		t.Fatal(err)
	}
	port := support.FreePort(t)
	c.Listen = "127.0.0.1:" + strconv.Itoa(port)
	c.HealthListen = "127.0.0.1:" + strconv.Itoa(support.FreePort(t))
	c.Passive.Host = "127.0.0.1"
	c.Address.Follow, c.Address.Static = engineconfig.FollowTarget{}, address

	e := &renderedEngine{port: strconv.Itoa(port), home: filepath.Join(c.Root, user), stdout: &support.SyncBuffer{}, stderr: &support.SyncBuffer{}, grant: grant}
	cmd := exec.Command(bin, append([]string{"ftpd"}, c.Args()...)...)
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	exited := support.StartProcess(t, cmd, func() string {
		return fmt.Sprintf("engine arguments %q\nstderr:\n%s", c.Args(), short(e.stderr.String()))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.HealthListen+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("engine exited: %v\n%s", err, e.stderr.String())
		case <-ctx.Done():
			t.Fatalf("engine not ready within 20s\n%s", e.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// transferLines are the engine's standard output lines so far: the transfer log, nothing else.
func (e *renderedEngine) transferLines() []string {
	return splitLines(e.stdout.String())
}

// pyFTP runs a Python ftplib script against e; the script sees host, port, user, password and the variables in
// vars, and prints OK when its checks passed.
func (e *renderedEngine) pyFTP(t *testing.T, script string, vars map[string]string) string {
	t.Helper()
	py := needClient(t, "python3")
	var pre bytes.Buffer
	fmt.Fprintf(&pre, "import ftplib, socket, sys, time\nhost, port, user, password = %q, %s, %q, %q\n", "127.0.0.1", e.port, user, pass)
	for k, v := range vars {
		fmt.Fprintf(&pre, "%s = %q\n", k, v)
	}
	return run(t, time.Minute, py, "-c", pre.String()+script)
}
