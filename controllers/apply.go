package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// AppliedHashAnnotation is on every child: a hash of the object the operator last wrote. A pass writes a child only
// when the hash of what it renders differs, or when the child no longer holds what was rendered (someone edited
// it), so a pass that changes nothing sends no write.
const AppliedHashAnnotation = "ftpoperator.io/applied-hash"

// notOwnedError says that an object of the name we need exists and is not ours. We never adopt it; the server
// watches it (blockerWatches) and goes on when it is deleted or handed over.
type notOwnedError struct {
	blocker blocker
}

func (e *notOwnedError) Error() string {
	return fmt.Sprintf("%s %q already exists and is not managed by this FTPServer; rename or delete it", e.blocker.gvk.Kind, e.blocker.name)
}

// apply makes obj, a typed object from render, a controlled child of srv, and fills obj with the live object (the
// API server's answer, or the cached object when nothing had to be written), so the caller never reads a
// just-written object back from a cache that lags.
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

// applyChild writes a child in the fewest requests:
//   - absent from the cache (a new server): created, one POST, no read first. If an object of that name exists
//     after all (the cache holds only objects with our label, see ScopeCache), it is read from the API server and
//     refused unless it is ours;
//   - in the cache, ours, with the hash of what we render and every rendered field in place: nothing is sent. A
//     Secret (the users Secret), whose data the cache does not hold, is not read either while the cached metadata
//     shows the version this process last wrote or found in place with that hash (secretVersions);
//   - otherwise: server-side-applied with ForceOwnership, so that fields we no longer render are removed.
func (r *FTPServerReconciler) applyChild(ctx context.Context, srv *ftpv1.FTPServer, obj client.Object, owned bool) (err error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	kind := gvk.Kind
	if owned {
		if err := controllerutil.SetControllerReference(srv, obj, r.Scheme); err != nil {
			return err
		}
	}
	desired, err := applyConfiguration(obj)
	if err != nil {
		return fmt.Errorf("converting %s %s: %w", kind, obj.GetName(), err)
	}
	hash := contentHash(desired.Object)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AppliedHashAnnotation] = hash
	obj.SetAnnotations(annotations)
	desired.SetAnnotations(annotations)

	key := client.ObjectKeyFromObject(obj)
	_, isSecret := obj.(*corev1.Secret)
	if isSecret {
		defer func() {
			if err == nil {
				r.secretVersions.wrote(key, obj.GetResourceVersion(), hash)
			}
		}()
	}
	fresh, err := r.Scheme.New(gvk)
	if err != nil {
		return err
	}
	existing := fresh.(client.Object) // typed, so the read is served by the manager's cache of owned objects
	if isSecret && r.metadata != nil {
		// The cache holds no Secret's data, so a typed read goes to the API server; the metadata it does hold says
		// whether the Secret exists, and whether it is at the version this process wrote or found in place.
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		err = r.metadata.Get(ctx, key, m)
		switch {
		case err == nil && metav1.IsControlledBy(m, srv) && r.secretVersions.is(key, m.ResourceVersion, hash):
			obj.SetResourceVersion(m.ResourceVersion) // obj is what the API server holds: rendered alike, unchanged since
			return nil
		case apierrors.IsNotFound(err) && !r.secretVersions.known(key):
			// Never written by this process, and not in the cache: created below, without a read. (One this process
			// wrote may be missing from a cache that lags the create; it is read.)
		default:
			err = r.Get(ctx, key, existing)
		}
	} else {
		err = r.Get(ctx, key, existing)
	}
	switch {
	case apierrors.IsNotFound(err):
		err = r.Create(ctx, obj, client.FieldOwner(FieldOwner))
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return fmt.Errorf("creating %s %s: %w", kind, obj.GetName(), err)
			}
			return nil
		}
		// Not in the cache, yet there: without our label (never adopted), or created a moment ago.
		if err := r.APIReader.Get(ctx, key, existing); err != nil {
			return fmt.Errorf("reading %s %s: %w", kind, obj.GetName(), err)
		}
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", kind, obj.GetName(), err)
	}
	if !metav1.IsControlledBy(existing, srv) && !retainedClaimOf(existing, srv) && !madeFor(existing, srv) && !engineIdentityOf(existing) {
		// madeFor: made for this server's predecessor of the same name (recreated by a restore); the apply
		// below moves the ownerRef to srv. The engine identity has no owner: it is shared by the namespace.
		return &notOwnedError{blocker{gvk: gvk, namespace: obj.GetNamespace(), name: obj.GetName()}}
	}
	if existing.GetAnnotations()[AppliedHashAnnotation] == hash && holds(existing, desired.Object) {
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(existing).Elem())
		return nil
	}
	if err := r.upgradeCreatedFields(ctx, existing); err != nil {
		return fmt.Errorf("handing the fields of %s %s to server-side apply: %w", kind, obj.GetName(), err)
	}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(desired), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", kind, obj.GetName(), err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(desired.Object, obj); err != nil {
		return fmt.Errorf("reading back %s %s: %w", kind, obj.GetName(), err)
	}
	return nil
}

