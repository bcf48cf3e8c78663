package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ftp-operator/ftp-operator/internal/render"
)

// ownedKinds are the kinds of the children of an FTPServer. The manager caches them only with render's
// managed-by label.
func ownedKinds() []client.Object {
	return append([]client.Object{&corev1.Service{}, &appsv1.Deployment{}, &corev1.ConfigMap{}, &corev1.ServiceAccount{},
		&rbacv1.Role{}, &rbacv1.RoleBinding{}, &corev1.PersistentVolumeClaim{}, &corev1.Secret{}}, replicaKinds...)
}

// ScopeCache narrows what the manager keeps in memory to what the operator owns, so that its memory does not grow
// with the cluster's other objects:
//   - the children's kinds are listed and watched with the label selector app.kubernetes.io/managed-by=ftp-operator
//     (render puts it on every child; a same-named object without it is found by apply through the APIReader, so
//     it is still refused as not ours);
//   - the servers' pods are cached typed (their status says why they do not run), with the same selector, which
//     render puts on the Deployment's pod template: never every pod of the cluster;
//   - the EndpointSlices of the servers' Services, with the same selector (the EndpointSlice controller copies a
//     Service's labels to its slices), to count a pod of a server with several replicas ready only once its
//     Services route to it (endpoints.go);
//   - Secrets are children too (the users Secret), cached as metadata only (the controller owns them with
//     builder.OnlyMetadata) and with the label; a typed read of a Secret goes to the API server, never into a cache
//     of every Secret's data. The Secrets that servers reference are watched apart, only in the namespaces that
//     hold FTPServers (secretWatches);
//   - managed fields are stripped from everything cached, and metadata-only objects (the Secrets) keep just what
//     the Secret watches map by: namespace and name (plus uid and resourceVersion, which the informer needs).
//
// It keeps o's other cache settings (such as DefaultNamespaces in the tests).
func ScopeCache(o ctrl.Options) ctrl.Options {
	selector := labels.SelectorFromSet(labels.Set{render.ManagedByLabel: render.ManagedBy})
	if o.Cache.ByObject == nil {
		o.Cache.ByObject = map[client.Object]cache.ByObject{}
	}
	for _, obj := range ownedKinds() {
		o.Cache.ByObject[obj] = cache.ByObject{Label: selector}
	}
	// The servers' pods carry the label through the Deployment's pod template; no other pod is cached.
	o.Cache.ByObject[&corev1.Pod{}] = cache.ByObject{Label: selector}
	// The EndpointSlices of the servers' Services: the EndpointSlice controller copies a Service's labels to its
	// slices, so the same selector keeps exactly those (endpoints.go).
	o.Cache.ByObject[&discoveryv1.EndpointSlice{}] = cache.ByObject{Label: selector}
	if o.Cache.DefaultTransform == nil {
		o.Cache.DefaultTransform = slimTransform
	}
	if o.Client.Cache == nil {
		o.Client.Cache = &client.CacheOptions{}
	}
	o.Client.Cache.DisableFor = append(o.Client.Cache.DisableFor, &corev1.Secret{})
	return o
}

// slimTransform strips managed fields from every cached object and reduces a metadata-only object to its
// identity: the operator watches only Secrets that way, and needs no more than their name to wake their servers.
// Labels and annotations (kubectl's last-applied configuration, Helm's release labels) are dropped with it.
func slimTransform(in any) (any, error) {
	switch o := in.(type) {
	case *metav1.PartialObjectMetadata:
		// Owner references stay: the users Secret is an owned child (Owns with OnlyMetadata maps it to its server).
		o.ObjectMeta = metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name, UID: o.UID,
			ResourceVersion: o.ResourceVersion, DeletionTimestamp: o.DeletionTimestamp, OwnerReferences: o.OwnerReferences}
	case metav1.Object:
		o.SetManagedFields(nil)
	}
	return in, nil
}
