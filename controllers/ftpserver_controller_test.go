package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

var bigPool = portalloc.Range{Start: 30000, End: 32767}

func count(n int32) func(*ftpv1.FTPServer) {
	return func(s *ftpv1.FTPServer) { s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To(n)} }
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

func getDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// passivePortsOf returns the passive ports a Service exposes, with their nodePorts.
func passivePortsOf(svc *corev1.Service) (ports, nodePorts []int32) {
	for _, p := range svc.Spec.Ports {
		if strings.HasPrefix(p.Name, "pasv-") {
			ports = append(ports, p.Port)
			nodePorts = append(nodePorts, p.NodePort)
		}
	}
	return ports, nodePorts
}

func TestServicePortsEqualGrant(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "invoices", count(5)))
	grant := waitGrant(t, ns, "invoices")
	if grant.Size() != 5 || !bigPool.Contains(grant.Start) {
		t.Fatalf("grant %s", grant)
	}
	srv := waitCondition(t, ns, "invoices", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	if srv.Status.PassivePortRange != grant.String() {
		t.Fatalf("passivePortRange %q, want %q", srv.Status.PassivePortRange, grant)
	}
	svc := getService(t, ns, "invoices")
	if !metav1.IsControlledBy(svc, srv) {
		t.Fatalf("Service not controlled by the FTPServer: %+v", svc.OwnerReferences)
	}
	ports, _ := passivePortsOf(svc)
	if len(ports) != int(grant.Size()) {
		t.Fatalf("Service passive ports %v, grant %s", ports, grant)
	}
	for i, p := range ports {
		if p != grant.Start+int32(i) {
			t.Fatalf("Service passive ports %v, grant %s", ports, grant)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "ftp" && (p.Port != 21 || p.TargetPort != intstr.FromInt32(render.ContainerControlPort)) {
			t.Fatalf("control port %+v", p)
		}
	}
	dep := getDeployment(t, ns, "invoices")
	args := strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--passive-ports="+grant.String()) {
		t.Fatalf("engine args %q do not carry the grant %s", args, grant)
	}
	if srv.Status.ObservedGeneration != srv.Generation {
		t.Fatalf("observedGeneration %d, generation %d", srv.Status.ObservedGeneration, srv.Generation)
	}
	// No load balancer runs here yet: the server waits for an address, and says so.
	waitCondition(t, ns, "invoices", ftpv1.ConditionAddress, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress)
	waitCondition(t, ns, "invoices", ftpv1.ConditionReady, metav1.ConditionFalse, "")
}

func TestNodePortEqualsPortAndConflictReallocates(t *testing.T) {
	ns := newNamespace(t)
	// A Service the operator does not own already holds a node port, inside the pool (3rd of 20 ports).
	held := squatNodePort(t, ns, "someone-else", 31002, 37, 32700)
	startOperator(t, ns, portalloc.Range{Start: held - 2, End: held + 17})
	create(t, newServer(t, ns, "np", func(s *ftpv1.FTPServer) {
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](4)}
	}))
	srv := waitCondition(t, ns, "np", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	grant := *srv.Status.PassivePorts
	if grant.Contains(held) {
		t.Fatalf("grant %s includes the nodePort held by another Service", grant)
	}
	svc := getService(t, ns, "np")
	ports, nodePorts := passivePortsOf(svc)
	if len(ports) != 4 {
		t.Fatalf("ports %v", ports)
	}
	for i := range ports {
		if ports[i] != nodePorts[i] || ports[i] != grant.Start+int32(i) {
			t.Fatalf("NodePort mode needs nodePort = port = grant: ports %v nodePorts %v grant %s", ports, nodePorts, grant)
		}
	}
	dep := getDeployment(t, ns, "np")
	if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--passive-ports="+grant.String()) {
		t.Fatalf("engine args %q do not serve the grant %s", args, grant)
	}

	// A pinned range that collides with that nodePort cannot be re-allocated: a clear condition instead.
	create(t, newServer(t, ns, "pinned", func(s *ftpv1.FTPServer) {
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: held - 1, End: held}}
	}))
	bad := waitCondition(t, ns, "pinned", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, "")
	if c := findCondition(bad, ftpv1.ConditionPortsAllocated); !strings.Contains(c.Message, fmt.Sprint(held)) {
		t.Fatalf("condition does not name the port: %+v", c)
	}
}

