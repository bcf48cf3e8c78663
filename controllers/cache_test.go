package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// The manager caches only children with the operator's label (ScopeCache). A ServiceAccount of the engine
// identity's name without it is invisible to that cache, yet it must still be refused as not ours, and left as it
// was.
func TestUnlabelledForeignChildIsNotOwned(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.EngineIdentityName, Annotations: map[string]string{"keep": "me"}},
	})
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "foreign", nil))
	waitCondition(t, ns, "foreign", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonNotOwned)
	waitEvent(t, ns, "foreign", "NotOwned")
	sa := &corev1.ServiceAccount{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.EngineIdentityName}, sa); err != nil {
		t.Fatal(err)
	}
	if len(sa.OwnerReferences) != 0 || len(sa.Labels) != 0 || sa.Annotations["keep"] != "me" || len(sa.Annotations) != 1 {
		t.Fatalf("foreign ServiceAccount was changed: %+v", sa)
	}
}

// A child of ours whose label someone removed drops out of the cache; it is still ours (controller ownerRef),
// so the next pass applies over it and the label comes back, instead of calling it foreign.
func TestChildWithoutLabelIsRelabelled(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	create(t, newServer(t, ns, "relabel", nil))
	waitCondition(t, ns, "relabel", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	svc := getService(t, ns, "relabel")
	orig := svc.DeepCopy()
	delete(svc.Labels, render.ManagedByLabel)
	if err := k8s.Patch(context.Background(), svc, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	patchAnnotation(t, ns, "relabel", "poke", "1") // the Service's own events no longer reach us
	eventually(t, 20*time.Second, "label restored", func() (bool, error) {
		return getService(t, ns, "relabel").Labels[render.ManagedByLabel] == render.ManagedBy, nil
	})
	waitCondition(t, ns, "relabel", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
}

// A new leader (or a restarted operator) must not allocate before it has replayed every grant recorded in status:
// here 12 servers hold grants written by a previous operator at the bottom of a pool that has room for exactly
// 24 servers, and 12 new servers wait for ports when the operator starts. If a single allocation ran before the
// replay, a new server would take a range at the bottom of the pool and an old server would have to move.
func TestNoAllocationBeforeReplay(t *testing.T) {
	ns := newNamespace(t)
	const old, fresh, size = 12, 12, 4
	pool := portalloc.Range{Start: 31000, End: 31000 + (old+fresh)*size - 1}
	want := map[string]ftpv1.PortRange{}
	for i := range old {
		name := fmt.Sprintf("old%02d", i)
		create(t, newServer(t, ns, name, count(size)))
		srv := getServer(t, ns, name)
		g := ftpv1.PortRange{Start: pool.Start + int32(i*size), End: pool.Start + int32(i*size+size-1)}
		srv.Status.PassivePorts, srv.Status.PassivePortRange = &g, g.String()
		if err := k8s.Status().Update(context.Background(), srv); err != nil {
			t.Fatal(err)
		}
		want[name] = g
	}
	for i := range fresh {
		create(t, newServer(t, ns, fmt.Sprintf("new%02d", i), count(size)))
	}
	startOperator(t, ns, pool)
	for i := range fresh {
		waitGrant(t, ns, fmt.Sprintf("new%02d", i))
	}
	var list ftpv1.FTPServerList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		if g, ok := want[s.Name]; ok && (s.Status.PassivePorts == nil || *s.Status.PassivePorts != g) {
			t.Fatalf("%s held %s before the operator started and %v after", s.Name, g, s.Status.PassivePorts)
		}
	}
	assertDisjoint(t, list.Items)
}
