package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// reconcileEngineIdentity keeps the engine identity of srv's namespace (render.EngineServiceAccount, EngineRole,
// EngineRoleBinding): one for all the namespace's servers, so a new server costs at most one write of the Role
// (its ConfigMaps' names added), not three objects of its own. The Role names the ConfigMaps of every FTPServer of
// the namespace that the cache holds (engineConfigMaps); writes are serialised, so a Role rendered from an older view of the
// namespace never overwrites a newer one (the cache only grows between two reads, but for deletions, which the
// next pass prunes).
func (r *FTPServerReconciler) reconcileEngineIdentity(ctx context.Context, srv *ftpv1.FTPServer) error {
	r.identityMu.Lock()
	defer r.identityMu.Unlock()
	names, health, err := r.engineConfigMaps(ctx, srv.Namespace)
	if err != nil {
		return err
	}
	// The cache has srv, and srv's pass has just applied its health ConfigMap (which the cache may not hold yet):
	// a belt for the braces.
	names = addName(names, render.ConfigMapName(srv))
	if render.HasStorageHealth(srv) {
		health = addName(health, render.HealthConfigMapName(srv))
	}
	role := render.EngineRole(srv.Namespace, names, health)
	pods, err := r.relayPods(ctx, srv)
	if err != nil {
		return err
	}
	role.Rules = append(role.Rules, render.EnginePeerRules(pods)...)
	for _, o := range []client.Object{render.EngineServiceAccount(srv.Namespace), role, render.EngineRoleBinding(srv.Namespace)} {
		if err := r.applyChild(ctx, srv, o, false); err != nil {
			return err
		}
	}
	return nil
}

func addName(names []string, name string) []string {
	if slices.Contains(names, name) {
		return names
	}
	names = append(names, name)
	slices.Sort(names)
	return names
}

// addressConfigMaps are the names of the address ConfigMaps of the FTPServers of namespace that are not being
// deleted, sorted.
func (r *FTPServerReconciler) addressConfigMaps(ctx context.Context, namespace string) ([]string, error) {
	names, _, err := r.engineConfigMaps(ctx, namespace)
	return names, err
}

// engineConfigMaps are the names of the address ConfigMaps of the FTPServers of namespace that are not being
// deleted, and of the health ConfigMaps among them that exist and are the operator's (controlled by their server,
// in the cache): the engine may patch a health ConfigMap, so the Role must never name an object of that name that
// someone else made. Both sorted.
func (r *FTPServerReconciler) engineConfigMaps(ctx context.Context, namespace string) (names, health []string, err error) {
	var list ftpv1.FTPServerList
	if err := r.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing the FTPServers of namespace %s: %w", namespace, err)
	}
	names = make([]string, 0, len(list.Items))
	for i := range list.Items {
		srv := &list.Items[i]
		if !srv.DeletionTimestamp.IsZero() {
			continue
		}
		names = append(names, render.ConfigMapName(srv))
		if !render.HasStorageHealth(srv) {
			continue
		}
		cm := &corev1.ConfigMap{}
		err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: render.HealthConfigMapName(srv)}, cm)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("reading ConfigMap %s: %w", render.HealthConfigMapName(srv), err)
		}
		if err == nil && metav1.IsControlledBy(cm, srv) {
			health = append(health, cm.Name)
		}
	}
	slices.Sort(names)
	slices.Sort(health)
	return names, health, nil
}

// leaveNamespace undoes what the operator keeps per namespace once its last FTPServer is gone: the watch of its
// Secrets stops, and the engine identity is deleted, as it has no owner that Kubernetes could collect it with. A
// server created meanwhile starts and creates them again in its first pass.
func (r *FTPServerReconciler) leaveNamespace(ctx context.Context, namespace string) error {
	r.identityMu.Lock()
	defer r.identityMu.Unlock()
	names, err := r.addressConfigMaps(ctx, namespace)
	if err != nil || len(names) > 0 {
		return err
	}
	r.secretWatches.stopIf(namespace, func() bool {
		names, err := r.addressConfigMaps(ctx, namespace)
		return err == nil && len(names) == 0
	})
	key := types.NamespacedName{Namespace: namespace, Name: render.EngineIdentityName}
	for _, o := range []client.Object{&rbacv1.RoleBinding{}, &rbacv1.Role{}, &corev1.ServiceAccount{}} {
		// The cache holds only objects with our label: what it has of that name is ours.
		if err := r.Get(ctx, key, o); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		err := r.Delete(ctx, o, client.Preconditions{UID: ptr.To(o.GetUID())})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the engine identity's %T of namespace %s: %w", o, namespace, err)
		}
	}
	log.FromContext(ctx).Info("deleted the engine identity of a namespace without FTPServers", "namespace", namespace)
	return nil
}

// serverOfIdentity wakes one FTPServer of the namespace when an object of its engine identity is deleted, so that
// it is made again at once (a change to it is set right by the next pass of any server of the namespace).
func (r *FTPServerReconciler) serverOfIdentity(ctx context.Context, o client.Object) []reconcile.Request {
	if !render.IsEngineIdentity(o) {
		return nil
	}
	var list ftpv1.FTPServerList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil || len(list.Items) == 0 {
		return nil
	}
	return requests(list.Items[:1])
}

// engineIdentityOf reports whether obj is an engine identity object the operator made: with its labels, or with
// the hash annotation only the operator writes (someone removed a label, which the next apply restores).
func engineIdentityOf(obj client.Object) bool {
	return render.IsEngineIdentity(obj) || (obj.GetName() == render.EngineIdentityName && obj.GetAnnotations()[AppliedHashAnnotation] != "")
}