func findCondition(srv *ftpv1.FTPServer, typ string) metav1.Condition {
	for _, c := range srv.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func TestTwoServersNeverOverlapAndPinnedConflictIsRefused(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "a", count(10)))
	a := waitGrant(t, ns, "a")
	create(t, newServer(t, ns, "b", count(10)))
	b := waitGrant(t, ns, "b")
	if a.End >= b.Start && b.End >= a.Start {
		t.Fatalf("overlap: a %s b %s", a, b)
	}
	create(t, newServer(t, ns, "c", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: a.Start + 2, End: a.Start + 3}}
	}))
	c := waitCondition(t, ns, "c", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonRangeUnavailable)
	msg := findCondition(c, ftpv1.ConditionPortsAllocated).Message
	if !strings.Contains(msg, ns+"/a") {
		t.Fatalf("message %q should name the holder %s/a", msg, ns)
	}
	waitEvent(t, ns, "c", "RangeUnavailable")
	create(t, newServer(t, ns, "outside", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 1000, End: 1001}}
	}))
	out := waitCondition(t, ns, "outside", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonRangeUnavailable)
	if msg := findCondition(out, ftpv1.ConditionPortsAllocated).Message; !strings.Contains(msg, "outside") {
		t.Fatalf("message %q", msg)
	}
}

func waitEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, 10*time.Second, "event "+reason+" for "+name, func() (bool, error) {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				return true, nil
			}
		}
		return false, nil
	})
}

func countEvents(t *testing.T, ns, name, reason string) int {
	t.Helper()
	var evs eventsv1.EventList
	if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			n += max(1, int(e.DeprecatedCount))
			if e.Series != nil {
				n += int(e.Series.Count) - 1
			}
		}
	}
	return n
}

func TestConcurrentCreatesNeverOverlap(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	const servers = 200
	var wg sync.WaitGroup
	errs := make(chan error, servers)
	for i := range servers {
		wg.Go(func() {
			srv := newServerNoSecret(ns, fmt.Sprintf("s%03d", i), int32(1+i%7))
			if err := k8s.Create(context.Background(), srv); err != nil {
				errs <- err
			}
		})
	}
	ensureSecret(t, ns, "users", map[string]string{"password": "x"})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	start := time.Now()
	var list ftpv1.FTPServerList
	eventually(t, 120*time.Second, "all 200 servers granted", func() (bool, error) {
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		n := 0
		for _, s := range list.Items {
			if s.Status.PassivePorts != nil {
				n++
			}
		}
		return n == servers, fmt.Errorf("%d of %d granted", n, servers)
	})
	t.Logf("200 FTPServers allocated in %s", time.Since(start).Round(time.Millisecond))
	assertDisjoint(t, list.Items)
	for _, s := range list.Items {
		if want := int32(1 + mustAtoi(s.Name[1:])%7); s.Status.PassivePorts.Size() != want {
			t.Fatalf("%s got %s, asked for %d", s.Name, s.Status.PassivePorts, want)
		}
	}
}

func mustAtoi(s string) int {
	var n int
	_, _ = fmt.Sscanf(s, "%d", &n)
	return n
}

func newServerNoSecret(ns, name string, n int32) *ftpv1.FTPServer {
	return &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: ftpv1.FTPServerSpec{
			Users:        []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
			PassivePorts: ftpv1.PassivePorts{Count: ptr.To(n)},
			Service:      ftpv1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
		},
	}
}

func assertDisjoint(t *testing.T, items []ftpv1.FTPServer) {
	t.Helper()
	owner := map[int32]string{}
	for _, s := range items {
		g := s.Status.PassivePorts
		if g == nil {
			continue
		}
		for p := g.Start; p <= g.End; p++ {
			if o, dup := owner[p]; dup {
				t.Fatalf("port %d granted to %s and %s", p, o, s.Name)
			}
			owner[p] = s.Name
		}
	}
}

