package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// observed is what a live server exposes: the grant in status, the Service's passive ports, the engine's args.
type observed struct {
	status  string
	service string
	args    string
}

func observe(t *testing.T, ns, name string) observed {
	t.Helper()
	ctx, key := context.Background(), client.ObjectKey{Namespace: ns, Name: name}
	var o observed
	srv, svc, dep := &ftpv1.FTPServer{}, &corev1.Service{}, &appsv1.Deployment{}
	if k8s.Get(ctx, key, srv) == nil && srv.Status.PassivePorts != nil {
		o.status = srv.Status.PassivePorts.String()
	}
	if k8s.Get(ctx, key, svc) == nil {
		if ports, _ := passivePortsOf(svc); len(ports) > 0 {
			o.service = fmt.Sprintf("%d-%d", ports[0], ports[len(ports)-1])
		}
	}
	if k8s.Get(ctx, key, dep) == nil {
		for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--passive-ports="); ok {
				o.args = v
			}
		}
	}
	return o
}

func (o observed) consistent(want string) bool {
	return o.status == want && o.service == want && o.args == want
}

func deleteServer(t *testing.T, ns, name string) {
	t.Helper()
	if err := k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func patchStatus(t *testing.T, ns, name string, mut func(*ftpv1.FTPServerStatus)) {
	t.Helper()
	srv := getServer(t, ns, name)
	orig := srv.DeepCopy()
	mut(&srv.Status)
	if err := k8s.Status().Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
}

// waitObserved waits until status, Service and engine args of a server all carry want.
func waitObserved(t *testing.T, ns, name, want string) {
	t.Helper()
	eventually(t, 20*time.Second, name+" at "+want, func() (bool, error) {
		o := observe(t, ns, name)
		return o.consistent(want), fmt.Errorf("%+v", o)
	})
}

// TestSmallerPoolKeepsGrantsOutsideIt (issue 19.1): the operator restarts with a pool that no longer holds a live
// server's range. The server keeps its range — Service and engine arguments untouched, so no pod restart — and
// gets PortsInPool=False (OutsidePool) with a Warning event saying how to move it. It moves only when annotated.
func TestSmallerPoolKeepsGrantsOutsideIt(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, portalloc.Range{Start: 30100, End: 30119})
	for _, name := range []string{"a", "b", "c"} {
		create(t, newServer(t, ns, name, count(4)))
		waitGrant(t, ns, name)
	}
	want := map[string]string{"a": "30100-30103", "c": "30108-30111"}
	for name, g := range want {
		waitObserved(t, ns, name, g)
	}
	deleteServer(t, ns, "b") // a hole inside the new pool, where a careless restart would move c
	eventually(t, 10*time.Second, "b released", func() (bool, error) {
		_, held := op.rec.Allocator.Get(ns + "/b")
		return !held, nil
	})
	svcVersion := getService(t, ns, "c").ResourceVersion
	depVersion := getDeployment(t, ns, "c").ResourceVersion
	op.stop()

	startOperator(t, ns, portalloc.Range{Start: 30100, End: 30107})
	srv := waitCondition(t, ns, "c", ftpv1.ConditionPortsInPool, metav1.ConditionFalse, ftpv1.ReasonOutsidePool)
	msg := findCondition(srv, ftpv1.ConditionPortsInPool).Message
	if !strings.Contains(msg, "30108-30111") || !strings.Contains(msg, ftpv1.AnnotationReallocatePorts+"=true") {
		t.Fatalf("OutsidePool message does not say what and how: %q", msg)
	}
	waitEvent(t, ns, "c", "OutsidePool")
	waitCondition(t, ns, "c", ftpv1.ConditionReady, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress) // not blocked by it
	time.Sleep(time.Second)                                                                               // give a careless operator time to move it
	for name, g := range want {
		if o := observe(t, ns, name); !o.consistent(g) {
			t.Fatalf("%s moved across a restart with a smaller pool: %+v, had %s", name, o, g)
		}
	}
	if v := getService(t, ns, "c").ResourceVersion; v != svcVersion {
		t.Errorf("c's Service was rewritten (resourceVersion %s -> %s)", svcVersion, v)
	}
	if v := getDeployment(t, ns, "c").ResourceVersion; v != depVersion {
		t.Errorf("c's Deployment was rewritten (resourceVersion %s -> %s)", depVersion, v)
	}
	if c := findCondition(getServer(t, ns, "a"), ftpv1.ConditionPortsInPool); c.Type != "" {
		t.Fatalf("a is inside the pool but has %+v", c)
	}

	// The user asks: c moves into the pool, into the hole b left.
	patchAnnotation(t, ns, "c", ftpv1.AnnotationReallocatePorts, "true")
	waitObserved(t, ns, "c", "30104-30107")
	eventually(t, 10*time.Second, "PortsInPool cleared", func() (bool, error) {
		c := findCondition(getServer(t, ns, "c"), ftpv1.ConditionPortsInPool)
		return c.Type == "", fmt.Errorf("%+v", c)
	})
}

