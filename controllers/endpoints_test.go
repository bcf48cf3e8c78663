package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// envtest runs no kube-controller-manager and no kubelet: no StatefulSet controller makes the pods of a server with
// several replicas, nothing makes them Ready, and no EndpointSlice controller lists them as endpoints of their
// Services. A test that wants such a server Ready does their part with the helpers below (the one place for it).

// runReplicaPod makes pod ordinal i of server name as the StatefulSet controller and the kubelet would: the
// template's labels plus the pod-name label, Running and Ready with an address. A pod of that name already there is
// deleted first (a new pod, so a new UID, as when the StatefulSet recreates it).
func runReplicaPod(t *testing.T, ns, name string, i int32) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	srv := getServer(t, ns, name)
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PodName(srv, i)}}
	if err := k8s.Delete(ctx, old, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "pod "+old.Name+" gone", func() (bool, error) { return !exists(t, old), nil })
	labels := render.Labels(srv)
	labels[render.PodNameLabel] = render.PodName(srv, i)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PodName(srv, i), Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ftpd", Image: "localhost/ftp-operator:test"}}},
	}
	create(t, pod)
	ip := fmt.Sprintf("10.244.0.%d", 10+i)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatalf("making pod %s ready: %v", pod.Name, err)
	}
	return pod
}

// runReplicaPods makes the pods 0..n-1 of server name (runReplicaPod) and reports its StatefulSet rolled out with n
// ready pods, as the StatefulSet controller would.
func runReplicaPods(t *testing.T, ns, name string, n int32) []*corev1.Pod {
	t.Helper()
	ctx := context.Background()
	sts := &appsv1.StatefulSet{}
	eventually(t, 20*time.Second, "StatefulSet "+name, func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sts)
		return err == nil, err
	})
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, runReplicaPod(t, ns, name, i))
	}
	sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n,
		CurrentReplicas: n, UpdatedReplicas: n}
	if err := k8s.Status().Update(ctx, sts); err != nil {
		t.Fatalf("StatefulSet status: %v", err)
	}
	return pods
}

// routeTo writes the EndpointSlice of Service svcName as the EndpointSlice controller would: the Service's labels
// (it copies them) with its own two, owned by the Service, listing pods as ready endpoints by address and UID, and
// nothing else (no pods: a slice without endpoints).
func routeTo(t *testing.T, ns, svcName string, pods ...*corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	var svc *corev1.Service
	eventually(t, 20*time.Second, "Service "+svcName, func() (bool, error) {
		svc = serviceNow(t, ns, svcName)
		return svc.UID != "", nil
	})
	labels := map[string]string{discoveryv1.LabelServiceName: svcName, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	for k, v := range svc.Labels {
		labels[k] = v
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName + "-x7k2p"}}
	err := k8s.Get(ctx, client.ObjectKeyFromObject(slice), slice)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	slice.Labels = labels
	slice.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))}
	slice.AddressType = discoveryv1.AddressTypeIPv4
	slice.Ports = []discoveryv1.EndpointPort{{Name: ptr.To(svc.Spec.Ports[0].Name), Port: ptr.To(svc.Spec.Ports[0].TargetPort.IntVal),
		Protocol: ptr.To(corev1.ProtocolTCP)}}
	slice.Endpoints = nil
	for _, p := range pods {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID}})
	}
	if apierrors.IsNotFound(err) {
		err = k8s.Create(ctx, slice)
	} else {
		err = k8s.Update(ctx, slice)
	}
	if err != nil {
		t.Fatalf("EndpointSlice of %s: %v", svcName, err)
	}
}

// waitReadyPods waits until server name reports want ready pods and Ready with the given status, and returns it.
func waitReadyPods(t *testing.T, ns, name string, want int32, ready metav1.ConditionStatus) *ftpv1.FTPServer {
	t.Helper()
	var srv *ftpv1.FTPServer
	eventually(t, 20*time.Second, fmt.Sprintf("%d ready pods, Ready %s", want, ready), func() (bool, error) {
		srv = getServer(t, ns, name)
		c := findCondition(srv, ftpv1.ConditionReady)
		return srv.Status.ReadyReplicas == want && c.Status == ready && c.ObservedGeneration == srv.Generation,
			fmt.Errorf("ready pods %d, Ready %s %s: %s", srv.Status.ReadyReplicas, c.Status, c.Reason, c.Message)
	})
	return srv
}

// createThreeReplicas creates server name with three replicas (four passive ports each) behind a NodePort Service
// with the given routing, on a ReadWriteMany claim.
func createThreeReplicas(t *testing.T, ns, name string, routing ftpv1.ServiceRouting) {
	t.Helper()
	create(t, newServer(t, ns, name, func(s *ftpv1.FTPServer) {
		s.Spec.Replicas = ptr.To[int32](3)
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](12)}
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		s.Spec.Service.Routing = routing
		s.Spec.PublicAddress = "198.51.100.7"
		rwxClaim(s)
	}))
}

