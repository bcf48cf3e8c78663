package controllers

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// ownWrites keeps the watch events that only echo the operator's own writes (the children a pass created or
// applied, the status it wrote) from starting another pass: the pass that wrote them already knew the result. A new
// server's first pass creates four children and writes its status; their echoes brought a second pass that found
// everything in place and read the server's Secrets from the API server once more.
//
// An echo can reach the informer before the write's answer reaches the pass, so while a write is on its way every
// event of that object is held back; when the answer comes, an event of another version than the one written (a
// change by someone else in between) wakes the server after all. An event of any other version starts a pass as
// before.
type ownWrites struct {
	mu       sync.Mutex
	inflight map[echoKey][]string // writes sent and not answered yet: the versions seen meanwhile
	last     map[echoKey]string   // the version of the last answered write, until its echo comes
	// wake is the controller's source of servers to reconcile (an event held back that was not an echo).
	wake chan event.GenericEvent
}

type echoKey struct {
	kind string
	key  types.NamespacedName
}

func newOwnWrites() *ownWrites {
	return &ownWrites{inflight: map[echoKey][]string{}, last: map[echoKey]string{}, wake: make(chan event.GenericEvent, 64)}
}

// sending says that the operator is about to write obj, of kind.
func (w *ownWrites) sending(kind string, obj client.Object) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight[echoKey{kind, client.ObjectKeyFromObject(obj)}] = []string{}
}

// answered says that the write of obj, of kind, sent for owner, came back: obj holds the API server's answer when
// ok, and nothing of it was written otherwise.
func (w *ownWrites) answered(kind string, obj client.Object, owner types.NamespacedName, ok bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	k := echoKey{kind, client.ObjectKeyFromObject(obj)}
	seen := w.inflight[k]
	delete(w.inflight, k)
	rv := ""
	if ok {
		rv = obj.GetResourceVersion()
	}
	echoed, other := false, false
	for _, v := range seen {
		if v == rv {
			echoed = true
		} else {
			other = true
		}
	}
	if rv != "" && !echoed {
		w.last[k] = rv
	}
	w.mu.Unlock()
	if other {
		go func() { // never blocks the pass; the controller drains the channel
			w.wake <- event.GenericEvent{Object: &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: owner.Namespace, Name: owner.Name}}}
		}()
	}
}

// echo reports whether an event of obj, of kind, is to be held back: a write of it is on its way, or obj is the
// version the operator last wrote (forgotten then: a write echoes once).
func (w *ownWrites) echo(kind string, obj client.Object) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := echoKey{kind, client.ObjectKeyFromObject(obj)}
	if seen, sending := w.inflight[k]; sending {
		w.inflight[k] = append(seen, obj.GetResourceVersion())
		return true
	}
	if rv, ok := w.last[k]; ok && rv == obj.GetResourceVersion() {
		delete(w.last, k)
		return true
	}
	return false
}

func (w *ownWrites) forget(kind string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, echoKey{kind, client.ObjectKeyFromObject(obj)})
}

// notEcho lets every event of kind through but the creations and updates that echo the operator's own writes.
func (w *ownWrites) notEcho(kind string) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !w.echo(kind, e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !w.echo(kind, e.ObjectNew) },
		DeleteFunc: func(e event.DeleteEvent) bool {
			w.forget(kind, e.Object)
			return true
		},
		GenericFunc: func(event.GenericEvent) bool { return true },
	}
}