// TestNodePortRange (issues 19.2, 16.8) runs on a control plane of its own whose NodePort range has ten ports.
// LoadBalancer Services take no node ports by default, so many servers fit; a server that asks for node ports
// beyond the range is told so (condition, Warning event, Stalled), gives its grant back, and is not retried hot.
func TestNodePortRange(t *testing.T) {
	e := support.EnvtestFor(t, support.EnvtestOptions{APIServerFlags: map[string]string{"service-node-port-range": "30000-30009"}})
	cfg, c := e.Config, e.Client
	ctx := context.Background()
	const ns = "nodeports"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"}, StringData: map[string]string{"password": "x"}}); err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32 // Service applies the API server refused for want of node ports
	funcs := &interceptor.Funcs{Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
		err := cl.Apply(ctx, obj, opts...)
		if err != nil && strings.Contains(err.Error(), "range is full") {
			refused.Add(1)
		}
		return err
	}}
	startOperatorWith(t, opConfig{cfg: cfg, namespaces: []string{ns}, pool: portalloc.Range{Start: 40000, End: 40999}, intercept: funcs})
	get := func(name string) *ftpv1.FTPServer {
		srv := &ftpv1.FTPServer{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, srv); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	condition := func(name, typ string) metav1.Condition {
		if cond := apimeta.FindStatusCondition(get(name).Status.Conditions, typ); cond != nil {
			return *cond
		}
		return metav1.Condition{}
	}

	// Five servers of count 2 would need 15 node ports with node ports allocated; without, they need none.
	for i := range 5 {
		if err := c.Create(ctx, newServerNoSecretType(ns, fmt.Sprintf("lb%d", i), 2, corev1.ServiceTypeLoadBalancer)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		name := fmt.Sprintf("lb%d", i)
		eventually(t, 30*time.Second, name+" ServiceReady", func() (bool, error) {
			cond := condition(name, ftpv1.ConditionServiceReady)
			return cond.Status == metav1.ConditionTrue, fmt.Errorf("%+v", cond)
		})
		svc := &corev1.Service{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			t.Fatal(err)
		}
		if !ptr.Equal(svc.Spec.AllocateLoadBalancerNodePorts, ptr.To(false)) {
			t.Fatalf("%s: allocateLoadBalancerNodePorts %v, want false by default", name, svc.Spec.AllocateLoadBalancerNodePorts)
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				t.Fatalf("%s: port %s took node port %d", name, p.Name, p.NodePort)
			}
		}
	}

	// One that asks for node ports (11 of 10) exhausts the range.
	hungry := newServerNoSecretType(ns, "hungry", 10, corev1.ServiceTypeLoadBalancer)
	hungry.Spec.Service.AllocateLoadBalancerNodePorts = ptr.To(true)
	if err := c.Create(ctx, hungry); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "hungry NodePortsExhausted and Stalled", func() (bool, error) {
		sr, st := condition("hungry", ftpv1.ConditionServiceReady), condition("hungry", ftpv1.ConditionStalled)
		return sr.Reason == ftpv1.ReasonNodePortsExhausted && st.Status == metav1.ConditionTrue && st.Reason == ftpv1.ReasonNodePortsExhausted,
			fmt.Errorf("ServiceReady %+v Stalled %+v", sr, st)
	})
	start := time.Now()
	if g := get("hungry").Status.PassivePorts; g != nil {
		t.Fatalf("a server whose Service cannot be created holds %s", g)
	}
	if msg := condition("hungry", ftpv1.ConditionServiceReady).Message; !strings.Contains(msg, "allocateLoadBalancerNodePorts: false") {
		t.Fatalf("message does not say what to do: %q", msg)
	}
	eventually(t, 10*time.Second, "NodePortsExhausted event", func() (bool, error) {
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		return slices.ContainsFunc(evs.Items, func(e eventsv1.Event) bool {
			return e.Regarding.Name == "hungry" && e.Reason == "NodePortsExhausted" && e.Type == corev1.EventTypeWarning
		}), nil
	})
	atStall := refused.Load()
	time.Sleep(3*time.Second - time.Since(start)) // the passes that the children applied on creation bring back
	settled := refused.Load()
	const watch = 12 * time.Second
	time.Sleep(watch)
	total := refused.Load()
	t.Logf("node ports exhausted: %d refused Service applies until Stalled, %d in the next 3s, %d in the %s after", atStall, settled-atStall, total-settled, watch)
	if total-settled > 0 {
		t.Fatalf("%d refused applies in %s after the server stalled: hot retries", total-settled, watch)
	}
}

