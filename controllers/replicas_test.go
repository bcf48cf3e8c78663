package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// scale sets spec.replicas and spec.passivePorts.count together (four ports per pod).
func scale(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	srv := getServer(t, ns, name)
	orig := srv.DeepCopy()
	srv.Spec.Replicas = ptr.To(replicas)
	srv.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To(4 * replicas)}
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatalf("scaling %s to %d: %v", name, replicas, err)
	}
}

// serviceNow reads a Service that may not exist yet (an empty Service then).
func serviceNow(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	exists(t, svc)
	return svc
}

func exists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// podServiceSlices waits until the server runs n replicas on one address (status.address, the control Service
// and every pod's Service, as MetalLB assigned them), with the control Service carrying only the control port and
// recording the grant, and each pod's Service exactly its slice; it returns the slices by ordinal.
func podServiceSlices(t *testing.T, ns, name string, n int32, address string) map[int32]ftpv1.PortRange {
	t.Helper()
	slices := map[int32]ftpv1.PortRange{}
	eventually(t, 30*time.Second, fmt.Sprintf("%d pods' Services on %s", n, address), func() (bool, error) {
		srv := getServer(t, ns, name)
		c := findCondition(srv, ftpv1.ConditionSharedAddress)
		if srv.Status.PassivePorts == nil || srv.Status.PassivePorts.Size() != 4*n || srv.Status.Address != address ||
			c.Status != metav1.ConditionTrue || c.ObservedGeneration != srv.Generation {
			return false, fmt.Errorf("status %v %q, SharedAddress %s %s", srv.Status.PassivePorts, srv.Status.Address, c.Status, c.Message)
		}
		grant := *srv.Status.PassivePorts
		ctl := getService(t, ns, name)
		if ps, _ := passivePortsOf(ctl); len(ps) != 0 || ctl.Annotations[render.GrantAnnotation] != grant.String() || ingressAddress(ctl) != address {
			return false, fmt.Errorf("control Service: passive ports %v, grant %q, address %q", ps, ctl.Annotations[render.GrantAnnotation], ingressAddress(ctl))
		}
		for i := range n {
			svc := serviceNow(t, ns, render.PodServiceName(srv, i))
			ps, _ := passivePortsOf(svc)
			want, _ := render.Slice(srv, grant, i)
			if len(ps) != int(want.Size()) || len(ps) == 0 || ps[0] != want.Start || ps[len(ps)-1] != want.End {
				return false, fmt.Errorf("pod %d: Service ports %v, want slice %s of %s", i, ps, want, grant)
			}
			if svc.Spec.Selector[render.PodNameLabel] != render.PodName(srv, i) || ingressAddress(svc) != address {
				return false, fmt.Errorf("pod %d: selector %v, address %q", i, svc.Spec.Selector, ingressAddress(svc))
			}
			slices[i] = want
		}
		if exists(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PodServiceName(srv, n)}}) {
			return false, fmt.Errorf("the Service of pod %d is still there", n)
		}
		return true, nil
	})
	return slices
}