func TestRestartKeepsEveryGrant(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, bigPool)
	grants := map[string]ftpv1.PortRange{}
	for i, n := range []int32{3, 8, 2, 5} {
		name := fmt.Sprintf("r%d", i)
		create(t, newServer(t, ns, name, count(n)))
		grants[name] = waitGrant(t, ns, name)
	}
	// Free a hole at the bottom so that a careless restart would hand r1's range to r0's successor.
	if err := k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r0"}}); err != nil {
		t.Fatal(err)
	}
	delete(grants, "r0")
	op.stop()

	// A fresh operator, with an empty allocator, while new servers arrive.
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "late", count(10)))
	late := waitGrant(t, ns, "late")
	var list ftpv1.FTPServerList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for name, g := range grants {
		srv := waitCondition(t, ns, name, ftpv1.ConditionPortsAllocated, metav1.ConditionTrue, "")
		if *srv.Status.PassivePorts != g {
			t.Fatalf("%s moved from %s to %s across a restart", name, g, srv.Status.PassivePorts)
		}
	}
	assertDisjoint(t, list.Items)
	t.Logf("kept %v; late server got %s", grants, late)
}

func TestDeleteReleasesAndExhaustionRecovers(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, portalloc.Range{Start: 32000, End: 32009})
	create(t, newServer(t, ns, "big", count(8)))
	big := waitGrant(t, ns, "big")
	create(t, newServer(t, ns, "waiting", count(6)))
	waitCondition(t, ns, "waiting", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonPoolExhausted)
	waitCondition(t, ns, "waiting", ftpv1.ConditionReady, metav1.ConditionFalse, ftpv1.ReasonPoolExhausted)
	stalled := waitCondition(t, ns, "waiting", ftpv1.ConditionStalled, metav1.ConditionTrue, ftpv1.ReasonPoolExhausted)
	if got := kstatusOf(t, stalled); got != kstatus.FailedStatus {
		t.Fatalf("kstatus of an exhausted server: %s, want Failed", got)
	}
	waitEvent(t, ns, "waiting", "PoolExhausted")
	// A few passes later there is still one event: events mark transitions, not passes.
	patchAnnotation(t, ns, "waiting", "poke", "1")
	patchAnnotation(t, ns, "waiting", "poke", "2")
	time.Sleep(500 * time.Millisecond)
	if n := countEvents(t, ns, "waiting", "PoolExhausted"); n != 1 {
		t.Fatalf("%d PoolExhausted events, want 1", n)
	}

	start := time.Now()
	if err := k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big"}}); err != nil {
		t.Fatal(err)
	}
	got := waitGrant(t, ns, "waiting")
	t.Logf("waiting server got %s %s after the delete (a watch, no polling)", got, time.Since(start).Round(time.Millisecond))
	if got.Start != big.Start {
		t.Fatalf("released range not reused: big had %s, waiting got %s", big, got)
	}
	eventually(t, 10*time.Second, "Stalled cleared", func() (bool, error) {
		c := findCondition(getServer(t, ns, "waiting"), ftpv1.ConditionStalled)
		return c.Type == "", fmt.Errorf("%+v", c)
	})
	// No pod runs in envtest, so the server now waits for its workload: progressing, not failed.
	if got := kstatusOf(t, getServer(t, ns, "waiting")); got != kstatus.InProgressStatus {
		t.Fatalf("kstatus after recovery: %s, want InProgress", got)
	}
}

// kstatusOf is how Flux and kpt judge the server's health.
func kstatusOf(t *testing.T, srv *ftpv1.FTPServer) kstatus.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(srv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func patchAnnotation(t *testing.T, ns, name, k, v string) {
	t.Helper()
	srv := getServer(t, ns, name)
	orig := srv.DeepCopy()
	if srv.Annotations == nil {
		srv.Annotations = map[string]string{}
	}
	srv.Annotations[k] = v
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
}

func TestNeverAdoptsForeignObject(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	})
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "taken", nil))
	srv := waitCondition(t, ns, "taken", ftpv1.ConditionServiceReady, metav1.ConditionFalse, ftpv1.ReasonNotOwned)
	if c := findCondition(srv, ftpv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != ftpv1.ReasonNotOwned {
		t.Fatalf("Ready %+v", c)
	}
	waitEvent(t, ns, "taken", "NotOwned")
	waitCondition(t, ns, "taken", ftpv1.ConditionStalled, metav1.ConditionTrue, ftpv1.ReasonNotOwned)
	svc := getService(t, ns, "taken")
	if len(svc.OwnerReferences) != 0 || len(svc.Spec.Ports) != 1 {
		t.Fatalf("foreign Service was changed: %+v", svc)
	}
}

