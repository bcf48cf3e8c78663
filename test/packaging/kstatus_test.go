package packaging

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// healthCase is an FTPServer in some state and how GitOps tools should read it.
type healthCase struct {
	name       string
	generation int64
	status     ftpv1.FTPServerStatus
	deleting   bool
	kstatus    status.Status // Flux, kpt, cli-utils
	argo       string        // Argo CD with config/argocd/ftpserver_health.lua; "" = not asked (deletion)
}

func readyCond(s metav1.ConditionStatus, reason string, gen int64) metav1.Condition {
	return metav1.Condition{Type: ftpv1.ConditionReady, Status: s, Reason: reason, Message: "because " + reason,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}
}

func stalledCond(reason string, gen int64) metav1.Condition {
	return metav1.Condition{Type: ftpv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: "because " + reason,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}
}

func conds(c ...metav1.Condition) []metav1.Condition { return c }

var healthCases = []healthCase{
	{name: "ready and observed", generation: 3, kstatus: status.CurrentStatus, argo: "Healthy",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionTrue, ftpv1.ReasonReady, 3))}},
	{name: "waiting for an address", generation: 3, kstatus: status.InProgressStatus, argo: "Progressing",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonWaitingForAddress, 3))}},
	{name: "pool exhausted", generation: 3, kstatus: status.InProgressStatus, argo: "Degraded",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonPoolExhausted, 3))}},
	{name: "pool exhausted after a spec change, observedGeneration not moved", generation: 4, kstatus: status.InProgressStatus, argo: "Degraded",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonPoolExhausted, 4))}},
	{name: "ready unknown", generation: 3, kstatus: status.InProgressStatus, argo: "Progressing",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionUnknown, ftpv1.ReasonProgressing, 3))}},
	{name: "stale observedGeneration, Ready still True", generation: 4, kstatus: status.InProgressStatus, argo: "Progressing",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionTrue, ftpv1.ReasonReady, 3))}},
	{name: "stale Degraded reason from an older generation", generation: 4, kstatus: status.InProgressStatus, argo: "Progressing",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonPoolExhausted, 3))}},
	{name: "being deleted", generation: 3, deleting: true, kstatus: status.TerminatingStatus,
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionTrue, ftpv1.ReasonReady, 3))}},
	// The pod's own failures: Stalled=True makes both Failed/Degraded; a pod not yet stalled is still progressing.
	{name: "image pull back-off, stalled", generation: 3, kstatus: status.FailedStatus, argo: "Degraded",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonImagePullBackOff, 3),
			stalledCond(ftpv1.ReasonImagePullBackOff, 3))}},
	{name: "unschedulable for a minute, not stalled yet", generation: 3, kstatus: status.InProgressStatus, argo: "Progressing",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonUnschedulable, 3))}},
	{name: "count exceeds the pool", generation: 3, kstatus: status.FailedStatus, argo: "Degraded",
		status: ftpv1.FTPServerStatus{ObservedGeneration: 3, Conditions: conds(readyCond(metav1.ConditionFalse, ftpv1.ReasonCountExceedsPool, 3),
			stalledCond(ftpv1.ReasonCountExceedsPool, 3))}},
	// kstatus cannot tell "no status yet" from "a kind without status" and calls both Current.
	{name: "never reconciled", generation: 1, kstatus: status.CurrentStatus, argo: "Progressing"},
}

func (tc healthCase) object(t *testing.T) map[string]any {
	t.Helper()
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
	return m
}

// TestKstatus shows how kstatus, the health model of Flux (and kpt, cli-utils), reads an FTPServer's status
// without any custom rule. What kstatus does (sigs.k8s.io/cli-utils v0.37.2, pkg/kstatus/status):
//   - status.observedGeneration present and != metadata.generation: InProgress.
//   - a condition Reconciling=True: InProgress; Stalled=True: Failed. These are its only ways to Failed.
//   - otherwise, for a kind it has no built-in rule for, the Ready condition decides: True is Current, False or
//     Unknown is InProgress (never Failed).
//   - no observedGeneration and no conditions (not reconciled yet): Current.
func TestKstatus(t *testing.T) {
	for _, tc := range healthCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := status.Compute(&unstructured.Unstructured{Object: tc.object(t)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.kstatus {
				t.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, tc.kstatus)
			}
		})
	}
}

// TestArgoCDHealth runs config/argocd/ftpserver_health.lua the way Argo CD runs a health script (gopher-lua, the
// object as the global obj, the returned table's status) over the same states.
func TestArgoCDHealth(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(root(t), "config", "argocd", "ftpserver_health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range healthCases {
		if tc.argo == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			l := lua.NewState(lua.Options{SkipOpenLibs: true})
			defer l.Close()
			for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenTable, lua.OpenString} {
				l.Push(l.NewFunction(open))
				l.Call(0, 0)
			}
			l.SetGlobal("obj", toLua(l, tc.object(t)))
			if err := l.DoString(string(script)); err != nil {
				t.Fatalf("health script: %v", err)
			}
			hs, ok := l.Get(-1).(*lua.LTable)
			if !ok {
				t.Fatalf("health script returned %v, want a table", l.Get(-1))
			}
			got := hs.RawGetString("status").String()
			if got != tc.argo {
				t.Errorf("Argo CD health %s (%s), want %s", got, hs.RawGetString("message"), tc.argo)
			}
		})
	}
}

// toLua converts a decoded JSON value into Lua values as Argo CD does: objects and arrays become tables, numbers
// become Lua numbers.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(toLua(l, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	panic("unexpected JSON type")
}
