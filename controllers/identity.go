package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
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
// the namespace that the cache holds (engineConfigMaps); writes are serialised, so a Role rendered from an older view
// of the namespace never overwrites a newer one (the cache only grows between two reads, but for deletions, which
// pruneEngineIdentity handles).
//
// Most passes need none of that: when the Role the operator last wrote already names srv's ConfigMaps and the cached
// identity objects are versions the operator wrote (identityInPlace), nothing is listed and nothing written.
func (r *FTPServerReconciler) reconcileEngineIdentity(ctx context.Context, srv *ftpv1.FTPServer) error {
	if r.identityInPlace(ctx, srv) {
		return nil
	}
	r.identityMu.Lock()
	defer r.identityMu.Unlock()
	return r.syncEngineIdentity(ctx, srv.Namespace, srv)
}

// syncEngineIdentity writes what of the engine identity of namespace differs from what it renders from the cache
// (with srv's own ConfigMaps, when srv is not nil), and remembers what it wrote. The caller holds identityMu.
func (r *FTPServerReconciler) syncEngineIdentity(ctx context.Context, namespace string, srv *ftpv1.FTPServer) error {
	names, health, err := r.engineConfigMaps(ctx, namespace)
	if err != nil {
		return err
	}
	owner := srv
	if srv != nil {
		// The cache has srv, and srv's pass has just applied its health ConfigMap (which the cache may not hold
		// yet): a belt for the braces.
		names = addName(names, render.ConfigMapName(srv))
		if render.HasStorageHealth(srv) {
			health = addName(health, render.HealthConfigMapName(srv))
		}
	} else {
		// No controller reference is set on the identity: the owner only takes part in the ownership check, which
		// the identity passes by its labels (engineIdentityOf).
		owner = &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: namespace}}
	}
	role := render.EngineRole(namespace, names, health)
	pods, podsOf, err := r.relayPods(ctx, owner)
	if err != nil {
		return err
	}
	role.Rules = append(role.Rules, render.EnginePeerRules(pods)...)
	objs := []client.Object{render.EngineServiceAccount(namespace), role, render.EngineRoleBinding(namespace)}
	for _, o := range objs {
		if err := r.applyChild(ctx, owner, o, false); err != nil {
			r.identities.forget(namespace)
			return err
		}
	}
	r.identities.wrote(namespace, names, health, podsOf, objs)
	return nil
}

// pruneEngineIdentity takes the ConfigMaps of servers that are gone out of the Role of namespace, when the Role the
// operator last wrote still names one. It runs when a server of the namespace is deleted and others remain.
func (r *FTPServerReconciler) pruneEngineIdentity(ctx context.Context, namespace string, names, health []string) error {
	if !r.identities.stale(namespace, names, health) {
		return nil
	}
	if err := r.syncEngineIdentity(ctx, namespace, nil); err != nil {
		var notOwned *notOwnedError
		if errors.As(err, &notOwned) {
			return nil // the servers of the namespace report it; a deleted server has nothing to wait for
		}
		return fmt.Errorf("taking a deleted FTPServer out of the engine Role of namespace %s: %w", namespace, err)
	}
	return nil
}

// identityInPlace reports whether the engine identity of srv's namespace needs nothing from srv's pass: the Role
// the operator last wrote names srv's ConfigMaps, and each of the three objects is in the cache at a version the
// operator wrote or found in place. An object deleted, edited by someone else, or never written by this process
// (a restart) fails it, and the pass syncs the identity.
func (r *FTPServerReconciler) identityInPlace(ctx context.Context, srv *ftpv1.FTPServer) bool {
	ns := srv.Namespace
	if !r.identities.holds(ns, render.ConfigMapName(srv)) {
		return false
	}
	if render.HasStorageHealth(srv) && !r.identities.holdsHealth(ns, render.HealthConfigMapName(srv)) {
		return false
	}
	if !r.identities.holdsPods(ns, srv.Name, render.RelayPods(srv)) {
		return false
	}
	key := types.NamespacedName{Namespace: ns, Name: render.EngineIdentityName}
	for _, o := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		if err := r.Get(ctx, key, o); err != nil || !r.identities.written(ns, o) {
			return false
		}
	}
	return true
}