func TestMissingSecretIsReportedAndWatched(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	srv := newServer(t, ns, "sec", nil)
	srv.Spec.Users[0].PasswordSecretRef = ftpv1.SecretKeySelector{Name: "later", Key: "pw"}
	create(t, srv)
	got := waitCondition(t, ns, "sec", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonSecretMissing)
	if msg := findCondition(got, ftpv1.ConditionWorkloadReady).Message; !strings.Contains(msg, `"later"`) {
		t.Fatalf("message %q", msg)
	}
	ensureSecret(t, ns, "later", map[string]string{"other": "x"})
	got = waitCondition(t, ns, "sec", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonSecretMissing)
	eventually(t, 10*time.Second, "message about the missing key", func() (bool, error) {
		msg := findCondition(getServer(t, ns, "sec"), ftpv1.ConditionWorkloadReady).Message
		return strings.Contains(msg, `no key "pw"`), fmt.Errorf("%s", msg)
	})
	// The Secret watch brings the server back when the key appears (no pod runs in envtest, so the workload
	// then waits for its pod).
	setSecretData(t, ns, "later", "pw", "x")
	waitCondition(t, ns, "sec", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	_ = got
}

func TestCloudListenerCapWarns(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "wide", count(60)))
	waitCondition(t, ns, "wide", ftpv1.ConditionLoadBalancerCompatible, metav1.ConditionFalse, ftpv1.ReasonAboveCloudCap)
	waitEvent(t, ns, "wide", "AboveCloudListenerCap")
	// A warning, not an error: the ports are allocated and the Service applied.
	waitCondition(t, ns, "wide", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
}

// TestAddressReachesEngineWithoutRestart drives the whole address chain on a real API server: the load-balancer
// status of the Service changes, the operator publishes status.address, and a real engine, following its
// FTPServer with the narrowly scoped ServiceAccount the operator created for it, advertises the new address in
// its next 227 reply — while the pod template stays the same.
func TestAddressReachesEngineWithoutRestart(t *testing.T) {
	const addressBound = 15 * time.Second // typically 0.1 s
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "lb", count(2)))
	waitCondition(t, ns, "lb", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")

	engine, addr := support.StartEngine(t)
	saCfg := followAsEngine(t, ns, "lb", engine)
	ctx := t.Context()
	// That identity can read nothing else.
	saClient, err := client.New(saCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := saClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "other"}, &ftpv1.FTPServer{}); !apierrors.IsForbidden(err) {
		t.Fatalf("engine identity reading another FTPServer: %v, want Forbidden", err)
	}
	if err := saClient.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
		t.Fatalf("engine identity listing Secrets: %v, want Forbidden", err)
	}

	template := getDeployment(t, ns, "lb").Spec.Template
	for i, ip := range []string{"198.51.100.7", "198.51.100.8"} {
		start := time.Now()
		setIngress(t, ns, "lb", ip)
		// Generous bounds: on a loaded machine (2 cores, load 15) the API server, the operator and the engine all
		// run late. What is proven is that the address arrives at all, through the watch: a follower that lost
		// its watch only catches up at the next re-list (watchTimeout, 5 min), far beyond addressBound.
		eventually(t, addressBound, "status.address "+ip, func() (bool, error) {
			s := getServer(t, ns, "lb")
			return s.Status.Address == ip && s.Status.Endpoint == "ftp://"+ip+":21", fmt.Errorf("address %q endpoint %q", s.Status.Address, s.Status.Endpoint)
		})
		want := "(" + strings.ReplaceAll(ip, ".", ",") + ","
		eventually(t, addressBound, "227 reply with "+ip, func() (bool, error) {
			reply, err := support.PASVReply(addr)
			return strings.Contains(reply, want), fmt.Errorf("reply %q: %v", reply, err)
		})
		elapsed := time.Since(start)
		t.Logf("address change %d: load-balancer status to 227 reply in %s", i+1, elapsed.Round(time.Millisecond))
		if elapsed > addressBound {
			t.Errorf("address took %s to reach the engine, want within %s", elapsed, addressBound)
		}
	}
	waitCondition(t, ns, "lb", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	waitEvent(t, ns, "lb", "AddressAssigned")
	if now := getDeployment(t, ns, "lb").Spec.Template; !equalTemplates(template, now) {
		t.Fatal("the pod template changed with the address: the pod would restart")
	}

	// An explicit override wins over the load balancer.
	srv := getServer(t, ns, "lb")
	orig := srv.DeepCopy()
	srv.Spec.PublicAddress = "ftp.example.com"
	if err := k8s.Patch(ctx, srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "override published", func() (bool, error) {
		s := getServer(t, ns, "lb")
		return s.Status.Address == "ftp.example.com" && engine.CurrentPublicAddress() == "ftp.example.com", fmt.Errorf("%q / %q", s.Status.Address, engine.CurrentPublicAddress())
	})
}

