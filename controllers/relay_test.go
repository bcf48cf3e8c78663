package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// setRouting patches spec.service.routing.
func setRouting(t *testing.T, ns, name string, routing ftpv1.ServiceRouting) {
	t.Helper()
	srv := getServer(t, ns, name)
	orig := srv.DeepCopy()
	srv.Spec.Service.Routing = routing
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatalf("routing %s: %v", routing, err)
	}
}

// relayServices waits until a server of n replicas with Relay routing has its one Service with port 21 and every
// port of the grant on address (also status.address), the headless Service that governs its StatefulSet, no pods'
// Services and no SharedAddress condition; it returns the grant.
func relayServices(t *testing.T, ns, name string, n int32, address string) ftpv1.PortRange {
	t.Helper()
	var grant ftpv1.PortRange
	eventually(t, 30*time.Second, fmt.Sprintf("Relay routing of %d replicas on %s", n, address), func() (bool, error) {
		srv := getServer(t, ns, name)
		if srv.Status.PassivePorts == nil || srv.Status.Address != address || srv.Status.ObservedGeneration != srv.Generation ||
			findCondition(srv, ftpv1.ConditionSharedAddress).Type != "" {
			return false, fmt.Errorf("status %v %q generation %d/%d, SharedAddress %+v", srv.Status.PassivePorts, srv.Status.Address,
				srv.Status.ObservedGeneration, srv.Generation, findCondition(srv, ftpv1.ConditionSharedAddress))
		}
		grant = *srv.Status.PassivePorts
		svc := getService(t, ns, name)
		ps, _ := passivePortsOf(svc)
		if len(ps) != int(grant.Size()) || ps[0] != grant.Start || ps[len(ps)-1] != grant.End || svc.Spec.Ports[0].Port != 21 ||
			ingressAddress(svc) != address || svc.Spec.Selector[render.PodNameLabel] != "" {
			return false, fmt.Errorf("Service ports %v (grant %s), address %q, selector %v", ps, grant, ingressAddress(svc), svc.Spec.Selector)
		}
		h := serviceNow(t, ns, render.HeadlessServiceName(srv))
		if h.Spec.ClusterIP != corev1.ClusterIPNone || !h.Spec.PublishNotReadyAddresses {
			return false, fmt.Errorf("headless Service %s: clusterIP %q", h.Name, h.Spec.ClusterIP)
		}
		var sts appsv1.StatefulSet
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &sts); err != nil ||
			sts.Spec.ServiceName != h.Name || *sts.Spec.Replicas != n {
			return false, fmt.Errorf("StatefulSet: %v, serviceName %q", err, sts.Spec.ServiceName)
		}
		for i := range ftpv1.MaxReplicas {
			if exists(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PodServiceName(srv, i)}}) {
				return false, fmt.Errorf("the Service of pod %d is there", i)
			}
		}
		return true, nil
	})
	return grant
}

// TestReplicasRelayRoutingBothWays: with MetalLB's controller assigning real addresses, three replicas with Relay
// routing get one Service carrying port 21 and all 12 passive ports on one address, a headless Service naming the
// pods, and no pods' Services. Switching to SharedAddress creates the pods' Services on that same address; switching
// back deletes them and puts every port on the one Service again, on the same address and grant; one replica drops
// the headless Service.
func TestReplicasRelayRoutingBothWays(t *testing.T) {
	startMetalLB(t)
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "relay", func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](3)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](12)}
		s.Spec.Service.LoadBalancerClass = ptr.To(metallbClass)
		s.Spec.Service.Routing = ftpv1.RoutingRelay
		rwxClaim(s)
	}))
	srv := waitCondition(t, ns, "relay", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	address := srv.Status.Address
	grant := relayServices(t, ns, "relay", 3, address)
	if svc := getService(t, ns, "relay"); svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Fatalf("externalTrafficPolicy %s, want Local by default with Relay", svc.Spec.ExternalTrafficPolicy)
	}
	t.Logf("Relay: one Service with 21 and %s on %s, headless %s", grant, address, render.HeadlessServiceName(srv))
	peers := enginePeerResolver(t, ns, "relay")
	eventually(t, 10*time.Second, "the engine resolves its peer from the API", func() (bool, error) {
		addrs, err := peers.LookupNetIP(context.Background(), "ip", "relay-1.relay-pods")
		return err == nil && len(addrs) == 1 && addrs[0].String() == "10.9.8.7", fmt.Errorf("%v %v", addrs, err)
	})
	if _, err := peers.LookupNetIP(context.Background(), "ip", "relay-9.relay-pods"); !engineForbidden(err) {
		t.Fatalf("a pod that is not a peer: %v, want forbidden", err)
	}

	setRouting(t, ns, "relay", ftpv1.RoutingSharedAddress)
	slices := podServiceSlices(t, ns, "relay", 3, address)
	if slices[0].Start != grant.Start || slices[2].End != grant.End {
		t.Fatalf("SharedAddress slices %v of a grant %s", slices, grant)
	}
	t.Logf("SharedAddress: pods' Services %v on %s", slices, address)
	eventually(t, 10*time.Second, "the engine may no longer read the pods", func() (bool, error) {
		_, err := peers.LookupNetIP(context.Background(), "ip", "relay-1.relay-pods")
		return engineForbidden(err), err
	})

	setRouting(t, ns, "relay", ftpv1.RoutingRelay)
	if again := relayServices(t, ns, "relay", 3, address); again != grant {
		t.Fatalf("back to Relay with grant %s, had %s", again, grant)
	}

	scale(t, ns, "relay", 1)
	eventually(t, 30*time.Second, "one replica: no headless Service", func() (bool, error) {
		h := exists(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.HeadlessServiceName(srv)}})
		d := exists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "relay"}})
		return !h && d, fmt.Errorf("headless Service there %v, Deployment %v", h, d)
	})
}