// TestReplicasReadyWaitsForEachPodsService: three replicas whose pods are all Ready and all endpoints of the control
// Service, but pod 1's own Service has no endpoint yet: the control Service may send a session to pod 1 whose data
// connection would be refused, so the server is not Ready and counts 2 ready pods, and says which Service it waits
// for. Once the slice lists pod 1, the server is Ready with 3 RouteSettle later (the time the nodes' proxies are
// given to program it; a requeue, no event, brings it). A pod recreated under the same name (a new UID)
// is not routed by the slices that still list the old pod: not Ready again until they list the new one. A pod that
// its own Service lists but the control Service not yet gets no session: it is not counted, and Ready stays.
func TestReplicasReadyWaitsForEachPodsService(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	createThreeReplicas(t, ns, "ha", ftpv1.RoutingSharedAddress)
	srv := getServer(t, ns, "ha")
	pods := runReplicaPods(t, ns, "ha", 3)
	routeTo(t, ns, render.ServiceName(srv), pods...)
	routeTo(t, ns, render.PodServiceName(srv, 0), pods[0])
	routeTo(t, ns, render.PodServiceName(srv, 1))
	routeTo(t, ns, render.PodServiceName(srv, 2), pods[2])

	srv = waitReadyPods(t, ns, "ha", 2, metav1.ConditionFalse)
	if c := findCondition(srv, ftpv1.ConditionWorkloadReady); c.Status != metav1.ConditionFalse || c.Reason != ftpv1.ReasonProgressing ||
		!strings.Contains(c.Message, "Service ha-pasv-1 to route to pod ha-1") {
		t.Fatalf("WorkloadReady %s %s: %q; want Progressing naming ha-pasv-1 and ha-1", c.Status, c.Reason, c.Message)
	}
	time.Sleep(time.Second) // the state holds (nothing else brings the server to Ready)
	waitReadyPods(t, ns, "ha", 2, metav1.ConditionFalse)

	start := time.Now()
	routeTo(t, ns, render.PodServiceName(srv, 1), pods[1])
	srv = waitReadyPods(t, ns, "ha", 3, metav1.ConditionTrue)
	if took := time.Since(start); took < RouteSettle || took > RouteSettle+5*time.Second {
		t.Fatalf("Ready %s after pod 1's Service listed it; want RouteSettle (%s) later, give or take the watch", took, RouteSettle)
	}
	if c := findCondition(srv, ftpv1.ConditionWorkloadReady); c.Message != "3 of 3 FTP server pods are ready" {
		t.Fatalf("WorkloadReady message %q", c.Message)
	}
	t.Logf("Ready with 3 pods %s after pod 1's Service listed it (RouteSettle %s)", time.Since(start).Round(time.Millisecond), RouteSettle)

	// Pod 2 recreated: the slices still name the old pod's UID.
	pods[2] = runReplicaPod(t, ns, "ha", 2)
	waitReadyPods(t, ns, "ha", 2, metav1.ConditionFalse)
	// Its own Service lists the new pod; the control Service not yet: not counted, but no session can reach it.
	routeTo(t, ns, render.PodServiceName(srv, 2), pods[2])
	waitReadyPods(t, ns, "ha", 2, metav1.ConditionTrue)
	routeTo(t, ns, render.ServiceName(srv), pods...)
	waitReadyPods(t, ns, "ha", 3, metav1.ConditionTrue)
}

// TestRouteClockKeepsTheFirstSightingAndStartsAgainAfterAGap: a listing keeps the time it was first seen while it
// lasts; a pod its Service stops listing starts again from zero when listed again (the proxies drop and re-add it);
// a pod that is gone is forgotten, and so is a server.
func TestRouteClockKeepsTheFirstSightingAndStartsAgainAfterAGap(t *testing.T) {
	var c routeClock
	key := client.ObjectKey{Namespace: "ns", Name: "ha"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	got := c.observe(key, at(0), map[types.UID]listing{"a": {own: true}, "b": {own: true, both: true}})
	if got["a"] != (routeTimes{own: at(0)}) || got["b"] != (routeTimes{own: at(0), both: at(0)}) {
		t.Fatalf("first sighting: %v", got)
	}
	got = c.observe(key, at(1), map[types.UID]listing{"a": {own: true, both: true}, "b": {own: true, both: true}})
	if got["a"] != (routeTimes{own: at(0), both: at(1)}) || got["b"] != (routeTimes{own: at(0), both: at(0)}) {
		t.Fatalf("still listed: %v", got)
	}
	got = c.observe(key, at(2), map[types.UID]listing{"a": {}})
	if got["a"] != (routeTimes{}) || len(got) != 1 {
		t.Fatalf("a unlisted, b gone: %v", got)
	}
	if got = c.observe(key, at(3), map[types.UID]listing{"a": {own: true}}); got["a"] != (routeTimes{own: at(3)}) {
		t.Fatalf("listed again: %v", got)
	}
	c.forget(key)
	if len(c.since) != 0 {
		t.Fatalf("forget left %v", c.since)
	}
}

// TestRelayReadyFollowsTheOneService: with Relay routing a pod has no Service of its own (the one Service carries
// every port), so a pod counts once that Service lists it, RouteSettle later; it failed when the rule asked for the
// pods' Services of SharedAddress, which Relay deletes (never Ready).
func TestRelayReadyFollowsTheOneService(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	createThreeReplicas(t, ns, "rl", ftpv1.RoutingRelay)
	srv := getServer(t, ns, "rl")
	pods := runReplicaPods(t, ns, "rl", 3)
	routeTo(t, ns, render.ServiceName(srv), pods[0], pods[2])
	srv = waitReadyPods(t, ns, "rl", 2, metav1.ConditionTrue)
	if c := findCondition(srv, ftpv1.ConditionWorkloadReady); c.Message != "2 of 3 FTP server pods are ready" {
		t.Fatalf("WorkloadReady message %q", c.Message)
	}
	routeTo(t, ns, render.ServiceName(srv), pods...)
	waitReadyPods(t, ns, "rl", 3, metav1.ConditionTrue)
}