func newServerNoSecretType(ns, name string, n int32, typ corev1.ServiceType) *ftpv1.FTPServer {
	s := newServerNoSecret(ns, name, n)
	s.Spec.Service.Type = typ
	return s
}

// TestGrantRecordIsTheService (issues 16.7, 14 "Lost status"): replay checks every recorded grant against the
// Service the operator made. A forged status never wins, a lost status comes back from the Service with no churn,
// and when two status-only records collide the older grant wins and the other server is told.
func TestGrantRecordIsTheService(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, portalloc.Range{Start: 30200, End: 30229})
	for _, name := range []string{"a", "x", "b", "c"} {
		create(t, newServer(t, ns, name, count(3)))
		waitGrant(t, ns, name)
	}
	want := map[string]string{"a": "30200-30202", "b": "30206-30208", "c": "30209-30211"}
	for name, g := range want {
		waitObserved(t, ns, name, g)
	}
	deleteServer(t, ns, "x") // a hole 30203-30205 that a fresh allocation would take
	eventually(t, 10*time.Second, "x released", func() (bool, error) {
		_, held := op.rec.Allocator.Get(ns + "/x")
		return !held, nil
	})
	op.stop()

	// While the operator is down: a, the older server, claims b's range in its status; c loses its status.
	patchStatus(t, ns, "a", func(s *ftpv1.FTPServerStatus) {
		s.PassivePorts = &ftpv1.PortRange{Start: 30206, End: 30208}
		s.PassivePortRange = "30206-30208"
	})
	cur := getServer(t, ns, "c")
	cur.Status = ftpv1.FTPServerStatus{}
	if err := k8s.Status().Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	op = startOperator(t, ns, portalloc.Range{Start: 30200, End: 30229})
	for name, g := range want {
		waitObserved(t, ns, name, g)
	}
	time.Sleep(time.Second)
	for name, g := range want {
		if o := observe(t, ns, name); !o.consistent(g) {
			t.Fatalf("%s: %+v, want %s everywhere", name, o, g)
		}
	}

	// A restore recreates c (a new object, no status) while its Service stays: same range, no churn.
	deleteServer(t, ns, "c")
	eventually(t, 10*time.Second, "c gone", func() (bool, error) {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "c"}, &ftpv1.FTPServer{})
		return err != nil, nil
	})
	eventually(t, 10*time.Second, "c's grant released", func() (bool, error) {
		_, held := op.rec.Allocator.Get(ns + "/c")
		return !held, nil
	})
	create(t, newServer(t, ns, "c", count(3)))
	waitCondition(t, ns, "c", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	waitObserved(t, ns, "c", "30209-30211")
	if !metav1.IsControlledBy(getService(t, ns, "c"), getServer(t, ns, "c")) {
		t.Fatal("the recreated server does not control its Service")
	}
	op.stop()

	// Two records with no Service behind them collide: the older (a) wins, b is moved and told.
	for _, name := range []string{"a", "b"} {
		if err := k8s.Delete(context.Background(), getService(t, ns, name)); err != nil {
			t.Fatal(err)
		}
	}
	patchStatus(t, ns, "b", func(s *ftpv1.FTPServerStatus) {
		s.PassivePorts = &ftpv1.PortRange{Start: 30200, End: 30202}
		s.PassivePortRange = "30200-30202"
	})
	startOperator(t, ns, portalloc.Range{Start: 30200, End: 30229})
	waitObserved(t, ns, "a", "30200-30202")
	b := waitCondition(t, ns, "b", ftpv1.ConditionPortsAllocated, metav1.ConditionTrue, ftpv1.ReasonGrantCollision)
	if msg := findCondition(b, ftpv1.ConditionPortsAllocated).Message; !strings.Contains(msg, "collides on 30200-30202 with") || !strings.Contains(msg, "FTPServer "+ns+"/a") {
		t.Fatalf("GrantCollision message %q", msg)
	}
	waitEvent(t, ns, "b", "GrantCollision")
	var list ftpv1.FTPServerList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	assertDisjoint(t, list.Items)
}

