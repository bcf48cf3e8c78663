// Command demo runs the operator's whole chain on this machine, with no cluster and no container runtime:
//
//  1. a real kube-apiserver and etcd (envtest binaries) on loopback, with the FTPServer and MetalLB CRDs;
//  2. MetalLB's controller, assigning load-balancer addresses from 127.0.0.10-127.0.0.20 (loopback, so this
//     machine can reach them);
//  3. `ftp-operator manager`, as a process;
//  4. the embedded default FTPServer (default.yaml);
//  5. in the kubelet's place, `ftp-operator ftpd` run with exactly the arguments of the Deployment the operator
//     rendered, its users file and passwords from the users Secret the operator rendered.
//
// It then checks the chain with a real FTP client through the load-balancer address and prints how to connect.
// Ctrl-C stops everything it started. With --once it exits after the check.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/test/support"
)

//go:embed default.yaml
var defaultManifest []byte

const (
	namespace = "demo"
	lbPool    = "127.0.0.10-127.0.0.20"
)

func main() {
	once := flag.Bool("once", false, "exit after the check instead of serving until Ctrl-C")
	binary := flag.String("binary", "bin/ftp-operator", "the ftp-operator binary")
	workDir := flag.String("dir", "bin/demo", "folder for the kubeconfig, logs and the server's files")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *binary, *workDir, *once); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// procs are the processes the demo started; stopAll ends them by PID, newest first.
type procs []*exec.Cmd

func (p *procs) start(name, logFile string, env []string, bin string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	*p = append(*p, cmd)
	step("started %s (pid %d, log %s)", name, cmd.Process.Pid, logFile)
	return cmd, nil
}

func (p procs) stopAll() {
	for i := len(p) - 1; i >= 0; i-- {
		_ = p[i].Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p[i].Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p[i].Process.Kill()
		}
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(ctx context.Context, binary, dir string, once bool) error {
	metallb := os.Getenv("METALLB_DIR")
	if os.Getenv("KUBEBUILDER_ASSETS") == "" || metallb == "" {
		return errors.New("KUBEBUILDER_ASSETS and METALLB_DIR must be set: run `make demo`")
	}
	binary, _ = filepath.Abs(binary)
	dir, _ = filepath.Abs(dir)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	step("starting kube-apiserver and etcd")
	e, err := support.StartEnvtest(support.EnvtestOptions{MetalLB: true})
	if err != nil {
		return err
	}
	defer func() { _ = e.Stop() }()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := support.WriteKubeconfig(e.Env, "demo-admin", kubeconfig); err != nil {
		return err
	}
	c := e.Client

	var ps procs
	defer func() { ps.stopAll() }() // a closure: ps grows after this line
	kenv := []string{"KUBECONFIG=" + kubeconfig}

	step("MetalLB: pool %s", lbPool)
	for _, ns := range []string{"metallb-system", namespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
		"metadata": map[string]any{"name": "demo", "namespace": "metallb-system"},
		"spec":     map[string]any{"addresses": []any{lbPool}},
	}}
	if err := c.Create(ctx, pool); err != nil {
		return err
	}
	metricsPort, err := support.FreeLoopbackPort()
	if err != nil {
		return err
	}
	if _, err := ps.start("metallb-controller", filepath.Join(dir, "metallb.log"), kenv, filepath.Join(metallb, "controller"),
		"--namespace=metallb-system", "--webhook-mode=disabled", fmt.Sprintf("--port=%d", metricsPort), "--kubeconfig="+kubeconfig); err != nil {
		return err
	}
	if _, err := ps.start("ftp-operator manager", filepath.Join(dir, "manager.log"), kenv, binary, "manager",
		"--leader-elect=false", "--ftpd-image=localhost/ftp-operator:demo", "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--passive-port-pool=30000-30099"); err != nil {
		return err
	}

	step("applying the embedded default FTPServer (hack/demo/default.yaml)")
	if err := applyManifest(ctx, c, defaultManifest); err != nil {
		return err
	}
	srv, dep, err := waitRendered(ctx, c)
	if err != nil {
		return err
	}
	step("operator: passive ports %s, address %s", srv.Status.PassivePortRange, srv.Status.Address)

	step("running the pod's command the way the kubelet would")
	healthPort, err := support.FreeLoopbackPort()
	if err != nil {
		return err
	}
	args, err := materializePod(ctx, c, dep, dir, healthPort)
	if err != nil {
		return err
	}
	if _, err := ps.start("ftp-operator ftpd", filepath.Join(dir, "ftpd.log"), kenv, binary, args...); err != nil {
		return err
	}
	if err := waitReady(ctx, healthPort); err != nil {
		return err
	}
	// No kube-controller-manager runs here: report the Deployment available, as it would once the pod is ready.
	if err := markAvailable(ctx, c, dep); err != nil {
		return err
	}
	srv, err = waitReadyCondition(ctx, c)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(srv.Status.Address, "2121")
	step("FTPServer %s/%s Ready: endpoint %s, passive ports %s", namespace, srv.Name, srv.Status.Endpoint, srv.Status.PassivePortRange)

	step("checking with a real FTP client through the load-balancer address %s", addr)
	reply, err := check(addr)
	if err != nil {
		return err
	}
	step("PASV reply: %s", reply)
	fmt.Printf(`
The FTP server is up. The Service maps port 21 to the engine's 2121; with no kube-proxy here, connect to 2121:

  curl -T README.md ftp://acme:demo@%[1]s/
  curl ftp://acme:demo@%[1]s/
  lftp -u acme,demo -p 2121 %[2]s

  KUBECONFIG=%[3]s kubectl get ftpservers -n %[4]s
  # move the load-balancer address; the next PASV reply follows, the engine keeps running:
  KUBECONFIG=%[3]s kubectl patch ftpserver -n %[4]s demo --type merge \
    -p '{"spec":{"service":{"annotations":{"metallb.io/loadBalancerIPs":"127.0.0.15"}}}}'

Logs: %[5]s/*.log
`, addr, srv.Status.Address, kubeconfig, namespace, dir)
	if once {
		return nil
	}
	fmt.Println("Ctrl-C stops everything.")
	<-ctx.Done()
	step("stopping")
	return nil
}

