package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// A NotOwned server waits for a person: the object that holds the name of one of its children was not made by the
// operator, and only deleting it (a rename is a delete), handing it over (a controller owner reference to the
// server) or, for a claim, labelling it ftpoperator.io/claim-of=<server> lets the server go on. That object is
// usually not in the manager's cache, which holds only the operator's labelled children (ScopeCache), so no Owns()
// watch sees it go.
//
// blockerWatches watches exactly those objects: for each NotOwned server, one metadata-only informer on the
// blocking object's kind, in its namespace, with the field selector metadata.name=<name>. It caches that one
// object's metadata, never the kind's other objects, and costs the API server one watch per blocked server; it is
// stopped as soon as a pass of the server ends anything but NotOwned, or the server is deleted. A change of the
// object's owner references, labels or deletion, its deletion, or a new object of that name wakes the server.
//
// At most maxBlockerWatches run at once. A server beyond that, or whose watch cannot start, returns an ordinary
// error instead of a terminal one: controller-runtime retries it with exponential backoff (5 ms doubling, capped
// at about 16 minutes).
type blockerWatches struct {
	client metadata.Interface
	mapper meta.RESTMapper
	// ctx lives as long as the manager (stopWhenDone cancels it); every watch runs under it.
	ctx    context.Context
	cancel context.CancelFunc
	// wake is the controller's source of the servers to reconcile.
	wake chan event.GenericEvent

	mu      sync.Mutex
	watches map[types.NamespacedName]*blockerWatch // by server
	limit   int                                    // maxBlockerWatches
}

// maxBlockerWatches bounds the watches of blocking objects that run at once (one per NotOwned server).
const maxBlockerWatches = 64

// blocker is the object that holds a child's name: its kind, namespace and name.
type blocker struct {
	gvk             schema.GroupVersionKind
	namespace, name string
}

type blockerWatch struct {
	target blocker
	cancel context.CancelFunc
}

func newBlockerWatches(cfg *rest.Config, httpClient *http.Client, mapper meta.RESTMapper) (*blockerWatches, error) {
	mc, err := metadata.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &blockerWatches{client: mc, mapper: mapper, ctx: ctx, cancel: cancel,
		wake: make(chan event.GenericEvent, 16), watches: map[types.NamespacedName]*blockerWatch{}, limit: maxBlockerWatches}, nil
}

// Start is a manager Runnable: it stops every watch when the manager stops.
func (b *blockerWatches) Start(ctx context.Context) error {
	<-ctx.Done()
	b.cancel()
	return nil
}

// NeedLeaderElection is false: Start only waits for the end; the watches are started by reconciles, which run
// only on the leader.
func (b *blockerWatches) NeedLeaderElection() bool { return false }

// watch makes sure that server is woken when target changes or goes. It is idempotent for the same target and
// replaces the watch of another one.
func (b *blockerWatches) watch(ctx context.Context, server types.NamespacedName, target blocker) error {
	if b == nil {
		return errors.New("no watches of blocking objects: the reconciler was not set up with a manager")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.watches[server]; ok {
		if w.target == target {
			return nil
		}
		w.cancel()
		delete(b.watches, server)
	}
	if len(b.watches) >= b.limit {
		return fmt.Errorf("already watching %d objects that block FTPServers", len(b.watches))
	}
	mapping, err := b.mapper.RESTMapping(target.gvk.GroupKind(), target.gvk.Version)
	if err != nil {
		return fmt.Errorf("mapping %s: %w", target.gvk, err)
	}
	wctx, cancel := context.WithCancel(b.ctx)
	inf := metadatainformer.NewFilteredMetadataInformer(b.client, mapping.Resource, target.namespace, 0, nil,
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", target.name).String()
		}).Informer()
	_ = inf.SetTransform(func(in any) (any, error) {
		if o, ok := in.(metav1.Object); ok {
			o.SetManagedFields(nil)
		}
		return in, nil
	})
	wake := func() { b.wakeServer(wctx, server) }
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(_ any, initial bool) {
			if !initial { // the pass that started the watch saw the object already; a new one may be someone else's
				wake()
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if ownershipChanged(oldObj, newObj) {
				wake()
			}
		},
		DeleteFunc: func(any) { wake() },
	}); err != nil {
		cancel()
		return fmt.Errorf("watching %s %s: %w", target.gvk.Kind, target.name, err)
	}
	go inf.RunWithContext(wctx)
	go func() {
		// Gone between the pass's read and the watch's first list: no event will come, so wake the server now.
		if toolscache.WaitForCacheSync(wctx.Done(), inf.HasSynced) && len(inf.GetStore().ListKeys()) == 0 {
			wake()
		}
	}()
	b.watches[server] = &blockerWatch{target: target, cancel: cancel}
	log.FromContext(ctx).V(1).Info("watching the object that blocks the server", "kind", target.gvk.Kind, "name", target.name)
	return nil
}

// forget stops the watch of server's blocking object, if there is one.
func (b *blockerWatches) forget(server types.NamespacedName) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.watches[server]; ok {
		w.cancel()
		delete(b.watches, server)
	}
}

func (b *blockerWatches) wakeServer(ctx context.Context, server types.NamespacedName) {
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: server.Namespace, Name: server.Name}}
	select {
	case b.wake <- event.GenericEvent{Object: obj}:
	case <-ctx.Done():
	}
}

// ownershipChanged reports whether an update of a blocking object can decide whether it is still in the way:
// its owner references, labels or deletion. Its status and spec cannot.
func ownershipChanged(oldObj, newObj any) bool {
	o, err1 := meta.Accessor(oldObj)
	n, err2 := meta.Accessor(newObj)
	if err1 != nil || err2 != nil {
		return true
	}
	return !equality.Semantic.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences()) ||
		!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		!equality.Semantic.DeepEqual(o.GetDeletionTimestamp(), n.GetDeletionTimestamp())
}
