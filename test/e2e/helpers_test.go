//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

const ftpUser = "alice"

// server is an FTPServer the test created, with its login.
type server struct {
	ns, name, pass string
}

func (s *server) key() client.ObjectKey { return client.ObjectKey{Namespace: s.ns, Name: s.name} }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newNamespace creates a namespace for one scenario, deleted when the test ends.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// newServer creates a Secret and an FTPServer in namespace ns (a load balancer with externalTrafficPolicy Local,
// 4 passive ports from the pool, an emptyDir), changed by mutate, and waits until it is Ready and reachable
// from the NAT client.
func newServer(t *testing.T, ns, name string, mutate func(*ftpv1.FTPServer)) *server {
	t.Helper()
	ctx := context.Background()
	s := &server{ns: ns, name: name, pass: "pw" + randomHex(8)}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-users"},
		StringData: map[string]string{"password": s.pass},
	}
	if err := k8s.Create(ctx, secret); err != nil {
		t.Fatalf("creating Secret: %v", err)
	}
	srv := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: ftpv1.FTPServerSpec{
			Users: []ftpv1.User{{Name: ftpUser, PasswordSecretRef: ftpv1.SecretKeySelector{Name: secret.Name, Key: "password"}}},
			Service: ftpv1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer,
				// Keeps the client's address: the server sees the NAT router, as it would on a real network.
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			},
			PassivePorts: ftpv1.PassivePorts{Count: ptr.To[int32](4)},
			Storage:      ftpv1.Storage{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		},
	}
	if mutate != nil {
		mutate(srv)
	}
	if err := k8s.Create(ctx, srv); err != nil {
		t.Fatalf("creating FTPServer: %v", err)
	}
	got := waitServer(t, s, "Ready", nil)
	host, port := endpoint(t, got)
	waitBanner(t, natClient, host, port)
	return s
}

// waitServer waits (at most 3 minutes) until the FTPServer's Ready condition is True for its current
// generation, it has an address, and cond (if any) holds; it returns the server.
func waitServer(t *testing.T, s *server, what string, cond func(*ftpv1.FTPServer) bool) *ftpv1.FTPServer {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	var srv ftpv1.FTPServer
	for {
		err := k8s.Get(ctx, s.key(), &srv)
		if err == nil && srv.Status.ObservedGeneration == srv.Generation &&
			meta.IsStatusConditionTrue(srv.Status.Conditions, ftpv1.ConditionReady) && srv.Status.Address != "" &&
			(cond == nil || cond(&srv)) {
			return &srv
		}
		if time.Now().After(deadline) {
			t.Fatalf("FTPServer %s: timed out waiting for %s; err %v, status %+v", s.key(), what, err, srv.Status)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func getServer(t *testing.T, s *server) *ftpv1.FTPServer {
	t.Helper()
	var srv ftpv1.FTPServer
	if err := k8s.Get(context.Background(), s.key(), &srv); err != nil {
		t.Fatal(err)
	}
	return &srv
}

// endpoint splits status.endpoint (ftp://host:port) into host and port.
func endpoint(t *testing.T, srv *ftpv1.FTPServer) (string, string) {
	t.Helper()
	u, err := url.Parse(srv.Status.Endpoint)
	if err != nil || u.Hostname() == "" || u.Port() == "" {
		t.Fatalf("FTPServer %s/%s: status.endpoint %q is not ftp://host:port (%v)", srv.Namespace, srv.Name, srv.Status.Endpoint, err)
	}
	if u.Hostname() != srv.Status.Address {
		t.Fatalf("status.endpoint %q does not use status.address %q", srv.Status.Endpoint, srv.Status.Address)
	}
	return u.Hostname(), u.Port()
}

// waitBanner waits (at most 60 s) until a client in namespace ns gets the 220 greeting from host:port. A
// Service is Ready before kube-proxy has programmed its addresses (about a second later), as in any cluster.
func waitBanner(t *testing.T, ns, host, port string) {
	t.Helper()
	const probe = `import socket,sys
s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=3)
l=s.makefile().readline()
sys.exit(0 if l.startswith("220") else 1)`
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		out, err := inNS(ctx, ns, "python3", "-c", probe, host, port).CombinedOutput()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 220 greeting from %s:%s in namespace %s within 60 s: %v %s", host, port, ns, err, out)
		}
		time.Sleep(time.Second)
	}
}

// enginePod returns the running FTP server pod of s.
func enginePod(t *testing.T, s *server) *corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(s.ns),
		client.MatchingLabels{"app.kubernetes.io/instance": s.name, "app.kubernetes.io/managed-by": "ftp-operator"}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) != 1 {
		t.Fatalf("FTPServer %s: want one pod, found %d", s.key(), len(live))
	}
	return &live[0]
}

