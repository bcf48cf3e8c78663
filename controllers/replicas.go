package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// Several replicas (issue 11, docs/high-availability.md). One replica keeps its Deployment, so that existing
// servers see no change; more than one run in a StatefulSet with a PodDisruptionBudget, and the passive ports go
// from the control Service to one Service per pod (SharedAddress routing). Scaling from one replica to several,
// or back, applies the new workload and then deletes the old one (only the operator's own objects): the grant,
// the control Service (so its address) and the claim stay.

// prunePodServices deletes the Services of the pods of ordinals the server no longer runs (all of them with one
// replica). It runs before the control Service is applied: back at one replica, the control Service takes the
// passive ports again, and the load balancer would move it to another address while the pods' Services still
// held those ports on its own.
func (r *FTPServerReconciler) prunePodServices(ctx context.Context, p *pass) error {
	srv := p.srv
	n := podServices(srv)
	for i := n; i < ftpv1.MaxReplicas; i++ {
		if err := r.deleteChild(ctx, srv, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: srv.Namespace, Name: render.PodServiceName(srv, i)}}); err != nil {
			return err
		}
	}
	return nil
}

// podServices is the number of pods' Services of srv: one per pod with several replicas and SharedAddress routing,
// none with one replica or with Relay routing (whose one Service carries every port).
func podServices(srv *ftpv1.FTPServer) int32 {
	if !srv.Spec.HighlyAvailable() || srv.Spec.Relayed() {
		return 0
	}
	return srv.Spec.ReplicasOrDefault()
}

// reconcilePodServices applies the Service of each pod of a server with several replicas. For a LoadBalancer they
// are applied once the control Service has an address, and ask for it; the SharedAddress condition says whether
// they got it.
func (r *FTPServerReconciler) reconcilePodServices(ctx context.Context, p *pass) error {
	srv := p.srv
	n := podServices(srv)
	lb := p.service.Spec.Type == corev1.ServiceTypeLoadBalancer
	if n == 0 || !lb {
		meta.RemoveStatusCondition(&srv.Status.Conditions, ftpv1.ConditionSharedAddress)
	}
	if n == 0 {
		return nil
	}
	address := ingressAddress(p.service)
	if lb && address == "" {
		setCondition(srv, ftpv1.ConditionSharedAddress, false, ftpv1.ReasonWaitingForAddress,
			"the Services of the pods are created once the load balancer gives Service %s an address, and ask for the same", p.service.Name)
		return nil
	}
	var differ []string
	for attempt, i := 0, int32(0); i < n; i++ {
		svc, err := render.PodService(srv, p.grant, i, address, r.Render)
		if err != nil {
			return err
		}
		if err := r.apply(ctx, srv, svc); err != nil {
			// A nodePort another Service holds: as for the control Service (reconcileService), block it, take a
			// new grant, apply the control Service with it, and start again from pod 0, a bounded number of times.
			port, isConflict := conflictingNodePort(err, svc)
			if !isConflict {
				return r.applyFailed(srv, ftpv1.ConditionServiceReady, err)
			}
			if srv.Spec.PassivePorts.Range != nil || attempt >= maxConflictRetries || !p.grant.Contains(port) {
				setCondition(srv, ftpv1.ConditionPortsAllocated, false, ftpv1.ReasonPortConflict,
					"nodePort %d of passive range %s is already held by another Service", port, p.grant)
				setCondition(srv, ftpv1.ConditionServiceReady, false, ftpv1.ReasonPortConflict, "%v", err)
				return errWait
			}
			attempt++
			log.FromContext(ctx).Info("nodePort of a pod's Service held by another Service; re-allocating", "port", port, "range", p.grant.String())
			r.Allocator.Block(port, "a nodePort of another Service")
			if err := r.grantPorts(ctx, p); err != nil {
				return err
			}
			r.renderService(p)
			if err := r.reconcileService(ctx, p); err != nil {
				return err
			}
			differ, i = nil, -1
			continue
		}
		if got := ingressAddress(svc); lb && got == "" {
			differ = append(differ, svc.Name+" has none")
		} else if lb && got != address {
			differ = append(differ, svc.Name+" has "+got)
		}
	}
	switch {
	case !lb:
	case len(differ) > 0:
		setCondition(srv, ftpv1.ConditionSharedAddress, false, ftpv1.ReasonAddressesDiffer,
			"Service %s has %s but %s: passive ports of those pods are not reachable on the advertised address. The load balancer "+
				"does not share one address between Services (MetalLB does with the sharing key %s, Cluster traffic policy and a free "+
				"address); for load balancers that cannot, set spec.service.routing to Relay (docs/high-availability.md)",
			p.service.Name, address, strings.Join(differ, ", "), render.SharingKey(srv))
	default:
		setCondition(srv, ftpv1.ConditionSharedAddress, true, ftpv1.ReasonSameAddress,
			"Service %s and the Services of %d pods share %s", p.service.Name, n, address)
	}
	return nil
}

// ingressAddress is the first load-balancer ingress of svc (IP or hostname), "" without one.
func ingressAddress(svc *corev1.Service) string {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			return in.IP
		}
		if in.Hostname != "" {
			return in.Hostname
		}
	}
	return ""
}

// workloadState is what reconcileWorkload reads from the Deployment or the StatefulSet.
type workloadState struct {
	kind                   string
	current                bool // the controller has seen the latest spec and every pod runs it
	replicas, ready, avail int32
}