// engineForbidden reports whether err carries the API server's 403 to the engine's own REST client.
func engineForbidden(err error) bool {
	var refused *addressfollow.StatusError
	return errors.As(err, &refused) && refused.Code == http.StatusForbidden
}

// noDNS is a cluster without DNS.
type noDNS struct{}

func (noDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("no DNS in this cluster")
}

// enginePeerResolver is the relay's peer resolver of an engine pod of namespace ns (its ServiceAccount, impersonated)
// in a cluster without DNS; it creates pod <name>-1 with IP 10.9.8.7 and pod <name>-9 for it to find.
func enginePeerResolver(t *testing.T, ns, name string) addressfollow.PeerResolver {
	t.Helper()
	for _, pod := range []string{name + "-1", name + "-9"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ftpd", Image: "x"}}}}
		create(t, p)
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.9.8.7"}}
		p.Status.PodIP = "10.9.8.7"
		if err := k8s.Status().Update(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineIdentityName)}
	return addressfollow.PeerResolver{DNS: noDNS{}, Client: support.EngineClient(t, cfg), Namespace: ns, Domain: name + "-pods"}
}

// TestReplicasStatefulSetOfAnotherServiceIsReplaced: a StatefulSet made before the headless Service existed names
// the control Service as its serviceName, which cannot change in place. The operator deletes it orphaning its pods
// (the garbage collector, absent from envtest, is played here by removing the orphan finalizer) and applies it again
// with the headless Service.
func TestReplicasStatefulSetOfAnotherServiceIsReplaced(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "old", func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](2)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4)}
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		rwxClaim(s)
	}))
	var sts appsv1.StatefulSet
	key := types.NamespacedName{Namespace: ns, Name: "old"}
	eventually(t, 20*time.Second, "the StatefulSet", func() (bool, error) {
		err := k8s.Get(context.Background(), key, &sts)
		return err == nil, err
	})
	// Play the earlier operator: the same StatefulSet with serviceName "old".
	op.stop()
	if err := k8s.Delete(context.Background(), &sts); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the StatefulSet gone", func() (bool, error) {
		return !exists(t, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "old"}}), nil
	})
	old := sts.DeepCopy()
	old.ResourceVersion, old.UID, old.Status = "", "", appsv1.StatefulSetStatus{}
	old.Spec.ServiceName = "old"
	create(t, old)
	startOperator(t, ns, bigPool)
	eventually(t, 20*time.Second, "the old StatefulSet deleted, orphaning its pods", func() (bool, error) {
		var cur appsv1.StatefulSet
		if err := k8s.Get(context.Background(), key, &cur); err != nil {
			return false, err
		}
		if cur.DeletionTimestamp.IsZero() {
			return false, fmt.Errorf("not deleted; serviceName %q", cur.Spec.ServiceName)
		}
		cur.Finalizers = nil // the garbage collector, once it has orphaned the pods
		return true, k8s.Update(context.Background(), &cur)
	})
	eventually(t, 20*time.Second, "the StatefulSet again, governed by the headless Service", func() (bool, error) {
		var cur appsv1.StatefulSet
		err := k8s.Get(context.Background(), key, &cur)
		return err == nil && cur.Spec.ServiceName == "old-pods" && cur.DeletionTimestamp.IsZero(), fmt.Errorf("%v %q", err, cur.Spec.ServiceName)
	})
}