// engineLog returns the log of the server's pod.
func engineLog(t *testing.T, s *server) string {
	t.Helper()
	pod := enginePod(t, s)
	b, err := clientset.CoreV1().Pods(s.ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("log of %s: %v", pod.Name, err)
	}
	return string(b)
}

// waitLog waits (at most 20 s) until the server's log contains every one of parts on one line.
func waitLog(t *testing.T, s *server, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := engineLog(t, s)
		for _, line := range strings.Split(log, "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server log has no line with %q:\n%s", parts, log)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// randomFile writes n random bytes to a new file and returns its path and SHA-256.
func randomFile(t *testing.T, n int) (string, string) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "data-"+randomHex(4))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// client runs name in namespace ns (bounded by timeout) and returns stdout, stderr and the error.
func client_(t *testing.T, timeout time.Duration, ns, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := inNS(ctx, ns, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %s: %w", name, timeout, ctx.Err())
	}
	return stdout.String(), stderr.String(), err
}

// curl runs curl -v in namespace ns against s at host:port with path; it fails the test when curl fails.
func curl(t *testing.T, ns string, s *server, host, port, path string, args ...string) string {
	t.Helper()
	stderr, err := curlErr(t, ns, s, host, port, path, args...)
	if err != nil {
		t.Fatalf("curl %s %s: %v\n%s", path, strings.Join(args, " "), err, stderr)
	}
	return stderr
}

func curlErr(t *testing.T, ns string, s *server, host, port, path string, args ...string) (string, error) {
	t.Helper()
	u := "ftp://" + net.JoinHostPort(host, port) + "/" + strings.TrimPrefix(path, "/")
	all := append([]string{"-sS", "-v", "--max-time", "120", "--connect-timeout", "10", "--user", ftpUser + ":" + s.pass}, args...)
	_, stderr, err := client_(t, 150*time.Second, ns, "curl", append(all, u)...)
	return stderr, err
}

// pasvReply is the h1,h2,h3,h4 part of a 227 reply for address.
func pasvReply(address string) string {
	return "227 Entering Passive Mode (" + strings.ReplaceAll(address, ".", ",") + ","
}

// curlExitCode is curl's exit status from err, or -1.
func curlExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// listing returns the names NLST shows in the user's home, through curl from ns.
func listing(t *testing.T, ns string, s *server, host, port string) []string {
	t.Helper()
	u := "ftp://" + net.JoinHostPort(host, port) + "/"
	out, stderr, err := client_(t, 60*time.Second, ns, "curl", "-sS", "--max-time", "30", "--list-only", "--user", ftpUser+":"+s.pass, u)
	if err != nil {
		t.Fatalf("NLST: %v\n%s", err, stderr)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names
}

func portRange(srv *ftpv1.FTPServer) ftpv1.PortRange {
	if srv.Status.PassivePorts == nil {
		return ftpv1.PortRange{}
	}
	return *srv.Status.PassivePorts
}

func overlap(a, b ftpv1.PortRange) bool { return a.Start <= b.End && b.Start <= a.End }

// pasvPort decodes the port of the first 227 reply in a client's transcript.
func pasvPort(t *testing.T, transcript string) int {
	t.Helper()
	i := strings.Index(transcript, "227 Entering Passive Mode (")
	if i < 0 {
		t.Fatalf("no 227 reply in:\n%s", transcript)
	}
	rest := transcript[i+len("227 Entering Passive Mode ("):]
	rest = rest[:strings.Index(rest, ")")]
	f := strings.Split(rest, ",")
	if len(f) != 6 {
		t.Fatalf("malformed 227 reply %q", rest)
	}
	p1, _ := strconv.Atoi(f[4])
	p2, _ := strconv.Atoi(f[5])
	return p1*256 + p2
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