// applyWorkload applies the Deployment (one replica) or the StatefulSet and PodDisruptionBudget (several), deletes
// the other kind, and returns the applied workload's state.
func (r *FTPServerReconciler) applyWorkload(ctx context.Context, p *pass) (workloadState, error) {
	srv := p.srv
	stale := []client.Object{
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: srv.Namespace, Name: render.StatefulSetName(srv)}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: srv.Namespace, Name: render.DisruptionBudgetName(srv)}},
	}
	var st workloadState
	if !srv.Spec.HighlyAvailable() {
		dep := render.Deployment(srv, p.grant, r.Render)
		if err := r.apply(ctx, srv, dep); err != nil {
			return st, err
		}
		st = workloadState{kind: "Deployment", replicas: dep.Status.Replicas, ready: dep.Status.ReadyReplicas, avail: dep.Status.AvailableReplicas,
			current: dep.Status.ObservedGeneration >= dep.Generation && dep.Status.UpdatedReplicas == dep.Status.Replicas}
	} else {
		if err := r.apply(ctx, srv, render.HeadlessService(srv)); err != nil {
			return st, err
		}
		sts := render.StatefulSet(srv, p.grant, r.Render)
		if err := r.replaceStatefulSetOfOtherService(ctx, srv, sts); err != nil {
			return st, err
		}
		if err := r.apply(ctx, srv, sts); err != nil {
			return st, err
		}
		if err := r.apply(ctx, srv, render.PodDisruptionBudget(srv)); err != nil {
			return st, err
		}
		st = workloadState{kind: "StatefulSet", replicas: sts.Status.Replicas, ready: sts.Status.ReadyReplicas, avail: sts.Status.AvailableReplicas,
			current: sts.Status.ObservedGeneration >= sts.Generation}
		stale = []client.Object{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: srv.Namespace, Name: render.DeploymentName(srv)}}}
	}
	if !srv.Spec.HighlyAvailable() {
		stale = append(stale, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: srv.Namespace, Name: render.HeadlessServiceName(srv)}})
	}
	for _, o := range stale {
		if err := r.deleteChild(ctx, srv, o); err != nil {
			return st, err
		}
	}
	srv.Status.Replicas, srv.Status.ReadyReplicas = st.replicas, st.ready
	return st, nil
}

// replaceStatefulSetOfOtherService deletes, leaving its pods running, a StatefulSet of srv whose serviceName is not
// the headless Service that want names (one made by an operator before the headless Service existed): serviceName
// cannot change in place. The StatefulSet is applied again once it is gone (the watch brings the server back) and
// adopts the running pods, so no session ends; pods get the stable names of the headless Service when they are
// next replaced (a change of routing replaces them, as it changes the engine's arguments).
func (r *FTPServerReconciler) replaceStatefulSetOfOtherService(ctx context.Context, srv *ftpv1.FTPServer, want *appsv1.StatefulSet) error {
	var cur appsv1.StatefulSet
	err := r.Get(ctx, client.ObjectKeyFromObject(want), &cur)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading StatefulSet %s: %w", want.Name, err)
	case !metav1.IsControlledBy(&cur, srv):
		return nil // apply reports it (NotOwned)
	case cur.DeletionTimestamp.IsZero() && cur.Spec.ServiceName == want.Spec.ServiceName:
		return nil
	}
	if cur.DeletionTimestamp.IsZero() {
		uid := cur.UID
		if err := r.Delete(ctx, &cur, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationOrphan)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting StatefulSet %s to change its serviceName: %w", cur.Name, err)
		}
		log.FromContext(ctx).Info("deleted a StatefulSet, orphaning its pods, to change its serviceName", "name", cur.Name,
			"from", cur.Spec.ServiceName, "to", want.Spec.ServiceName)
	}
	// The garbage collector orphans the pods and removes the StatefulSet; its watch brings the server back.
	setCondition(srv, ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonProgressing,
		"waiting for StatefulSet %s to be deleted (its pods keep running) to create it again with serviceName %s", cur.Name, want.Spec.ServiceName)
	return errWait
}

// deleteChild deletes obj (namespace and name set) if it exists and srv controls it; an object of that name that
// is not ours is left alone.
func (r *FTPServerReconciler) deleteChild(ctx context.Context, srv *ftpv1.FTPServer, obj client.Object) error {
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", obj.GetName(), err)
	case !metav1.IsControlledBy(obj, srv) || !obj.GetDeletionTimestamp().IsZero():
		return nil
	}
	uid := obj.GetUID()
	if err := r.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
	}
	log.FromContext(ctx).Info("deleted a child the spec no longer asks for", "kind", fmt.Sprintf("%T", obj), "name", obj.GetName())
	return nil
}

// unsharedClaim says why the existing claim of a server with several replicas cannot be shared ("" when it can, or
// when it does not exist yet: the pods' ClaimPending says that). Admission checks a volumeClaimTemplate; an existing
// claim's access modes are only known here. Read uncached: the user's claim carries no label of ours.
func (r *FTPServerReconciler) unsharedClaim(ctx context.Context, srv *ftpv1.FTPServer) (string, error) {
	ref := srv.Spec.Storage.PersistentVolumeClaim
	if !srv.Spec.HighlyAvailable() || ref == nil {
		return "", nil
	}
	var pvc corev1.PersistentVolumeClaim
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: ref.ClaimName}, &pvc)
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading claim %s: %w", ref.ClaimName, err)
	case slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany):
		return "", nil
	}
	return fmt.Sprintf("PersistentVolumeClaim %s has access modes %v: more than one replica needs shared storage, because every pod "+
		"serves the same files; name a ReadWriteMany claim in spec.storage.persistentVolumeClaim, or set spec.replicas to 1", ref.ClaimName, pvc.Spec.AccessModes), nil
}

// replicaKinds are the kinds a server with several replicas adds to its children.
var replicaKinds = []client.Object{&appsv1.StatefulSet{}, &policyv1.PodDisruptionBudget{}}
