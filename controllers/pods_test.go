package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

func TestDiagnosePods(t *testing.T) {
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	pod := func(name string, created time.Time, st corev1.PodStatus) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}, Status: st}
	}
	waiting := func(reason, msg string) corev1.PodStatus { return waitingContainer(reason, msg) }
	crashed := func(restarts int32, ready bool) corev1.PodStatus {
		return corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "ftpd", RestartCount: restarts, Ready: ready,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}}
	}
	deleted := pod("old", now.Add(-time.Hour), waiting("CrashLoopBackOff", "back-off"))
	deleted.DeletionTimestamp = &metav1.Time{Time: now}
	initFails := pod("init", now, corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: "setup",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "x" not found`}}}}})
	pending := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	bound := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	for _, tt := range []struct {
		name    string
		pods    []corev1.Pod
		claim   *corev1.PersistentVolumeClaim
		found   bool
		reason  string
		stalled bool
		recheck time.Duration
	}{
		{"no pods", nil, nil, false, "", false, 0},
		{"running", []corev1.Pod{pod("p", now, corev1.PodStatus{Phase: corev1.PodRunning})}, nil, false, "", false, 0},
		{"a pod being deleted is ignored", []corev1.Pod{deleted}, nil, false, "", false, 0},
		{"an unknown waiting reason is not a failure", []corev1.Pod{pod("p", now, waiting("ContainerCreating", ""))}, nil, false, "", false, 0},
		{"init container", []corev1.Pod{initFails}, nil, true, ftpv1.ReasonCreateContainerConfigError, true, 0},
		{"newest pod first", []corev1.Pod{pod("a", now.Add(-time.Minute), waiting("ErrImagePull", "timeout")), pod("b", now, waiting("InvalidImageName", "bad"))},
			nil, true, ftpv1.ReasonInvalidImageName, true, 0},
		{"denied pull stalls", []corev1.Pod{pod("p", now, waiting("ErrImagePull", "pull access denied"))}, nil, true, ftpv1.ReasonErrImagePull, true, 0},
		{"container failure before unschedulable", []corev1.Pod{pod("a", now, unschedulable(now, "no nodes")), pod("b", now.Add(-time.Second), waiting("CrashLoopBackOff", ""))},
			nil, true, ftpv1.ReasonCrashLoopBackOff, true, 0},
		{"running again after 4 crashes, not ready: still a crash loop", []corev1.Pod{pod("p", now, crashed(4, false))}, nil, true, ftpv1.ReasonCrashLoopBackOff, true, 0},
		{"running again after 1 crash: not (yet) a loop", []corev1.Pod{pod("p", now, crashed(1, false))}, nil, false, "", false, 0},
		{"ready after crashes: recovered", []corev1.Pod{pod("p", now, crashed(4, true))}, nil, false, "", false, 0},
		{"unschedulable for a minute", []corev1.Pod{pod("p", now, unschedulable(now.Add(-time.Minute), "no nodes"))}, nil, true, ftpv1.ReasonUnschedulable, false, PodStallAfter - time.Minute},
		{"unschedulable at the deadline", []corev1.Pod{pod("p", now, unschedulable(now.Add(-PodStallAfter), "no nodes"))}, nil, true, ftpv1.ReasonUnschedulable, true, 0},
		{"unbound claim", []corev1.Pod{pod("p", now, unschedulable(now.Add(-time.Minute), "unbound"))}, pending, true, ftpv1.ReasonClaimPending, false, PodStallAfter - time.Minute},
		{"bound claim: the node is the problem", []corev1.Pod{pod("p", now, unschedulable(now.Add(-time.Minute), "taints"))}, bound, true, ftpv1.ReasonUnschedulable, false, PodStallAfter - time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, found := diagnosePods(tt.pods, tt.claim, now)
			if found != tt.found || p.reason != tt.reason || p.stalled != tt.stalled || p.recheckAfter != tt.recheck {
				t.Fatalf("got %+v found=%v; want reason %q stalled=%v recheck %s found=%v", p, found, tt.reason, tt.stalled, tt.recheck, tt.found)
			}
		})
	}
}

// TestReadyRanksStallsThenFailuresThenWaiting: setReady's order of precedence.
func TestReadyRanksStallsThenFailuresThenWaiting(t *testing.T) {
	cond := func(typ string, ok bool, reason string) metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: typ + " " + reason}
	}
	ports := cond(ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonAllocated)
	svc := cond(ftpv1.ConditionServiceReady, true, ftpv1.ReasonApplied)
	for _, tt := range []struct {
		name    string
		conds   []metav1.Condition
		stalled string
		want    string
	}{
		{"all true", []metav1.Condition{ports, svc, cond(ftpv1.ConditionAddress, true, ""), cond(ftpv1.ConditionWorkloadReady, true, "")}, "", ftpv1.ReasonReady},
		{"missing condition is waiting", []metav1.Condition{ports, svc, cond(ftpv1.ConditionAddress, true, "")}, "", ftpv1.ReasonProgressing},
		{"stall behind waiting address", []metav1.Condition{ports, svc, cond(ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress),
			cond(ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonSecretMissing)}, "", ftpv1.ReasonSecretMissing},
		{"failure behind waiting", []metav1.Condition{ports, svc, cond(ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress),
			cond(ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonApplyFailed)}, "", ftpv1.ReasonApplyFailed},
		{"pod reason stalls only when the pass says so", []metav1.Condition{ports, cond(ftpv1.ConditionServiceReady, false, ftpv1.ReasonApplyFailed),
			cond(ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress), cond(ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonUnschedulable)},
			ftpv1.ReasonUnschedulable, ftpv1.ReasonUnschedulable},
		{"pod reason not yet stalled: first failure in order", []metav1.Condition{ports, cond(ftpv1.ConditionServiceReady, false, ftpv1.ReasonApplyFailed),
			cond(ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress), cond(ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonUnschedulable)},
			"", ftpv1.ReasonApplyFailed},
		{"two stalls: order of readyParts", []metav1.Condition{cond(ftpv1.ConditionPortsAllocated, false, ftpv1.ReasonPoolExhausted),
			cond(ftpv1.ConditionServiceReady, false, ftpv1.ReasonWaitingForPorts), cond(ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonSecretMissing)},
			"", ftpv1.ReasonPoolExhausted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := &ftpv1.FTPServer{Status: ftpv1.FTPServerStatus{Conditions: tt.conds}}
			summarize(srv, tt.stalled)
			ready := findCondition(srv, ftpv1.ConditionReady)
			if ready.Reason != tt.want {
				t.Fatalf("Ready reason %s (%s), want %s", ready.Reason, ready.Message, tt.want)
			}
			_, isStalled := stalledOf(srv)
			if want := stalls(tt.want, tt.stalled); isStalled != want {
				t.Fatalf("Stalled %v, want %v", isStalled, want)
			}
		})
	}
}

func stalledOf(srv *ftpv1.FTPServer) (metav1.Condition, bool) {
	for _, c := range srv.Status.Conditions {
		if c.Type == ftpv1.ConditionStalled && c.Status == metav1.ConditionTrue {
			return c, true
		}
	}
	return metav1.Condition{}, false
}

// TestTransitionAnnouncedOnceWhenTheCacheLags: the second pass of a new server starts from a cached status that
// does not hold the first pass's write yet, and meanwhile the load balancer assigned an address. Each transition
// is announced once all the same: the address belongs to AddressAssigned's announcement only.
func TestTransitionAnnouncedOnceWhenTheCacheLags(t *testing.T) {
	rec := events.NewFakeRecorder(16)
	r := &FTPServerReconciler{Recorder: rec}
	fresh := &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fresh"}}
	pass := func(address string) {
		after := fresh.DeepCopy()
		setCondition(after, ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonAllocated, "passive ports 30000-30001")
		if address != "" {
			after.Status.Address = address
			setCondition(after, ftpv1.ConditionAddress, true, ftpv1.ReasonAddressAssigned, "passive replies advertise %s", address)
		} else {
			setCondition(after, ftpv1.ConditionAddress, false, ftpv1.ReasonWaitingForAddress, "waiting")
		}
		r.recordTransitions(fresh, after) // before: the (stale) cached object, without status
	}
	pass("")
	pass("198.51.100.10")
	close(rec.Events)
	got := map[string]int{}
	for e := range rec.Events {
		got[strings.Fields(e)[1]]++
	}
	if got["PortsAllocated"] != 1 || got["AddressAssigned"] != 1 {
		t.Fatalf("events %v, want one PortsAllocated and one AddressAssigned", got)
	}
}
