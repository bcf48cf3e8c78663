package packaging

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// TestKstatus shows how kstatus, the health model of Flux (and kpt, cli-utils), reads an FTPServer's status
// without any custom health rule: observedGeneration and the Ready condition are enough.
//
// What kstatus does, from sigs.k8s.io/cli-utils v0.37.2 pkg/kstatus/status:
//   - status.observedGeneration != metadata.generation: InProgress ("LatestGenerationNotObserved").
//   - a condition Reconciling=True: InProgress; Stalled=True: Failed. These are the only ways to Failed.
//   - otherwise, for a kind it has no built-in rule for, a Ready condition decides: True is Current, False or
//     Unknown is InProgress (never Failed).
//   - no observedGeneration and no conditions (a server the operator has not reconciled yet): Current. kstatus
//     cannot tell "no status yet" from "no status at all".
func TestKstatus(t *testing.T) {
	ready := func(s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: ftpv1.ConditionReady, Status: s, Reason: reason, Message: reason,
			ObservedGeneration: 3, LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}
	}
	for _, tc := range []struct {
		name       string
		generation int64
		status     ftpv1.FTPServerStatus
		deleting   bool
		want       status.Status
	}{
		{name: "ready and observed", generation: 3, want: status.CurrentStatus, status: ftpv1.FTPServerStatus{
			ObservedGeneration: 3, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, ftpv1.ReasonReady)}}},
		{name: "not ready, observed", generation: 3, want: status.InProgressStatus, status: ftpv1.FTPServerStatus{
			ObservedGeneration: 3, Conditions: []metav1.Condition{ready(metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress)}}},
		{name: "pool exhausted is InProgress, not Failed", generation: 3, want: status.InProgressStatus, status: ftpv1.FTPServerStatus{
			ObservedGeneration: 3, Conditions: []metav1.Condition{ready(metav1.ConditionFalse, ftpv1.ReasonPoolExhausted)}}},
		{name: "ready unknown", generation: 3, want: status.InProgressStatus, status: ftpv1.FTPServerStatus{
			ObservedGeneration: 3, Conditions: []metav1.Condition{ready(metav1.ConditionUnknown, ftpv1.ReasonProgressing)}}},
		{name: "stale observedGeneration, Ready still True", generation: 4, want: status.InProgressStatus, status: ftpv1.FTPServerStatus{
			ObservedGeneration: 3, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, ftpv1.ReasonReady)}}},
		{name: "being deleted", generation: 3, deleting: true, want: status.TerminatingStatus, status: ftpv1.FTPServerStatus{
			ObservedGeneration: 3, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, ftpv1.ReasonReady)}}},
		{name: "never reconciled (kstatus limit)", generation: 1, want: status.CurrentStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &ftpv1.FTPServer{
				TypeMeta:   metav1.TypeMeta{APIVersion: ftpv1.GroupVersion.String(), Kind: "FTPServer"},
				ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", Generation: tc.generation},
				Status:     tc.status,
			}
			if tc.deleting {
				now := metav1.NewTime(time.Unix(1700000100, 0))
				srv.DeletionTimestamp = &now
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(srv)
			if err != nil {
				t.Fatal(err)
			}
			res, err := status.Compute(&unstructured.Unstructured{Object: m})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, tc.want)
			}
		})
	}
}
