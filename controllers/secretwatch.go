package controllers

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

var secretsResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// secretWatches watches the Secrets of the namespaces that hold FTPServers, metadata only, one watch per such
// namespace, and sends each change as an event that wakes the servers referencing the Secret (serversOfSecret).
// The Secrets of namespaces without FTPServers are never listed, so the operator's memory does not grow with
// them; a namespace's watch starts with the first pass of its first server and stops when its last server goes.
type secretWatches struct {
	client metadata.Interface
	events chan event.GenericEvent

	mu    sync.Mutex
	stops map[string]context.CancelFunc
	// stores are the watches' caches of Secret metadata, by namespace: the resource version each Secret is at.
	stores map[string]toolscache.Store
	// read holds small referenced Secrets as a pass last read them (remember), at that resource version. A pass
	// takes one from here instead of reading it again while the watch shows the Secret at that version (current):
	// a thousand servers naming one password Secret read it once, not two or three times each (issue 14). An entry
	// goes when the watch sees the Secret change or go, and with its namespace's watch.
	read map[types.NamespacedName]*corev1.Secret
}

// rememberedSecretBytes bounds the data of a Secret that secretWatches holds: password and TLS Secrets fit, a list
// of thousands of users (usersFrom, up to 1 MiB) is read from the API server each time instead.
const rememberedSecretBytes = 8 << 10

func newSecretWatches(client metadata.Interface) *secretWatches {
	return &secretWatches{client: client, events: make(chan event.GenericEvent, 64), stops: map[string]context.CancelFunc{},
		stores: map[string]toolscache.Store{}, read: map[types.NamespacedName]*corev1.Secret{}}
}

// current returns a copy of the Secret key as a pass last read it, if the namespace's watch has listed and shows
// the Secret still at the version that was read; nil otherwise (then the Secret is read from the API server).
func (w *secretWatches) current(key types.NamespacedName) *corev1.Secret {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, store := w.read[key], w.stores[key.Namespace]
	if s == nil || store == nil {
		return nil
	}
	obj, exists, err := store.GetByKey(key.String())
	if m, ok := obj.(*metav1.PartialObjectMetadata); !exists || err != nil || !ok || m.ResourceVersion != s.ResourceVersion {
		return nil
	}
	return s.DeepCopy()
}

// remember keeps s, just read from the API server, for current, if its namespace is watched and its data is small.
func (w *secretWatches) remember(s *corev1.Secret) {
	size := 0
	for k, v := range s.Data {
		size += len(k) + len(v)
	}
	if size > rememberedSecretBytes {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, watched := w.stores[s.Namespace]; watched {
		w.read[client.ObjectKeyFromObject(s)] = s.DeepCopy()
	}
}

// forgetRead drops what remember holds for the Secret key.
func (w *secretWatches) forgetRead(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.read, key)
}

// ensure starts the watch of namespace unless it runs. Its first list sends every Secret of the namespace, so a
// Secret created between a server's first read and the start of the watch still wakes the server.
func (w *secretWatches) ensure(namespace string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, running := w.stops[namespace]; running {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stops[namespace] = cancel
	informer := metadatainformer.NewFilteredMetadataInformer(w.client, secretsResource, namespace, 0, toolscache.Indexers{}, nil).Informer()
	_ = informer.SetTransform(slimTransform) // namespace, name and resource version are all that is used
	w.stores[namespace] = informer.GetStore()
	send := func(obj any) {
		if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if o, ok := obj.(*metav1.PartialObjectMetadata); ok {
			w.forgetRead(client.ObjectKeyFromObject(o))
			select {
			case w.events <- event.GenericEvent{Object: o}:
			case <-ctx.Done():
			}
		}
	}
	_, _ = informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    send,
		UpdateFunc: func(_, obj any) { send(obj) },
		DeleteFunc: send,
	})
	go informer.RunWithContext(ctx)
}

// stopIf ends the watch of namespace if it runs and idle, asked under the lock that ensure takes, says the
// namespace needs it no more: a server whose first pass started the watch meanwhile is seen by idle.
func (w *secretWatches) stopIf(namespace string, idle func() bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cancel, running := w.stops[namespace]; running && idle() {
		cancel()
		delete(w.stops, namespace)
		delete(w.stores, namespace)
		for k := range w.read {
			if k.Namespace == namespace {
				delete(w.read, k)
			}
		}
	}
}

// Start implements manager.Runnable: it ends every watch when the manager stops.
func (w *secretWatches) Start(ctx context.Context) error {
	<-ctx.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns, cancel := range w.stops {
		cancel()
		delete(w.stops, ns)
		delete(w.stores, ns)
	}
	clear(w.read)
	return nil
}
