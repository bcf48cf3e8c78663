package controllers

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

const (
	// Documentation addresses (RFC 5737): they only appear in status and in 227 replies; nothing dials them.
	metallbPool = "198.51.100.10-198.51.100.20"
	// MetalLB serves only Services of this class, so the other tests' LoadBalancer Services, which share the API
	// server, cannot drain its pool.
	metallbClass = "metallb.test/ftp"
)

// startMetalLB runs MetalLB's controller as a process against the test API server, with one address pool. It
// assigns status.loadBalancer.ingress of LoadBalancer Services as it does on bare metal.
func startMetalLB(t *testing.T) {
	t.Helper()
	if metallbDir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MetalLB controller missing: `make test` builds it (hack/metallb.sh)")
		}
		t.Skip("MetalLB controller not built; run hack/metallb.sh or `make test`")
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}
	if err := k8s.Create(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
		"metadata": map[string]any{"name": "test", "namespace": "metallb-system"},
		"spec":     map[string]any{"addresses": []any{metallbPool}},
	}}
	if err := k8s.Create(ctx, pool); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: "metallb", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // a free port for its metrics (it binds all interfaces)
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	logs, err := os.Create(filepath.Join(t.TempDir(), "metallb.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(metallbDir, "controller"), "--namespace=metallb-system",
		"--webhook-mode=disabled", "--lb-class="+metallbClass, fmt.Sprintf("--port=%d", port), "--kubeconfig="+kcPath, "--log-level=info")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the process we started, by its PID
		_ = cmd.Wait()
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

// TestMetalLBAddressReachesEngine: a real load-balancer controller assigns the Service an address; the operator
// publishes it and the engine advertises it. Then the user asks, through the FTPServer, for another address
// (MetalLB's loadBalancerIPs annotation, passed through to the Service); MetalLB moves the Service, and the
// engine's next 227 reply carries the new address without the pod template changing.
func TestMetalLBAddressReachesEngine(t *testing.T) {
	startMetalLB(t)
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "lb", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](3)}
		s.Spec.Service.LoadBalancerClass = ptr.To(metallbClass)
	}))

	engine, addr := startEngine(t)
	followAsEngine(t, ns, "lb", engine)
	ctx := t.Context()

	lo, hi := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.20")
	var first string
	start := time.Now()
	eventually(t, 30*time.Second, "MetalLB address in the engine's 227 reply", func() (bool, error) {
		first = getServer(t, ns, "lb").Status.Address
		a, err := netip.ParseAddr(first)
		if err != nil || a.Less(lo) || hi.Less(a) {
			return false, fmt.Errorf("status.address %q", first)
		}
		reply, err := pasvReply(addr)
		return strings.Contains(reply, "("+strings.ReplaceAll(first, ".", ",")+","), fmt.Errorf("reply %q: %v", reply, err)
	})
	t.Logf("FTPServer created to MetalLB address %s in the 227 reply: %s", first, time.Since(start).Round(time.Millisecond))
	template := getDeployment(t, ns, "lb").Spec.Template

	const moved = "198.51.100.17"
	srv := getServer(t, ns, "lb")
	orig := srv.DeepCopy()
	srv.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": moved}
	if err := k8s.Patch(ctx, srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	want := "(" + strings.ReplaceAll(moved, ".", ",") + ","
	eventually(t, 10*time.Second, "moved address in the 227 reply", func() (bool, error) {
		reply, err := pasvReply(addr)
		return strings.Contains(reply, want), fmt.Errorf("reply %q: %v", reply, err)
	})
	elapsed := time.Since(start)
	t.Logf("load-balancer address change %s -> %s reached the engine in %s", first, moved, elapsed.Round(time.Millisecond))
	if elapsed > 3*time.Second {
		t.Errorf("address change took %s", elapsed)
	}
	s := waitCondition(t, ns, "lb", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	if s.Status.Address != moved || s.Status.Endpoint != "ftp://"+moved+":21" {
		t.Fatalf("status %q %q", s.Status.Address, s.Status.Endpoint)
	}
	if !equalTemplates(template, getDeployment(t, ns, "lb").Spec.Template) {
		t.Fatal("the pod template changed with the address")
	}
}