// TestReplicasScaleKeepsSlicesAndAddress: with MetalLB's controller assigning real addresses, an FTPServer scaled
// 1 -> 3 -> 2 -> 1 (four ports per pod) moves from its Deployment to a StatefulSet and back, keeping its grant's
// start, its load-balancer address and its claim throughout; with three and two replicas every pod's Service holds
// exactly that pod's slice on the control Service's address, and scaling 3 -> 2 neither moves the slices of pods
// 0 and 1 nor changes the pod template (no pod restarts).
func TestReplicasScaleKeepsSlicesAndAddress(t *testing.T) {
	startMetalLB(t)
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "ha", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4)}
		s.Spec.Service.LoadBalancerClass = ptr.To(metallbClass)
		rwxClaim(s)
	}))
	one := waitCondition(t, ns, "ha", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	address, first := one.Status.Address, *one.Status.PassivePorts
	claim, err := getClaim(ns, "ha-data")
	if err != nil {
		t.Fatal(err)
	}
	getDeployment(t, ns, "ha")
	t.Logf("one replica: Deployment, grant %s, address %s", first, address)

	start := time.Now()
	scale(t, ns, "ha", 3)
	three := podServiceSlices(t, ns, "ha", 3, address)
	t.Logf("1 -> 3 replicas in %s: slices %v, all Services on %s", time.Since(start).Round(time.Millisecond), three, address)
	if three[0].Start != first.Start || three[0] != first {
		t.Fatalf("pod 0 got %s; the single replica served %s (the grant grew in place)", three[0], first)
	}
	sts := &appsv1.StatefulSet{}
	eventually(t, 10*time.Second, "StatefulSet of 3, PodDisruptionBudget, no Deployment", func() (bool, error) {
		gone := !exists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ha"}})
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ha"}}
		err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "ha"}, sts)
		return err == nil && *sts.Spec.Replicas == 3 && exists(t, pdb) && pdb.Spec.MaxUnavailable.IntValue() == 1 && gone,
			fmt.Errorf("statefulset %v, deployment gone %v", err, gone)
	})
	template := sts.Spec.Template

	scale(t, ns, "ha", 2)
	two := podServiceSlices(t, ns, "ha", 2, address)
	for i := range int32(2) {
		if two[i] != three[i] {
			t.Fatalf("scaling 3 -> 2 moved pod %d from %s to %s", i, three[i], two[i])
		}
	}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "ha"}, sts); err != nil || *sts.Spec.Replicas != 2 {
		t.Fatalf("StatefulSet after 3 -> 2: %v", err)
	}
	if !equalTemplates(template, sts.Spec.Template) {
		t.Fatal("scaling 3 -> 2 changed the pod template: every pod would restart")
	}
	t.Logf("3 -> 2 replicas: pods 0 and 1 keep %s and %s, the pod template is unchanged", two[0], two[1])

	scale(t, ns, "ha", 1)
	eventually(t, 30*time.Second, "back to one replica", func() (bool, error) {
		srv := getServer(t, ns, "ha")
		ctl := getService(t, ns, "ha")
		ps, _ := passivePortsOf(ctl)
		back := srv.Status.PassivePorts != nil && *srv.Status.PassivePorts == first && len(ps) == 4 && ps[0] == first.Start &&
			srv.Status.Address == address && ingressAddress(ctl) == address && findCondition(srv, ftpv1.ConditionSharedAddress).Type == ""
		left := exists(t, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ha"}}) ||
			exists(t, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ha"}}) ||
			exists(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PodServiceName(srv, 0)}}) ||
			!exists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ha"}})
		return back && !left, fmt.Errorf("grant %v, control ports %v, address %q, leftovers %v", srv.Status.PassivePorts, ps, srv.Status.Address, left)
	})
	if now, err := getClaim(ns, "ha-data"); err != nil || now.UID != claim.UID {
		t.Fatalf("the claim changed across the scaling: %v", err)
	}
}

// TestReplicasGrantSurvivesRestartFromTheControlService: the control Service of a server with several replicas
// carries no passive port; its grant annotation is the record a restarted operator replays. With status.passivePorts
// erased and another server created first, the restarted operator gives the server its range back, and the other
// server a different one.
func TestReplicasGrantSurvivesRestartFromTheControlService(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "ha", func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](2)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](8)}
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		rwxClaim(s)
	}))
	grant := waitGrant(t, ns, "ha")
	eventually(t, 10*time.Second, "the pods' Services", func() (bool, error) {
		ps, nps := passivePortsOf(serviceNow(t, ns, "ha-pasv-1"))
		want, _ := render.Slice(getServer(t, ns, "ha"), grant, 1)
		return len(ps) == 4 && len(nps) == 4 && ps[0] == want.Start && nps[0] == want.Start, fmt.Errorf("ports %v node ports %v", ps, nps)
	})
	op.stop()
	patchStatus(t, ns, "ha", func(st *ftpv1.FTPServerStatus) { st.PassivePorts, st.PassivePortRange = nil, "" })
	create(t, newServer(t, ns, "early", func(s *ftpv1.FTPServer) { s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](8)} }))
	startOperator(t, ns, bigPool)
	eventually(t, 20*time.Second, "the grant back from the control Service", func() (bool, error) {
		srv := getServer(t, ns, "ha")
		return srv.Status.PassivePorts != nil && *srv.Status.PassivePorts == grant, fmt.Errorf("grant %v, want %s", srv.Status.PassivePorts, grant)
	})
	other := waitGrant(t, ns, "early")
	if other.Start <= grant.End && grant.Start <= other.End {
		t.Fatalf("early got %s, overlapping ha's %s", other, grant)
	}
}

