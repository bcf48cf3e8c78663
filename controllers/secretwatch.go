package controllers

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"
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
}

func newSecretWatches(client metadata.Interface) *secretWatches {
	return &secretWatches{client: client, events: make(chan event.GenericEvent, 64), stops: map[string]context.CancelFunc{}}
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
	_ = informer.SetTransform(slimTransform) // namespace and name are all that serversOfSecret maps by
	send := func(obj any) {
		if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if o, ok := obj.(*metav1.PartialObjectMetadata); ok {
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
	}
	return nil
}
