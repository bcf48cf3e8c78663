package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// makePod creates, as the Deployment's ReplicaSet would, a pod with the server's labels (envtest runs no
// controllers and no kubelet), and gives it status as the kubelet or the scheduler would.
func makePod(t *testing.T, ns, server, name string, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: render.Labels(getServer(t, ns, server))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ftpd", Image: "registry.example/ftp-operator:nope"}}},
	}
	create(t, pod)
	setPodStatus(t, pod, status)
	return pod
}

func setPodStatus(t *testing.T, pod *corev1.Pod, status corev1.PodStatus) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = status
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

func waitingContainer(reason, message string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "ftpd", Image: "registry.example/ftp-operator:nope",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
	}}}
}

func unschedulable(since time.Time, message string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: message, LastTransitionTime: metav1.NewTime(since),
	}}}
}

// TestPodFailuresReachTheServer: a pod that cannot run makes WorkloadReady False with the pod's own reason and
// message, Ready takes that reason, a Warning event announces it once, and Stalled is True for the failures no
// retry fixes. The pod watch wakes the server: nothing else changes between the pod's status and the condition.
func TestPodFailuresReachTheServer(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	old := time.Now().Add(-2 * PodStallAfter)
	for _, tt := range []struct {
		name    string
		claim   bool
		status  corev1.PodStatus
		reason  string
		message string // part of WorkloadReady's message
		stalled bool
	}{
		{"backoff", false, waitingContainer("ImagePullBackOff", `Back-off pulling image "registry.example/ftp-operator:nope"`),
			ftpv1.ReasonImagePullBackOff, `Back-off pulling image "registry.example/ftp-operator:nope"`, true},
		{"pullgone", false, waitingContainer("ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image: not found"),
			ftpv1.ReasonErrImagePull, "not found", true},
		{"pullslow", false, waitingContainer("ErrImagePull", "rpc error: code = Unknown desc = dial tcp: i/o timeout"),
			ftpv1.ReasonErrImagePull, "i/o timeout", false},
		{"crash", false, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "ftpd", RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: "back-off 1m20s restarting failed container=ftpd"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}},
		}}}, ftpv1.ReasonCrashLoopBackOff, "last exit code 2 (Error) after 4 restarts", true},
		{"nodenow", false, unschedulable(time.Now(), "0/3 nodes are available: 3 Insufficient memory."),
			ftpv1.ReasonUnschedulable, "3 Insufficient memory", false},
		{"nodelong", false, unschedulable(old, "0/3 nodes are available: 3 node(s) had untolerated taint."),
			ftpv1.ReasonUnschedulable, "untolerated taint", true},
		{"claim", true, unschedulable(old, "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."),
			ftpv1.ReasonClaimPending, "PersistentVolumeClaim claim-data is not bound", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			create(t, newServer(t, ns, tt.name, func(s *ftpv1.FTPServer) {
				s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](2)}
				if tt.claim {
					s.Spec.Storage.VolumeClaimTemplate = &ftpv1.VolumeClaimTemplate{Size: resource.MustParse("1Gi")}
				}
			}))
			// The Deployment is applied and waits for its pod (envtest runs no controllers).
			waitCondition(t, ns, tt.name, ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
			makePod(t, ns, tt.name, tt.name+"-7d9f-abcde", tt.status)

			srv := waitCondition(t, ns, tt.name, ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, tt.reason)
			if msg := findCondition(srv, ftpv1.ConditionWorkloadReady).Message; !strings.Contains(msg, tt.message) {
				t.Fatalf("WorkloadReady message %q, want it to contain %q", msg, tt.message)
			}
			ready := findCondition(srv, ftpv1.ConditionReady)
			stalled := apimeta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionStalled)
			if tt.stalled {
				// The pod's reason outranks the LoadBalancer's WaitingForAddress (no MetalLB in this test).
				if ready.Reason != tt.reason || stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != tt.reason {
					t.Fatalf("Ready %s/%s, Stalled %v: want both with reason %s", ready.Status, ready.Reason, stalled, tt.reason)
				}
			} else if stalled != nil {
				t.Fatalf("a transient %s stalls the server: %+v", tt.reason, *stalled)
			}
			waitEvent(t, ns, tt.name, tt.reason)
		})
	}

	// Recovery: the pull works and the container runs; the condition leaves the pod's reason and Stalled goes.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backoff-7d9f-abcde"}}
	setPodStatus(t, pod, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "ftpd", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}})
	srv := waitCondition(t, ns, "backoff", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	if c := apimeta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionStalled); c != nil {
		t.Fatalf("still Stalled after the pod recovered: %+v", *c)
	}
	// Events mark transitions: one ImagePullBackOff event, however many passes ran.
	if n := countEvents(t, ns, "backoff", ftpv1.ReasonImagePullBackOff); n != 1 {
		t.Fatalf("%d ImagePullBackOff events, want 1", n)
	}
}

// TestPodsOfOtherAppsAreNotCached: the pod watch caches only pods with the operator's label.
func TestPodsOfOtherAppsAreNotCached(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, bigPool)
	create(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	})
	create(t, newServer(t, ns, "mine", nil))
	waitCondition(t, ns, "mine", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonProgressing)
	makePod(t, ns, "mine", "mine-pod", waitingContainer("ImagePullBackOff", "Back-off"))
	waitCondition(t, ns, "mine", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonImagePullBackOff)
	var pods corev1.PodList
	if err := op.rec.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != "mine-pod" {
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		t.Fatalf("the cache holds pods %v, want only mine-pod", names)
	}
}

