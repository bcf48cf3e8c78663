package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/test/support"
)

const (
	// Documentation addresses (RFC 5737): they only appear in status and in 227 replies; nothing dials them.
	metallbPool = "198.51.100.10-198.51.100.20"
	// MetalLB serves only Services of this class, so the other tests' LoadBalancer Services, which share the API
	// server, cannot drain its pool.
	metallbClass = "metallb.test/ftp"
)

// startMetalLB runs MetalLB's controller against the test API server (support.MetalLB), serving metallbClass.
func startMetalLB(t *testing.T) {
	t.Helper()
	if metallbDir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MetalLB controller missing: `make test` builds it (hack/metallb.sh)")
		}
		t.Skip("MetalLB controller not built; run hack/metallb.sh or `make test`")
	}
	support.MetalLB{Dir: metallbDir, PoolName: "test", Addresses: metallbPool, Class: metallbClass}.Start(t, testEnv, k8s)
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

	engine, addr := support.StartEngine(t)
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
		reply, err := support.PASVReply(addr)
		return strings.Contains(reply, "("+strings.ReplaceAll(first, ".", ",")+","), fmt.Errorf("reply %q: %v", reply, err)
	})
	t.Logf("FTPServer created to MetalLB address %s in the 227 reply: %s", first, time.Since(start).Round(time.Millisecond))
	template := getDeployment(t, ns, "lb").Spec.Template

	// A pool address no Service holds (other tests, or earlier runs with -count, keep theirs): MetalLB refuses a
	// taken one and clears the Service's ingress instead of moving it.
	moved := freePoolAddress(t, lo, hi)
	srv := getServer(t, ns, "lb")
	orig := srv.DeepCopy()
	srv.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": moved}
	if err := k8s.Patch(ctx, srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	want := "(" + strings.ReplaceAll(moved, ".", ",") + ","
	eventually(t, 10*time.Second, "moved address in the 227 reply", func() (bool, error) {
		reply, err := support.PASVReply(addr)
		return strings.Contains(reply, want), fmt.Errorf("reply %q: %v", reply, err)
	})
	elapsed := time.Since(start)
	t.Logf("load-balancer address change %s -> %s reached the engine in %s", first, moved, elapsed.Round(time.Millisecond))
	if elapsed > 3*time.Second {
		t.Errorf("address change took %s", elapsed)
	}
	// The engine may see the ConfigMap before the status write of the same pass lands.
	eventually(t, 10*time.Second, "the moved address in status", func() (bool, error) {
		s := getServer(t, ns, "lb")
		c := findCondition(s, ftpv1.ConditionAddress)
		ok := s.Status.Address == moved && s.Status.Endpoint == "ftp://"+moved+":21" &&
			c.Status == metav1.ConditionTrue && c.Reason == ftpv1.ReasonAddressAssigned
		return ok, fmt.Errorf("status %q %q, %s %s", s.Status.Address, s.Status.Endpoint, c.Status, c.Reason)
	})
	if !equalTemplates(template, getDeployment(t, ns, "lb").Spec.Template) {
		t.Fatal("the pod template changed with the address")
	}
}

// freePoolAddress returns the highest address in [lo, hi] that no Service's load-balancer ingress holds.
func freePoolAddress(t *testing.T, lo, hi netip.Addr) string {
	t.Helper()
	var svcs corev1.ServiceList
	if err := k8s.List(context.Background(), &svcs); err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, svc := range svcs.Items {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			held[in.IP] = true
		}
	}
	for a := hi; !a.Less(lo); a = a.Prev() {
		if !held[a.String()] {
			return a.String()
		}
	}
	t.Fatalf("every address of %s-%s is held", lo, hi)
	return ""
}