// TestReplicasAddressesDifferIsReported: with externalTrafficPolicy Local set by the user, the pods' Services
// select different pods, and MetalLB refuses to put them on the control Service's address (it shares an address
// between Local Services only when their selectors are equal). The SharedAddress condition says so, names the
// Services, and points to Relay; a Warning event announces it.
func TestReplicasAddressesDifferIsReported(t *testing.T) {
	startMetalLB(t)
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "local", func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](2)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4)}
		s.Spec.Service.LoadBalancerClass = ptr.To(metallbClass)
		s.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		rwxClaim(s)
	}))
	srv := waitCondition(t, ns, "local", ftpv1.ConditionSharedAddress, metav1.ConditionFalse, ftpv1.ReasonAddressesDiffer)
	c := findCondition(srv, ftpv1.ConditionSharedAddress)
	for _, want := range []string{"local-pasv-0", "local-pasv-1", srv.Status.Address, "Relay"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("SharedAddress message %q does not name %q", c.Message, want)
		}
	}
	if srv.Status.Address == "" {
		t.Fatal("the control Service got no address")
	}
	waitEvent(t, ns, "local", ftpv1.ReasonAddressesDiffer)
	t.Logf("SharedAddress=False: %s", c.Message)
}

// TestReplicasRefuseAnExistingReadWriteOnceClaim: admission cannot see the access modes of an existing claim; the
// operator reads them, and with a ReadWriteOnce claim and two replicas it applies no workload and stalls the server
// with a message that says why and what to do.
func TestReplicasRefuseAnExistingReadWriteOnceClaim(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rwo"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	})
	create(t, newServer(t, ns, "two", func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](2)
		s.Spec.Storage = ftpv1.Storage{PersistentVolumeClaim: &ftpv1.PersistentVolumeClaimRef{ClaimName: "rwo"}}
	}))
	waitCondition(t, ns, "two", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonStorageNotShared)
	srv := waitCondition(t, ns, "two", ftpv1.ConditionStalled, metav1.ConditionTrue, ftpv1.ReasonStorageNotShared)
	if msg := findCondition(srv, ftpv1.ConditionWorkloadReady).Message; !strings.Contains(msg, "more than one replica needs shared storage") ||
		!strings.Contains(msg, "ReadWriteMany") {
		t.Fatalf("WorkloadReady message %q", msg)
	}
	if exists(t, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "two"}}) {
		t.Fatal("a StatefulSet was applied on a ReadWriteOnce claim")
	}
	waitEvent(t, ns, "two", ftpv1.ReasonStorageNotShared)
}