// secretVersions remembers, per child Secret, the resource version this process last wrote or found in place and
// the hash it then had, so that a pass that renders the same Secret needs no read of it from the API server.
type secretVersions struct {
	mu sync.Mutex
	m  map[types.NamespacedName]writtenVersion
}

type writtenVersion struct{ resourceVersion, hash string }

func (v *secretVersions) wrote(key types.NamespacedName, resourceVersion, hash string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[types.NamespacedName]writtenVersion{}
	}
	v.m[key] = writtenVersion{resourceVersion, hash}
}

func (v *secretVersions) is(key types.NamespacedName, resourceVersion, hash string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	w, ok := v.m[key]
	return ok && resourceVersion != "" && w == writtenVersion{resourceVersion, hash}
}

func (v *secretVersions) known(key types.NamespacedName) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.m[key]
	return ok
}

// forget drops what is remembered of the users Secret of the server key.
func (v *secretVersions) forget(key types.NamespacedName) {
	v.mu.Lock()
	defer v.mu.Unlock()
	srv := &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	delete(v.m, types.NamespacedName{Namespace: key.Namespace, Name: render.UsersSecretName(srv)})
}

// upgradeCreatedFields hands the fields that the create of obj recorded for the operator's Update manager to its
// Apply manager, once, before the first apply: else the apply could not remove a field that the create set and we
// no longer render (a passive port after a re-allocation, a user's password). The cache holds no managed fields,
// so the object is read from the API server; this happens only when a child has to change.
func (r *FTPServerReconciler) upgradeCreatedFields(ctx context.Context, obj client.Object) error {
	live := obj.DeepCopyObject().(client.Object)
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return err
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(FieldOwner), FieldOwner)
	if err != nil || patch == nil {
		return err
	}
	return r.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch))
}

// applyConfiguration is obj as server-side apply sends it: no creation time, no status.
func applyConfiguration(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// contentHash is a short hash of an object's JSON (encoding/json sorts map keys, so it is stable).
func contentHash(obj map[string]any) string {
	b, _ := json.Marshal(obj)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// holds reports whether the live object carries every field of want with the same value: maps may hold more keys
// (defaults, other controllers' fields), lists must have the same length and hold their items in order. The type
// (apiVersion and kind) is not compared: a typed object read back carries none.
func holds(live client.Object, want map[string]any) bool {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return false
	}
	fields := maps.Clone(want)
	delete(fields, "apiVersion")
	delete(fields, "kind")
	return contains(m, fields)
}

func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, _ := have.(map[string]any)
		for k, v := range w {
			if !contains(h[k], v) {
				return false
			}
		}
		return true
	case []any:
		h, _ := have.([]any)
		if len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(have, want)
	}
}