// TestForgedStatusAddressNeverReachesEngine (issue 16.7): the engine follows the address the operator writes into
// its ConfigMap; an address written into the FTPServer's status by hand does not reach it.
func TestForgedStatusAddressNeverReachesEngine(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "lb", count(2)))
	waitCondition(t, ns, "lb", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	engine, addr := support.StartEngine(t)
	followAsEngine(t, ns, "lb", engine)
	setIngress(t, ns, "lb", "198.51.100.7")
	eventually(t, 10*time.Second, "the real address in the engine", func() (bool, error) {
		reply, err := support.PASVReply(addr)
		return strings.Contains(reply, "(198,51,100,7,"), fmt.Errorf("reply %q: %v", reply, err)
	})
	op.stop() // nobody corrects the status for the rest of the test
	patchStatus(t, ns, "lb", func(s *ftpv1.FTPServerStatus) { s.Address = "203.0.113.66" })
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if a := engine.CurrentPublicAddress(); a != "198.51.100.7" {
			t.Fatalf("the engine advertises %q after status.address was forged", a)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The engine's identity cannot read its FTPServer at all.
	saCfg := rest.CopyConfig(restConfig)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:ftp-operator-ftpd", ns)}
	saClient, err := client.New(saCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := saClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "lb"}, &ftpv1.FTPServer{}); err == nil {
		t.Fatal("the engine's identity can read its FTPServer")
	}
}

// TestConflictMessageNamesNoOtherNamespace (issue 14 Tenancy): a pinned range held by a server of another
// namespace is refused without naming that server.
func TestConflictMessageNamesNoOtherNamespace(t *testing.T) {
	ns1, ns2 := newNamespace(t), newNamespace(t)
	startOperatorWith(t, opConfig{namespaces: []string{ns1, ns2}, pool: portalloc.Range{Start: 30300, End: 30319}})
	create(t, newServer(t, ns1, "secret-project", count(4)))
	g := waitGrant(t, ns1, "secret-project")
	create(t, newServer(t, ns2, "pin", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: g.Start + 1, End: g.Start + 2}}
	}))
	srv := waitCondition(t, ns2, "pin", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonRangeUnavailable)
	msg := findCondition(srv, ftpv1.ConditionPortsAllocated).Message
	if strings.Contains(msg, ns1) || strings.Contains(msg, "secret-project") || !strings.Contains(msg, "held by another FTPServer") {
		t.Fatalf("message %q names a server of another namespace, or not clearly", msg)
	}
}