// TestReplicasPodServiceNodePortConflictMovesTheGrant: a NodePort Service the operator does not own holds a node
// port inside the slice of pod 1; the API server refuses pod 1's Service, and the operator blocks that port and
// gives the server a new grant that avoids it, with every pod's Service applied on it.
func TestReplicasPodServiceNodePortConflictMovesTheGrant(t *testing.T) {
	ns := newNamespace(t)
	// A free node port five ports into a pool of 100: pod 1's slice.
	held := squatNodePort(t, ns, "squatter", 31505, 100, 32599)
	startOperator(t, ns, portalloc.Range{Start: held - 5, End: held + 94})
	create(t, newServer(t, ns, "np", func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](2)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](8)}
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		rwxClaim(s)
	}))
	eventually(t, 20*time.Second, fmt.Sprintf("a grant without %d and both pods' Services on it", held), func() (bool, error) {
		srv := getServer(t, ns, "np")
		g := srv.Status.PassivePorts
		if g == nil || g.Contains(held) {
			return false, fmt.Errorf("grant %v", g)
		}
		for i := range int32(2) {
			want, _ := render.Slice(srv, *g, i)
			ps, nps := passivePortsOf(serviceNow(t, ns, render.PodServiceName(srv, i)))
			if len(ps) != 4 || ps[0] != want.Start || nps[0] != want.Start {
				return false, fmt.Errorf("pod %d: ports %v node ports %v, want %s", i, ps, nps, want)
			}
		}
		return getService(t, ns, "np").Annotations[render.GrantAnnotation] == g.String(), fmt.Errorf("control Service records %q",
			getService(t, ns, "np").Annotations[render.GrantAnnotation])
	})
}

// TestReplicasListenerCapCountsThePodsServices: with several replicas the passive ports are on the pods' Services;
// the cloud listener cap is checked against the largest of them (120 ports over 2 pods: 60 per Service, above the
// cap; over 3 pods: 40, within it), not against the control Service's one port.
func TestReplicasListenerCapCountsThePodsServices(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	for name, n := range map[string]int32{"two": 2, "three": 3} {
		create(t, newServer(t, ns, name, func(s *ftpv1.FTPServer) {
			s.Spec.Replicas = ptr.To(n)
			s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](120)}
			rwxClaim(s)
		}))
	}
	srv := waitCondition(t, ns, "two", ftpv1.ConditionLoadBalancerCompatible, metav1.ConditionFalse, ftpv1.ReasonAboveCloudCap)
	if msg := findCondition(srv, ftpv1.ConditionLoadBalancerCompatible).Message; !strings.Contains(msg, "has 60 ports") {
		t.Fatalf("message %q", msg)
	}
	waitCondition(t, ns, "three", ftpv1.ConditionLoadBalancerCompatible, metav1.ConditionTrue, ftpv1.ReasonWithinLimits)
}

// TestReplicasGrantMovesWhenItCannotGrowInPlace: scaling 1 -> 2 with four ports per pod needs four more ports after
// the grant; another server holds them, so the grant moves to a new range, and PortsAllocated (reason GrantMoved,
// Ready unaffected) and a Warning event say so. The pods' Services carry slices of the new range.
func TestReplicasGrantMovesWhenItCannotGrowInPlace(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "grow", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4)}
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		rwxClaim(s)
	}))
	first := waitGrant(t, ns, "grow")
	create(t, newServer(t, ns, "next", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: first.End + 1, End: first.End + 4}}
	}))
	waitGrant(t, ns, "next")
	scale(t, ns, "grow", 2)
	srv := waitCondition(t, ns, "grow", ftpv1.ConditionPortsAllocated, metav1.ConditionTrue, ftpv1.ReasonGrantMoved)
	moved := *srv.Status.PassivePorts
	if moved.Size() != 8 || moved.Start == first.Start {
		t.Fatalf("grant %s after scaling from %s", moved, first)
	}
	if msg := findCondition(srv, ftpv1.ConditionPortsAllocated).Message; !strings.Contains(msg, "did not fit at "+fmt.Sprint(first.Start)) {
		t.Fatalf("message %q", msg)
	}
	waitEvent(t, ns, "grow", ftpv1.ReasonGrantMoved)
	eventually(t, 10*time.Second, "pod 1's Service on the new range", func() (bool, error) {
		ps, _ := passivePortsOf(serviceNow(t, ns, "grow-pasv-1"))
		return len(ps) == 4 && ps[0] == moved.Start+4, fmt.Errorf("ports %v, grant %s", ps, moved)
	})
}
