package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// storageCauses ranks the causes an engine names for unusable storage, worst (most certainly a person's fix) first;
// any other cause is StorageUnavailable, ranked last.
var storageCauses = []string{ftpv1.ReasonCredentialsRejected, ftpv1.ReasonBucketNotFound, ftpv1.ReasonEndpointUnreachable}

// storageProblemOf reads the storage health that the server's engine pods publish in its health ConfigMap (one key
// per pod, engineconfig.StorageHealthKey; both from the label-scoped cache: the ConfigMap is an owned child, the pods
// are cached by their labels) and returns the worst failure among the pods that exist, naming every failing pod.
// Keys of pods that are gone are ignored, and so is a ConfigMap of that name that is not the server's.
func (r *FTPServerReconciler) storageProblemOf(ctx context.Context, srv *ftpv1.FTPServer) (podProblem, bool, error) {
	if srv.Spec.Storage.S3 == nil {
		return podProblem{}, false, nil
	}
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.HealthConfigMapName(srv)}, cm)
	if apierrors.IsNotFound(err) {
		return podProblem{}, false, nil
	}
	if err != nil {
		return podProblem{}, false, fmt.Errorf("reading ConfigMap %s: %w", render.HealthConfigMapName(srv), err)
	}
	if !metav1.IsControlledBy(cm, srv) {
		return podProblem{}, false, nil
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(srv.Namespace), client.MatchingLabels(render.Labels(srv))); err != nil {
		return podProblem{}, false, fmt.Errorf("listing the pods of %s: %w", srv.Name, err)
	}
	problem, found := diagnoseStorage(cm.Data, pods.Items)
	return problem, found, nil
}

// diagnoseStorage picks the worst storage failure that the live pods among pods published in data.
func diagnoseStorage(data map[string]string, pods []corev1.Pod) (podProblem, bool) {
	type failure struct{ pod, cause, message string }
	var failures []failure
	for _, pod := range pods {
		value, ok := data[engineconfig.StorageHealthKey(pod.Name)]
		if !ok || value == engineconfig.StorageHealthy || !pod.DeletionTimestamp.IsZero() {
			continue
		}
		cause, msg, _ := strings.Cut(value, ": ")
		if !slices.Contains(storageCauses, cause) {
			cause, msg = ftpv1.ReasonStorageUnavailable, value
		}
		failures = append(failures, failure{pod.Name, cause, msg})
	}
	if len(failures) == 0 {
		return podProblem{}, false
	}
	rank := func(cause string) int {
		if i := slices.Index(storageCauses, cause); i >= 0 {
			return i
		}
		return len(storageCauses)
	}
	slices.SortFunc(failures, func(a, b failure) int {
		if d := rank(a.cause) - rank(b.cause); d != 0 {
			return d
		}
		return strings.Compare(a.pod, b.pod)
	})
	parts := make([]string, len(failures))
	for i, f := range failures {
		parts[i] = fmt.Sprintf("pod %s: %s: %s", f.pod, f.cause, f.message)
	}
	return podProblem{reason: failures[0].cause, message: "storage unavailable: " + strings.Join(parts, "; ")}, true
}