// TestNamespaceLimitAndStaleServiceReady (issues 16.8, 19.4): a namespace over --max-ports-per-namespace waits
// with a clear condition while another namespace is served; a server whose new range is refused does not keep
// claiming ServiceReady=True with its old range.
func TestNamespaceLimitAndStaleServiceReady(t *testing.T) {
	ns1, ns2 := newNamespace(t), newNamespace(t)
	startOperatorWith(t, opConfig{namespaces: []string{ns1, ns2}, pool: portalloc.Range{Start: 30400, End: 30429}, nsLimit: 6})
	create(t, newServer(t, ns1, "a", count(4)))
	waitGrant(t, ns1, "a")
	create(t, newServer(t, ns1, "b", count(4)))
	srv := waitCondition(t, ns1, "b", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonNamespaceLimit)
	if msg := findCondition(srv, ftpv1.ConditionPortsAllocated).Message; !strings.Contains(msg, "holds 4 passive ports") || !strings.Contains(msg, "allows 6 per namespace") {
		t.Fatalf("message %q", msg)
	}
	waitCondition(t, ns1, "b", ftpv1.ConditionStalled, metav1.ConditionTrue, ftpv1.ReasonNamespaceLimit)
	waitEvent(t, ns1, "b", "NamespacePortLimit")
	create(t, newServer(t, ns2, "other", count(6)))
	waitGrant(t, ns2, "other")
	// b fits once a gives ports back: the release wakes it.
	deleteServer(t, ns1, "a")
	waitGrant(t, ns1, "b")

	// 19.4: c's spec moves to a range b holds; c keeps its old grant but must not claim the Service is ready.
	create(t, newServer(t, ns1, "c", count(2)))
	waitCondition(t, ns1, "c", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	bg := *getServer(t, ns1, "b").Status.PassivePorts
	cur := getServer(t, ns1, "c")
	orig := cur.DeepCopy()
	cur.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: bg.Start, End: bg.Start + 1}}
	if err := k8s.Patch(context.Background(), cur, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns1, "c", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonRangeUnavailable)
	waitCondition(t, ns1, "c", ftpv1.ConditionServiceReady, metav1.ConditionFalse, ftpv1.ReasonWaitingForPorts)
}

// TestQuotaRefusedServiceReleasesGrant (issues 16.8, 19.4): a ResourceQuota refuses the Service; the server
// gives its grant back (so it holds no ports forever), says why, and raises a Warning ApplyFailed event once.
func TestQuotaRefusedServiceReleasesGrant(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "services"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("1")}},
	}
	create(t, quota)
	// envtest runs no quota controller: set the status it would.
	quota.Status = corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("1")},
		Used: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("0")},
	}
	if err := k8s.Status().Update(ctx, quota); err != nil {
		t.Fatal(err)
	}
	op := startOperator(t, ns, portalloc.Range{Start: 30500, End: 30507})
	create(t, newServer(t, ns, "a", count(4)))
	waitCondition(t, ns, "a", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	create(t, newServer(t, ns, "b", count(4)))
	srv := waitCondition(t, ns, "b", ftpv1.ConditionServiceReady, metav1.ConditionFalse, ftpv1.ReasonApplyFailed)
	if msg := findCondition(srv, ftpv1.ConditionServiceReady).Message; !strings.Contains(msg, "exceeded quota") {
		t.Fatalf("message %q", msg)
	}
	srv = waitCondition(t, ns, "b", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonServiceRefused)
	if srv.Status.PassivePorts != nil {
		t.Fatalf("b holds %s without a Service", srv.Status.PassivePorts)
	}
	eventually(t, 10*time.Second, "b's ports back in the pool", func() (bool, error) {
		_, held := op.rec.Allocator.Get(ns + "/b")
		return !held && op.rec.Allocator.Free() == 4, fmt.Errorf("%d free", op.rec.Allocator.Free())
	})
	waitCondition(t, ns, "b", ftpv1.ConditionStalled, metav1.ConditionTrue, ftpv1.ReasonServiceRefused)
	waitEvent(t, ns, "b", "ApplyFailed")
	patchAnnotation(t, ns, "b", "poke", "1")
	time.Sleep(500 * time.Millisecond)
	if n := countEvents(t, ns, "b", "ApplyFailed"); n != 1 {
		t.Fatalf("%d ApplyFailed events, want 1 (transitions only)", n)
	}

	// More quota, and a change to the server: it gets its ports and its Service.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(quota), quota); err != nil {
		t.Fatal(err)
	}
	quota.Spec.Hard[corev1.ResourceServices] = resource.MustParse("2")
	if err := k8s.Update(ctx, quota); err != nil {
		t.Fatal(err)
	}
	quota.Status.Hard[corev1.ResourceServices] = resource.MustParse("2")
	if err := k8s.Status().Update(ctx, quota); err != nil {
		t.Fatal(err)
	}
	patchAnnotation(t, ns, "b", "poke", "2")
	waitCondition(t, ns, "b", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
}
