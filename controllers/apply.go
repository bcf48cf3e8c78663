package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// notOwnedError says that an object of the name we need exists and is not ours. We never adopt it; the server
// watches it (blockerWatches) and goes on when it is deleted or handed over.
type notOwnedError struct {
	blocker blocker
}

func (e *notOwnedError) Error() string {
	return fmt.Sprintf("%s %q already exists and is not managed by this FTPServer; rename or delete it", e.blocker.gvk.Kind, e.blocker.name)
}

// apply server-side-applies obj, a typed object from render, as a controlled child of srv, and fills obj with
// the API server's answer (so the caller never reads a just-applied object back from a cache that lags).
func (r *FTPServerReconciler) apply(ctx context.Context, srv *ftpv1.FTPServer, obj client.Object) error {
	return r.applyChild(ctx, srv, obj, true)
}

// applyClaim applies the claim of a volumeClaimTemplate. owned (retention Delete) makes it a controlled child that
// Kubernetes deletes with srv; otherwise (Retain) it carries no owner reference at all, so that nothing that
// deletes the FTPServer (kubectl delete, a GitOps prune, removing the CRD) takes the files with it. A claim with
// no controller and the ClaimLabel of srv's name is ours and is mounted again; any other claim of that name is not
// adopted.
func (r *FTPServerReconciler) applyClaim(ctx context.Context, srv *ftpv1.FTPServer, pvc *corev1.PersistentVolumeClaim, owned bool) error {
	return r.applyChild(ctx, srv, pvc, owned)
}

// retainedClaimOf reports whether obj is a claim that an FTPServer named like srv made and left behind.
func retainedClaimOf(obj client.Object, srv *ftpv1.FTPServer) bool {
	_, isClaim := obj.(*corev1.PersistentVolumeClaim)
	return isClaim && metav1.GetControllerOf(obj) == nil && obj.GetLabels()[render.ClaimLabel] == srv.Name
}

func (r *FTPServerReconciler) applyChild(ctx context.Context, srv *ftpv1.FTPServer, obj client.Object, owned bool) error {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	fresh, err := r.Scheme.New(obj.GetObjectKind().GroupVersionKind())
	if err != nil {
		return err
	}
	existing := fresh.(client.Object) // typed, so the read is served by the manager's cache of owned objects
	err = r.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if apierrors.IsNotFound(err) {
		// The cache holds only objects with our label (ScopeCache): ask the API server whether a same-named
		// object without it exists, so that we never apply over it. This read happens only until the cache has
		// seen the child we created.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	}
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", kind, obj.GetName(), err)
	case !metav1.IsControlledBy(existing, srv) && !retainedClaimOf(existing, srv) && !madeFor(existing, srv):
		// madeFor: made for this server's predecessor of the same name (recreated by a restore); the apply
		// below moves the ownerRef to srv.
		return &notOwnedError{blocker{gvk: obj.GetObjectKind().GroupVersionKind(), namespace: obj.GetNamespace(), name: obj.GetName()}}
	}
	if owned {
		if err := controllerutil.SetControllerReference(srv, obj, r.Scheme); err != nil {
			return err
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("converting %s %s: %w", kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", kind, obj.GetName(), err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return fmt.Errorf("reading back %s %s: %w", kind, obj.GetName(), err)
	}
	return nil
}