func applyManifest(ctx context.Context, c client.Client, manifest []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		u.SetNamespace(namespace)
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// poll calls f every 100 ms until it is done, for at most 60 s.
func poll(ctx context.Context, what string, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		ok, err := f()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitRendered(ctx context.Context, c client.Client) (*ftpv1.FTPServer, *appsv1.Deployment, error) {
	srv, dep := &ftpv1.FTPServer{}, &appsv1.Deployment{}
	err := poll(ctx, "the operator to render the server and MetalLB to assign an address", func() (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "demo"}, srv); err != nil {
			return false, err
		}
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "demo"}, dep); err != nil {
			return false, err
		}
		return srv.Status.Address != "", fmt.Errorf("no address yet: %v", srv.Status.Conditions)
	})
	return srv, dep, err
}

// materializePod writes what the kubelet would mount (the operator's users Secret: users file and passwords) and
// returns the container's arguments with the mount paths moved into dir.
func materializePod(ctx context.Context, c client.Client, dep *appsv1.Deployment, dir string, healthPort int) ([]string, error) {
	var users corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "demo-ftpd-users"}, &users); err != nil {
		return nil, err
	}
	usersFile, err := support.MountUsersSecret(filepath.Join(dir, "users"), &users)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	// The pod's arguments are an engineconfig.Config; move its paths and health port to this machine.
	podArgs := dep.Spec.Template.Spec.Containers[0].Args
	if len(podArgs) == 0 || podArgs[0] != "ftpd" {
		return nil, fmt.Errorf("container args %q: want the ftpd subcommand", podArgs)
	}
	cfg, err := engineconfig.Parse(podArgs[1:], io.Discard)
	if err != nil {
		return nil, fmt.Errorf("the rendered arguments %q: %w", podArgs, err)
	}
	cfg.Root = filepath.Join(dir, "data")
	cfg.Users = usersFile
	cfg.HealthListen = fmt.Sprintf("127.0.0.1:%d", healthPort)
	return append([]string{"ftpd"}, cfg.Args()...), nil
}

func waitReady(ctx context.Context, port int) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	return poll(ctx, "the engine's /readyz", func() (bool, error) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
	})
}

func markAvailable(ctx context.Context, c client.Client, dep *appsv1.Deployment) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		return err
	}
	orig := dep.DeepCopy()
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	return c.Status().Patch(ctx, dep, client.MergeFrom(orig))
}

func waitReadyCondition(ctx context.Context, c client.Client) (*ftpv1.FTPServer, error) {
	srv := &ftpv1.FTPServer{}
	err := poll(ctx, "Ready=True", func() (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "demo"}, srv); err != nil {
			return false, err
		}
		for _, cond := range srv.Status.Conditions {
			if cond.Type == ftpv1.ConditionReady {
				return cond.Status == metav1.ConditionTrue, fmt.Errorf("%s: %s", cond.Reason, cond.Message)
			}
		}
		return false, nil
	})
	return srv, err
}

// check uploads, lists and downloads a file, and returns the server's reply to PASV.
func check(addr string) (string, error) {
	conn, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second), ftp.DialWithDisabledEPSV(true))
	if err != nil {
		return "", err
	}
	defer conn.Quit()
	if err := conn.Login("acme", "demo"); err != nil {
		return "", err
	}
	payload := []byte("hello from the ftp-operator demo\n")
	if err := conn.Stor("hello.txt", bytes.NewReader(payload)); err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	r, err := conn.Retr("hello.txt")
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, payload) {
		return "", fmt.Errorf("download returned %q (%v)", got, err)
	}
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	tp := textproto.NewConn(raw)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return "", err
	}
	for _, cmd := range []struct {
		line string
		code int
	}{{"USER acme", 331}, {"PASS demo", 230}, {"PASV", 227}} {
		if err := tp.PrintfLine("%s", cmd.line); err != nil {
			return "", err
		}
		code, msg, err := tp.ReadResponse(cmd.code)
		if err != nil {
			return "", fmt.Errorf("%s: %w", cmd.line, err)
		}
		if cmd.code == 227 {
			return fmt.Sprintf("%d %s", code, msg), nil
		}
	}
	return "", nil
}
