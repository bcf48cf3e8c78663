package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// PodStallAfter is how long the server's pod may stay unschedulable (for want of a node, or because its claim is
// not bound) before the server is Stalled: long enough for a cluster autoscaler to add a node or a provisioner to
// bind a volume, short enough that a GitOps tool reports the failure within minutes.
const PodStallAfter = 5 * time.Minute

// containerFailures are the kubelet's waiting reasons that mean the engine container cannot run, and whether they
// stall the server at once. The kubelet keeps retrying them, and the condition clears when a retry succeeds; but
// none of them goes away without a person (a fixed image reference, registry credentials, a fixed crash), so
// GitOps tools should show them as failed at once, not as progressing. ErrImagePull, the first failure of a pull,
// is transient unless the registry said the image does not exist or refused access (imageGone).
var containerFailures = map[string]bool{
	ftpv1.ReasonErrImagePull:               false,
	ftpv1.ReasonImagePullBackOff:           true,
	ftpv1.ReasonInvalidImageName:           true,
	ftpv1.ReasonCrashLoopBackOff:           true,
	ftpv1.ReasonCreateContainerConfigError: true,
}

// imageGone matches pull errors that no retry fixes.
func imageGone(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"not found", "manifest unknown", "unauthorized", "denied", "forbidden"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// crashLoopRestarts is how many restarts after a failed exit make a container that runs again, but is not ready,
// still a crash loop: the kubelet says CrashLoopBackOff only while it waits to restart, so without this a crash loop
// would flip the server between Stalled and Progressing on every restart.
const crashLoopRestarts = 3

// betweenCrashes reports a container that crashed at least crashLoopRestarts times and, between two crashes, runs
// (or has just exited) without being ready, as the crash loop it is.
func betweenCrashes(pod string, cs corev1.ContainerStatus) (podProblem, bool) {
	last := cs.LastTerminationState.Terminated
	if cs.Ready || cs.RestartCount < crashLoopRestarts || last == nil || last.ExitCode == 0 || cs.State.Waiting != nil {
		return podProblem{}, false
	}
	msg := fmt.Sprintf("pod %s, container %s: restarted %d times, last exit code %d (%s)", pod, cs.Name, cs.RestartCount, last.ExitCode, last.Reason)
	if last.Message != "" {
		msg += ": " + last.Message
	}
	msg += fmt.Sprintf("; running again but not ready; see kubectl logs %s -c %s --previous", pod, cs.Name)
	return podProblem{reason: ftpv1.ReasonCrashLoopBackOff, message: msg, stalled: true}, true
}

// podProblem is why the server's pod does not run, in the pod's own words.
type podProblem struct {
	reason, message string
	// stalled: no retry fixes it, a person must act.
	stalled bool
	// recheckAfter is when a transient problem becomes a stalled one, if nothing changes before.
	recheckAfter time.Duration
}

// diagnosePods finds the most actionable problem of the server's pods, newest pod first: a container that cannot
// start (image pull, crash loop, bad configuration) before a pod the scheduler cannot place, which is reported as
// ClaimPending when claim (the server's PersistentVolumeClaim, nil without one) is not bound.
func diagnosePods(pods []corev1.Pod, claim *corev1.PersistentVolumeClaim, now time.Time) (podProblem, bool) {
	pods = slices.DeleteFunc(slices.Clone(pods), func(p corev1.Pod) bool { return !p.DeletionTimestamp.IsZero() })
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return b.CreationTimestamp.Compare(a.CreationTimestamp.Time) })
	for _, pod := range pods {
		statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			if p, ok := betweenCrashes(pod.Name, cs); ok {
				return p, true
			}
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			stalls, known := containerFailures[w.Reason]
			if !known {
				continue
			}
			msg := fmt.Sprintf("pod %s, container %s: %s", pod.Name, cs.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + w.Message
			}
			if t := cs.LastTerminationState.Terminated; t != nil && w.Reason == ftpv1.ReasonCrashLoopBackOff {
				msg += fmt.Sprintf("; last exit code %d (%s) after %d restarts", t.ExitCode, t.Reason, cs.RestartCount)
				if t.Message != "" {
					msg += ": " + t.Message
				}
				msg += fmt.Sprintf("; see kubectl logs %s -c %s --previous", pod.Name, cs.Name)
			}
			if w.Reason == ftpv1.ReasonErrImagePull && imageGone(w.Message) {
				stalls = true
			}
			return podProblem{reason: w.Reason, message: msg, stalled: stalls}, true
		}
	}
	for _, pod := range pods {
		for _, c := range pod.Status.Conditions {
			if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
				continue
			}
			p := podProblem{reason: ftpv1.ReasonUnschedulable, message: fmt.Sprintf("pod %s cannot be scheduled: %s", pod.Name, c.Message)}
			if claim != nil && claim.Status.Phase == corev1.ClaimPending {
				p.reason = ftpv1.ReasonClaimPending
				p.message = fmt.Sprintf("PersistentVolumeClaim %s is not bound, so pod %s cannot be scheduled (%s); check the claim's StorageClass "+
					"and kubectl describe pvc %s", claim.Name, pod.Name, c.Message, claim.Name)
			}
			since := now.Sub(c.LastTransitionTime.Time)
			if since >= PodStallAfter {
				p.stalled = true
				// A fixed time, not a duration: the message must not change from pass to pass.
				p.message += fmt.Sprintf(" (unschedulable since %s)", c.LastTransitionTime.UTC().Format(time.RFC3339))
			} else {
				p.recheckAfter = PodStallAfter - since
			}
			return p, true
		}
	}
	return podProblem{}, false
}

// podProblemOf reads the server's pods (cached, by its labels) and, when one is unschedulable, its claim
// (uncached: a claim the user made carries no operator label), and diagnoses them.
func (r *FTPServerReconciler) podProblemOf(ctx context.Context, srv *ftpv1.FTPServer) (podProblem, bool, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(srv.Namespace), client.MatchingLabels(render.Labels(srv))); err != nil {
		return podProblem{}, false, fmt.Errorf("listing the pods of %s: %w", srv.Name, err)
	}
	problem, found := diagnosePods(pods.Items, nil, time.Now())
	if !found || problem.reason != ftpv1.ReasonUnschedulable || render.ClaimName(srv) == "" {
		return problem, found, nil
	}
	claim := &corev1.PersistentVolumeClaim{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.ClaimName(srv)}, claim)
	switch {
	case apierrors.IsNotFound(err):
		// a missing claim that the user named: the pod says so itself
	case err != nil:
		return podProblem{}, false, fmt.Errorf("reading PersistentVolumeClaim %s: %w", render.ClaimName(srv), err)
	default:
		problem, found = diagnosePods(pods.Items, claim, time.Now())
	}
	return problem, found, nil
}

// serverOfPod maps a pod to the FTPServer it runs, by the labels render puts on the pod template.
func serverOfPod(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[render.NameLabel] != render.AppName || l[render.ManagedByLabel] != render.ManagedBy || l[render.InstanceLabel] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: l[render.InstanceLabel]}}}
}