// identityMemo remembers, per namespace, what the operator last wrote (or found in place) of the engine identity:
// the ConfigMap names its Role then held and the resource versions of the three objects. It saves each pass the list
// of the namespace's FTPServers that rendering the Role takes, under identityMu: at 1,000 servers that list, and
// the copies it made, was the largest part of the operator's time for a burst of new servers (docs/benchmarks.md).
type identityMemo struct {
	mu sync.Mutex
	ns map[string]*identityState
}

type identityState struct {
	// names and health are the ConfigMaps the Role names; podsOf the relaying pods it lets the engines read, by
	// server.
	names, health sets.Set[string]
	podsOf        map[string][]string
	// versions are the resource versions that the operator wrote or found in place, by kind, the newest last: a
	// cache that lags a write still shows one of them.
	versions map[string][]string
}

// keptVersions bounds identityState.versions per kind.
const keptVersions = 8

func (m *identityMemo) wrote(namespace string, names, health []string, podsOf map[string][]string, objs []client.Object) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ns == nil {
		m.ns = map[string]*identityState{}
	}
	st := m.ns[namespace]
	if st == nil {
		st = &identityState{versions: map[string][]string{}}
		m.ns[namespace] = st
	}
	st.names, st.health, st.podsOf = sets.New(names...), sets.New(health...), podsOf
	for _, o := range objs {
		kind, rv := fmt.Sprintf("%T", o), o.GetResourceVersion()
		if v := st.versions[kind]; !slices.Contains(v, rv) {
			st.versions[kind] = append(v[max(0, len(v)-keptVersions+1):], rv)
		}
	}
}

func (m *identityMemo) forget(namespace string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ns, namespace)
}

func (m *identityMemo) holds(namespace, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.ns[namespace]
	return st != nil && st.names.Has(name)
}

func (m *identityMemo) holdsHealth(namespace, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.ns[namespace]
	return st != nil && st.health.Has(name)
}

// holdsPods reports whether the Role last written for namespace lets the engines read exactly pods (RelayPods) of
// the server named server: a server that stops relaying, or runs fewer pods, must take them out.
func (m *identityMemo) holdsPods(namespace, server string, pods []string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.ns[namespace]
	return st != nil && slices.Equal(st.podsOf[server], pods)
}

// stale reports whether the Role last written for namespace names a ConfigMap that is not among names and health
// (the namespace's servers now), or whether nothing is remembered (a restarted operator): then it should be synced.
func (m *identityMemo) stale(namespace string, names, health []string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.ns[namespace]
	if st == nil {
		return true
	}
	return !sets.New(names...).IsSuperset(st.names) || !sets.New(health...).IsSuperset(st.health)
}

func (m *identityMemo) written(namespace string, o client.Object) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.ns[namespace]
	return st != nil && slices.Contains(st.versions[fmt.Sprintf("%T", o)], o.GetResourceVersion())
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
	// Read only, so the cache's own objects are listed, not copies of them.
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
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

// leaveNamespace runs when a server of namespace is gone. While others remain, the engine Role stops naming the
// gone server's ConfigMaps. Once the last one is gone, it undoes what the operator keeps per namespace: the watch of
// its Secrets stops, and the engine identity is deleted, as it has no owner that Kubernetes could collect it with. A
// server created meanwhile starts and creates them again in its first pass.
func (r *FTPServerReconciler) leaveNamespace(ctx context.Context, namespace string) error {
	r.identityMu.Lock()
	defer r.identityMu.Unlock()
	names, health, err := r.engineConfigMaps(ctx, namespace)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return r.pruneEngineIdentity(ctx, namespace, names, health)
	}
	r.identities.forget(namespace)
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
