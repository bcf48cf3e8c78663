package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// wakeBound is how long a NotOwned server may take to go on after the object in its way is deleted or handed over:
// far below the manager's resync (10 hours), which was the only thing that brought it back before.
const wakeBound = 5 * time.Second

// A NotOwned server waits for a person. When that person deletes the object in the way (an unlabelled object, so
// not in the manager's cache), hands it over, or labels a claim as the server's, the server goes on at once.
func TestNotOwnedServerWakesWhenTheBlockerGoes(t *testing.T) {
	claimSpec := corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}
	for _, tt := range []struct {
		name      string
		mut       func(*ftpv1.FTPServer)
		blocker   client.Object // named after the server "blocked"
		condition string
		// unblock is what the person does; srv is the server as it is then.
		unblock func(t *testing.T, srv *ftpv1.FTPServer, obj client.Object)
		// done reports whether the server went on.
		done func(t *testing.T, ns string) (bool, error)
	}{{
		name:      "Service deleted",
		blocker:   &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "blocked"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		condition: ftpv1.ConditionServiceReady,
		unblock: func(t *testing.T, _ *ftpv1.FTPServer, obj client.Object) {
			if err := k8s.Delete(context.Background(), obj); err != nil {
				t.Fatal(err)
			}
		},
		done: func(t *testing.T, ns string) (bool, error) {
			srv := getServer(t, ns, "blocked")
			c := findCondition(srv, ftpv1.ConditionServiceReady)
			svc := &corev1.Service{}
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "blocked"}, svc); err != nil {
				return false, err
			}
			return c.Status == metav1.ConditionTrue && metav1.IsControlledBy(svc, srv), fmt.Errorf("ServiceReady %s %s", c.Status, c.Reason)
		},
	}, {
		// The namespace's engine identity has no owner: it is handed over with its labels.
		name:      "engine ServiceAccount handed over",
		blocker:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: render.EngineIdentityName}},
		condition: ftpv1.ConditionWorkloadReady,
		unblock: func(t *testing.T, _ *ftpv1.FTPServer, obj client.Object) {
			orig := obj.DeepCopyObject().(client.Object)
			obj.SetLabels(map[string]string{render.ManagedByLabel: render.ManagedBy, render.ComponentLabel: render.EngineIdentityComponent})
			if err := k8s.Patch(context.Background(), obj, client.MergeFrom(orig)); err != nil {
				t.Fatal(err)
			}
		},
		done: func(t *testing.T, ns string) (bool, error) { return workloadGoesOn(t, ns, "blocked") },
	}, {
		name:      "claim labelled as the server's",
		mut:       withClaim(ftpv1.ClaimRetain),
		blocker:   &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "blocked-data"}, Spec: claimSpec},
		condition: ftpv1.ConditionWorkloadReady,
		unblock: func(t *testing.T, srv *ftpv1.FTPServer, obj client.Object) {
			orig := obj.DeepCopyObject().(client.Object)
			obj.SetLabels(map[string]string{render.ClaimLabel: srv.Name})
			if err := k8s.Patch(context.Background(), obj, client.MergeFrom(orig)); err != nil {
				t.Fatal(err)
			}
		},
		done: func(t *testing.T, ns string) (bool, error) { return workloadGoesOn(t, ns, "blocked") },
	}} {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			tt.blocker.SetNamespace(ns)
			create(t, tt.blocker)
			op := startOperator(t, ns, bigPool)
			create(t, newServer(t, ns, "blocked", func(s *ftpv1.FTPServer) {
				s.Spec.Service.Type = corev1.ServiceTypeClusterIP // node ports are the whole envtest's; leave them to the tests of them
				if tt.mut != nil {
					tt.mut(s)
				}
			}))
			srv := waitCondition(t, ns, "blocked", tt.condition, metav1.ConditionFalse, ftpv1.ReasonNotOwned)
			waitEvent(t, ns, "blocked", "NotOwned")
			// Let the passes that the server's first children started run out, so that only the blocker's
			// change can bring the server back.
			time.Sleep(time.Second)
			if c := findCondition(getServer(t, ns, "blocked"), tt.condition); c.Reason != ftpv1.ReasonNotOwned {
				t.Fatalf("%s left NotOwned by itself: %+v", tt.condition, c)
			}
			waitBlockerWatch(t, op, ns, "blocked", true)

			start := time.Now()
			tt.unblock(t, srv, tt.blocker)
			eventually(t, wakeBound, "the server to go on", func() (bool, error) { return tt.done(t, ns) })
			t.Logf("the server went on %s after the blocker changed", time.Since(start).Round(time.Millisecond))
			waitBlockerWatch(t, op, ns, "blocked", false)
		})
	}
}

// workloadGoesOn reports whether WorkloadReady of the server left NotOwned: it waits for its pod then, which never
// comes in envtest.
func workloadGoesOn(t *testing.T, ns, server string) (bool, error) {
	c := findCondition(getServer(t, ns, server), ftpv1.ConditionWorkloadReady)
	return c.Reason == ftpv1.ReasonProgressing, fmt.Errorf("WorkloadReady %s %s", c.Status, c.Reason)
}

// A ConfigMap in the way is announced like any other child's; the watch of it ends with its server.
func TestBlockerWatchEndsWithTheServer(t *testing.T) {
	ns := newNamespace(t)
	srv := newServer(t, ns, "gone", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP })
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ConfigMapName(srv)}})
	op := startOperator(t, ns, bigPool)
	create(t, srv)
	waitCondition(t, ns, "gone", ftpv1.ConditionAddress, metav1.ConditionFalse, ftpv1.ReasonNotOwned)
	waitEvent(t, ns, "gone", "NotOwned") // announced like the other children's
	waitBlockerWatch(t, op, ns, "gone", true)
	if err := k8s.Delete(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	waitBlockerWatch(t, op, ns, "gone", false)
}

// Beyond the limit of watches, a NotOwned server is retried with backoff: it still goes on, later.
func TestNotOwnedServerBeyondTheWatchLimitIsRetried(t *testing.T) {
	ns := newNamespace(t)
	create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.EngineIdentityName}})
	op := startOperator(t, ns, bigPool)
	op.rec.blockers.mu.Lock()
	op.rec.blockers.limit = 0
	op.rec.blockers.mu.Unlock()
	create(t, newServer(t, ns, "many", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }))
	waitCondition(t, ns, "many", ftpv1.ConditionWorkloadReady, metav1.ConditionFalse, ftpv1.ReasonNotOwned)
	time.Sleep(time.Second) // the backoff has grown to about a second
	waitBlockerWatch(t, op, ns, "many", false)
	if err := k8s.Delete(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.EngineIdentityName}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 10*time.Second, "the server to go on", func() (bool, error) { return workloadGoesOn(t, ns, "many") })
	t.Logf("without a watch the server went on %s after the blocker was deleted", time.Since(start).Round(time.Millisecond))
}

// waitBlockerWatch waits until the operator watches an object in the way of server (want) or no longer does.
func waitBlockerWatch(t *testing.T, op *operator, ns, server string, want bool) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("a watch of the object in %s's way: %v", server, want), func() (bool, error) {
		b := op.rec.blockers
		b.mu.Lock()
		defer b.mu.Unlock()
		_, watching := b.watches[types.NamespacedName{Namespace: ns, Name: server}]
		return watching == want, nil
	})
}