// TestReadyReportsTheMostActionableReason: a missing Secret (a person must create it) is Ready's reason, and the
// server is Stalled, although the LoadBalancer also waits for an address (no MetalLB here).
func TestReadyReportsTheMostActionableReason(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "typo", func(s *ftpv1.FTPServer) {
		s.Spec.Users[0].PasswordSecretRef.Name = "userz"
	}))
	waitCondition(t, ns, "typo", ftpv1.ConditionAddress, metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress)
	srv := waitCondition(t, ns, "typo", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonSecretMissing)
	if ready := findCondition(srv, ftpv1.ConditionReady); ready.Reason != ftpv1.ReasonSecretMissing || !strings.Contains(ready.Message, `"userz"`) {
		t.Fatalf("Ready %s: %s; want SecretMissing naming userz", ready.Reason, ready.Message)
	}
	if c := apimeta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("not Stalled with a missing Secret: %+v", srv.Status.Conditions)
	}
}

// TestCountLargerThanThePoolIsTerminal: a count no release can satisfy says so, and stalls the server.
func TestCountLargerThanThePoolIsTerminal(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, portalloc.Range{Start: 31200, End: 31209})
	create(t, newServer(t, ns, "huge", count(11)))
	srv := waitCondition(t, ns, "huge", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonCountExceedsPool)
	msg := findCondition(srv, ftpv1.ConditionPortsAllocated).Message
	for _, want := range []string{"11 ports", "31200-31209 (10 ports)", "10 or less"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message %q, want it to contain %q", msg, want)
		}
	}
	if c := apimeta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionStalled); c == nil || c.Reason != ftpv1.ReasonCountExceedsPool {
		t.Fatalf("Stalled %+v, want reason CountExceedsPool", c)
	}
	waitEvent(t, ns, "huge", ftpv1.ReasonCountExceedsPool)
	// A count that fits the pool once ports are free still waits for them.
	create(t, newServer(t, ns, "fits", count(10)))
	waitGrant(t, ns, "fits")
	create(t, newServer(t, ns, "later", count(10)))
	waitCondition(t, ns, "later", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonPoolExhausted)
}

// TestPinnedConflictNamesTheOverlap: the message names the part of the pinned range that is taken; the holder in
// another namespace stays unnamed.
func TestPinnedConflictNamesTheOverlap(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	op := startOperator(t, ns, bigPool)
	if err := op.rec.Allocator.Assign(other+"/secret-name", portalloc.Range{Start: 30010, End: 30019}); err != nil {
		t.Fatal(err)
	}
	create(t, newServer(t, ns, "pinned", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Range: &ftpv1.PortRange{Start: 30000, End: 30015}}
	}))
	srv := waitCondition(t, ns, "pinned", ftpv1.ConditionPortsAllocated, metav1.ConditionFalse, ftpv1.ReasonRangeUnavailable)
	msg := findCondition(srv, ftpv1.ConditionPortsAllocated).Message
	if !strings.Contains(msg, "30010-30015 of 30000-30015 is held by another FTPServer") || strings.Contains(msg, "secret-name") || strings.Contains(msg, other) {
		t.Fatalf("message %q", msg)
	}
}

// TestPrinterColumnsShowReadyReasonAndMessage: kubectl get shows Ready's reason, and -o wide its message.
func TestPrinterColumnsShowReadyReasonAndMessage(t *testing.T) {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "ftpservers." + ftpv1.GroupVersion.Group}, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	cols, _, _ := unstructured.NestedSlice(versions[0].(map[string]any), "additionalPrinterColumns")
	got := map[string]string{}
	for _, c := range cols {
		m := c.(map[string]any)
		got[m["name"].(string)] = fmt.Sprintf("%v priority=%v", m["jsonPath"], m["priority"])
	}
	for name, want := range map[string]string{
		"Reason":  `.status.conditions[?(@.type=="Ready")].reason priority=<nil>`,
		"Message": `.status.conditions[?(@.type=="Ready")].message priority=1`,
	} {
		if got[name] != want {
			t.Errorf("column %s: %q, want %q", name, got[name], want)
		}
	}
}

// TestFirstPassAnnouncesEachTransitionOnce: creating a server whose load balancer (MetalLB) assigns an address
// after the first pass, and whose pod then fails, sends each event once, although several passes run on the way.
func TestFirstPassAnnouncesEachTransitionOnce(t *testing.T) {
	startMetalLB(t)
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "fresh", func(s *ftpv1.FTPServer) {
		s.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To[int32](2)}
		s.Spec.Service.LoadBalancerClass = ptr.To(metallbClass)
	}))
	waitCondition(t, ns, "fresh", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	makePod(t, ns, "fresh", "fresh-pod", waitingContainer("ImagePullBackOff", "Back-off pulling image"))
	waitCondition(t, ns, "fresh", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonImagePullBackOff)
	time.Sleep(2 * time.Second) // let any further passes run
	var evs eventsv1.EventList
	if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs.Items {
		if e.Regarding.Kind == "FTPServer" && e.Regarding.Name == "fresh" { // not MetalLB's events on the Service
			seen[e.Reason] = countEvents(t, ns, "fresh", e.Reason) // every event object and series of that reason
		}
	}
	for _, want := range []string{"PortsAllocated", "AddressAssigned", "EphemeralStorage", ftpv1.ReasonImagePullBackOff} {
		if seen[want] == 0 {
			t.Errorf("no %s event; events: %v", want, seen)
		}
	}
	for reason, n := range seen {
		if n != 1 {
			t.Errorf("%d %s events, want 1 (all: %v)", n, reason, seen)
		}
	}
}