func equalTemplates(a, b corev1.PodTemplateSpec) bool {
	return fmt.Sprint(a.Spec.Containers[0].Args) == fmt.Sprint(b.Spec.Containers[0].Args) &&
		fmt.Sprint(a.Annotations) == fmt.Sprint(b.Annotations) && fmt.Sprint(a.Spec.Containers[0].Env) == fmt.Sprint(b.Spec.Containers[0].Env)
}

func setIngress(t *testing.T, ns, name, ip string) {
	t.Helper()
	svc := getService(t, ns, name)
	orig := svc.DeepCopy()
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if err := k8s.Status().Patch(context.Background(), svc, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
}

// followAsEngine makes engine follow the FTPServer's status.address the way the pod does: with the identity of
// the namespace's engine ServiceAccount the operator made, and only that account's Role. It returns that identity's config.
func followAsEngine(t *testing.T, ns, name string, engine *ftpd.Server) *rest.Config {
	t.Helper()
	saCfg := rest.CopyConfig(restConfig)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineSAName(nil))}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	synced := make(chan error, 1)
	go func() {
		synced <- addressfollow.Follow(ctx, support.EngineClient(t, saCfg), engineconfig.FollowTarget{Namespace: ns, Name: name}, engine.SetPublicAddress)
	}()
	select {
	case err := <-synced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the engine could not read its FTPServer within 20s")
	}
	return saCfg
}

// TestNodePortAddressIsTheNodesAddress: in NodePort mode the address is that of the node running the server's
// pod (ExternalIP before InternalIP), and the endpoint uses the control port's nodePort. envtest runs no kubelet,
// so the test registers a Node and a Pod bound to it, as the scheduler and kubelet would.
func TestNodePortAddressIsTheNodesAddress(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, portalloc.Range{Start: 31100, End: 31119})
	create(t, newServer(t, ns, "np", func(s *ftpv1.FTPServer) {
		s.Spec.Service.Type = corev1.ServiceTypeNodePort
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](2)}
	}))
	waitCondition(t, ns, "np", ftpv1.ConditionAddress, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress)

	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-node"}}
	create(t, node)
	t.Cleanup(func() { _ = k8s.Delete(ctx, node) })
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "10.0.0.5"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.50"},
	}
	if err := k8s.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "np-pod", Labels: render.Labels(getServer(t, ns, "np"))},
		Spec:       corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "ftpd", Image: "x"}}},
	}
	create(t, pod)
	patchAnnotation(t, ns, "np", "poke", "pod-scheduled") // a Deployment status change would do this in a cluster

	srv := waitCondition(t, ns, "np", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	if srv.Status.Address != "203.0.113.50" {
		t.Fatalf("address %q, want the node's ExternalIP", srv.Status.Address)
	}
	var controlNodePort int32
	for _, p := range getService(t, ns, "np").Spec.Ports {
		if p.Name == "ftp" {
			controlNodePort = p.NodePort
		}
	}
	if want := fmt.Sprintf("ftp://203.0.113.50:%d", controlNodePort); controlNodePort == 0 || srv.Status.Endpoint != want {
		t.Fatalf("endpoint %q, want %q", srv.Status.Endpoint, want)
	}
}
