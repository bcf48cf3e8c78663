package controllers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// CloudListenerCap is the smallest per-load-balancer listener limit among the big clouds (AWS NLB: 50).
const CloudListenerCap = 50

// maxConflictRetries bounds how often one pass re-allocates after the API server refused a nodePort.
const maxConflictRetries = 8

// release gives a deleted server's ports back and wakes the servers that wait for ports.
func (r *FTPServerReconciler) release(ctx context.Context, key types.NamespacedName) {
	r.forgetCollision(key.String())
	if !r.Allocator.Release(key.String()) {
		return
	}
	log.FromContext(ctx).Info("released passive ports", "freePorts", r.Allocator.Free())
	select {
	case r.released <- event.GenericEvent{Object: &ftpv1.FTPServer{}}:
	default: // a wake-up is already queued; it lists the waiting servers when it runs, after this release
	}
}

// reconcilePorts grants the server its passive range, records it in status, and renders the Service of that
// range, which reconcileService applies.
func (r *FTPServerReconciler) reconcilePorts(ctx context.Context, p *pass) error {
	if err := r.grantPorts(ctx, p); err != nil {
		return err
	}
	r.renderService(p)
	return nil
}

// grantPorts grants the server its passive range and records it in status. A grant outside the pool (the pool
// shrank) is kept as it is, with a warning, until the user asks to move it (AnnotationReallocatePorts).
func (r *FTPServerReconciler) grantPorts(ctx context.Context, p *pass) error {
	srv, key := p.srv, keyOf(p.srv)
	r.recoverGrant(ctx, srv)
	var (
		got portalloc.Range
		err error
	)
	if pin := srv.Spec.PassivePorts.Range; pin != nil {
		got = render.PortRange(*pin)
		err = r.Allocator.Assign(key, got)
	} else {
		count := srv.Spec.PassivePorts.SizeOrDefault()
		if old, held := r.Allocator.Get(key); held && !r.Allocator.InPool(old) && srv.Annotations[ftpv1.AnnotationReallocatePorts] == "true" {
			got, err = r.Allocator.Reallocate(key, count)
			if err == nil {
				log.FromContext(ctx).Info("moved a grant from outside the pool into it, as the annotation asked", "from", old.String(), "to", got.String())
			}
		} else {
			got, err = r.Allocator.Allocate(key, count)
		}
	}
	var (
		conflict *portalloc.ConflictError
		limit    *portalloc.NamespaceLimitError
	)
	switch {
	case errors.Is(err, portalloc.ErrPoolExhausted) && srv.Spec.PassivePorts.SizeOrDefault() > r.Allocator.Pool().Size():
		pool := r.Allocator.Pool()
		r.notAllocated(srv, ftpv1.ReasonCountExceedsPool,
			"spec.passivePorts asks for %d ports, more than the operator's whole passive-port pool %s (%d ports): no released ports can make it fit; "+
				"lower spec.passivePorts.count to %d or less, or enlarge the pool (--passive-port-pool)", srv.Spec.PassivePorts.SizeOrDefault(), pool, pool.Size(), pool.Size())
		return errWait
	case errors.Is(err, portalloc.ErrPoolExhausted):
		r.notAllocated(srv, ftpv1.ReasonPoolExhausted,
			"no %d free contiguous ports left in the pool %s; the server gets its range as soon as another server releases ports",
			srv.Spec.PassivePorts.SizeOrDefault(), r.Allocator.Pool())
		return errWait
	case errors.Is(err, portalloc.ErrOutsidePool):
		r.notAllocated(srv, ftpv1.ReasonRangeUnavailable,
			"pinned range %s is outside the operator's passive-port pool %s", got, r.Allocator.Pool())
		return errWait
	case errors.As(err, &conflict):
		r.notAllocated(srv, ftpv1.ReasonRangeUnavailable,
			"pinned range is not free: %s of %s is held by %s; pin a range outside it, or free it", conflict.Span, got,
			holderName(srv, conflict.Holder, conflict.Blocked))
		return errWait
	case errors.As(err, &limit):
		r.notAllocated(srv, ftpv1.ReasonNamespaceLimit,
			"namespace %s already holds %d passive ports and the operator allows %d per namespace (--max-ports-per-namespace), so %d more do not fit; "+
				"lower spec.passivePorts or delete another FTPServer in this namespace", limit.Namespace, limit.Held, limit.Limit, limit.Want)
		return errWait
	case err != nil:
		return err
	}
	p.grant = render.APIPortRange(got)
	previous := srv.Status.PassivePorts
	srv.Status.PassivePorts = &p.grant
	srv.Status.PassivePortRange = p.grant.String()
	old := meta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionPortsAllocated)
	if c, ok := r.collisionFor(key, got); ok {
		setCondition(srv, ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonGrantCollision,
			"passive ports %s; the range %s recorded for this server collides on %s with an older grant of %s, so it was not kept",
			p.grant, c.recorded, c.span, holderName(srv, c.holder, false))
	} else if old != nil && old.Reason == ftpv1.ReasonGrantCollision && previous != nil && *previous == p.grant {
		setCondition(srv, ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonGrantCollision, "%s", old.Message) // until the grant changes
	} else if moved := previous != nil && previous.Size() != p.grant.Size() && previous.Start != p.grant.Start; moved {
		setCondition(srv, ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonGrantMoved,
			"passive ports %s; %d ports did not fit at %d (the ports after %s are taken), so the server moved to a new range and its pods serve their slices of it",
			p.grant, p.grant.Size(), previous.Start, previous)
	} else if old != nil && old.Reason == ftpv1.ReasonGrantMoved && previous != nil && *previous == p.grant {
		setCondition(srv, ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonGrantMoved, "%s", old.Message) // until the grant changes
	} else {
		setCondition(srv, ftpv1.ConditionPortsAllocated, true, ftpv1.ReasonAllocated, "passive ports %s", p.grant)
	}
	if r.Allocator.InPool(got) {
		meta.RemoveStatusCondition(&srv.Status.Conditions, ftpv1.ConditionPortsInPool)
	} else {
		how := fmt.Sprintf("annotate it with %s=true (kubectl annotate ftpserver %s %s=true)", ftpv1.AnnotationReallocatePorts, srv.Name, ftpv1.AnnotationReallocatePorts)
		if srv.Spec.PassivePorts.Range != nil {
			how = "change spec.passivePorts.range to a range inside the pool"
		}
		setCondition(srv, ftpv1.ConditionPortsInPool, false, ftpv1.ReasonOutsidePool,
			"passive ports %s lie outside the operator's pool %s (the pool was changed); the server keeps them. To move it into the pool, "+
				"which replaces its pod after its sessions drain, %s", p.grant, r.Allocator.Pool(), how)
	}
	return nil
}

// renderService renders the Service of the grant, once per grant, and says whether cloud load balancers take as
// many listeners as it has ports.
func (r *FTPServerReconciler) renderService(p *pass) {
	srv := p.srv
	p.service = render.Service(srv, p.grant, r.Render)
	// Both warnings are written only where they apply (a server without service annotations, or whose Service is
	// no load balancer, has neither): every condition is stored, validated and sent to each watcher on every status
	// write, and these two said nothing for most servers (issue 14).
	switch _, refused := render.ServiceAnnotations(srv, r.Render); {
	case len(refused) > 0:
		setCondition(srv, ftpv1.ConditionServiceAnnotationsAllowed, false, ftpv1.ReasonAnnotationsRefused,
			"the operator's allowed-service-annotations list refuses %s; they are not set on the Service", strings.Join(refused, ", "))
	case len(srv.Spec.Service.Annotations) > 0:
		setCondition(srv, ftpv1.ConditionServiceAnnotationsAllowed, true, ftpv1.ReasonAnnotationsAllowed, "every annotation of spec.service.annotations is allowed")
	default:
		meta.RemoveStatusCondition(&srv.Status.Conditions, ftpv1.ConditionServiceAnnotationsAllowed)
	}
	listeners := len(p.service.Spec.Ports)
	if n := srv.Spec.ReplicasOrDefault(); n > 1 {
		listeners = max(listeners, int(p.grant.Size()/n)) // each pod's Service carries its slice (replicas.go)
	}
	switch {
	case srv.Spec.Service.TypeOrDefault() != corev1.ServiceTypeLoadBalancer:
		meta.RemoveStatusCondition(&srv.Status.Conditions, ftpv1.ConditionLoadBalancerCompatible)
	case listeners > CloudListenerCap:
		setCondition(srv, ftpv1.ConditionLoadBalancerCompatible, false, ftpv1.ReasonAboveCloudCap,
			"a Service of the server has %d ports; some cloud load balancers allow fewer listeners (AWS Network Load Balancer: %d)", listeners, CloudListenerCap)
	default:
		setCondition(srv, ftpv1.ConditionLoadBalancerCompatible, true, ftpv1.ReasonWithinLimits, "at most %d ports per Service", listeners)
	}
}

// notAllocated says why the server has no (new) range. The Service is not touched until it has one, so ServiceReady
// does not claim a range that is stale.
func (r *FTPServerReconciler) notAllocated(srv *ftpv1.FTPServer, reason, format string, args ...any) {
	setCondition(srv, ftpv1.ConditionPortsAllocated, false, reason, format, args...)
	setCondition(srv, ftpv1.ConditionServiceReady, false, ftpv1.ReasonWaitingForPorts, "the Service is applied once the passive ports are allocated")
}

// reconcileSupport applies what the pod needs besides itself: the users Secret (users file and passwords), the
// health ConfigMap of a server on S3 (where its engine pods publish their storage health), the namespace's engine
// identity and its narrow permissions (read the servers' address ConfigMaps, where each follows its address; patch
// their health ConfigMaps), and the claim of a volumeClaimTemplate. The referenced Secrets are checked in
// reconcileWorkload, so that the user learns of a typo from the status.
func (r *FTPServerReconciler) reconcileSupport(ctx context.Context, p *pass) error {
	srv := p.srv
	passwords, err := r.passwords(ctx, p)
	if err != nil {
		return err
	}
	from, invalid, err := r.userSources(ctx, srv)
	if err != nil {
		return err
	}
	users, err := render.UsersSecret(srv, passwords, from)
	if err != nil {
		return err
	}
	reportUsers(srv, from, invalid)
	if err := r.apply(ctx, srv, users); err != nil {
		return r.applyFailed(srv, ftpv1.ConditionWorkloadReady, err)
	}
	if render.HasStorageHealth(srv) {
		// Before the engine identity, whose Role names it only once it is ours.
		if err := r.apply(ctx, srv, render.HealthConfigMap(srv)); err != nil {
			return r.applyFailed(srv, ftpv1.ConditionWorkloadReady, err)
		}
	}
	if err := r.reconcileEngineIdentity(ctx, srv); err != nil {
		return r.applyFailed(srv, ftpv1.ConditionWorkloadReady, err)
	}
	if pvc := render.PersistentVolumeClaim(srv); pvc != nil {
		owned := srv.Spec.Storage.VolumeClaimTemplate.RetentionOrDefault() == ftpv1.ClaimDelete
		if err := r.applyClaim(ctx, srv, pvc, owned); err != nil {
			return r.applyFailed(srv, ftpv1.ConditionWorkloadReady, err)
		}
	}
	if s3 := srv.Spec.Storage.S3; s3 != nil {
		setCondition(srv, ftpv1.ConditionStoragePersistent, true, ftpv1.ReasonObjectStorage, "files live in bucket %s at %s", s3.Bucket, s3.Endpoint)
	} else if ed := srv.Spec.Storage.EmptyDirOrDefault(); ed != nil {
		setCondition(srv, ftpv1.ConditionStoragePersistent, false, ftpv1.ReasonEmptyDir,
			"files live in an emptyDir (sizeLimit %s) and are lost whenever the pod is replaced; set spec.storage.volumeClaimTemplate or persistentVolumeClaim to keep them",
			ed.SizeLimit)
	} else {
		setCondition(srv, ftpv1.ConditionStoragePersistent, true, ftpv1.ReasonPersistent, "files live in PersistentVolumeClaim %s", render.ClaimName(srv))
	}
	return nil
}

// passwords reads each user's password from the referenced Secret. Users whose Secret or key is missing are left
// out (missingSecrets reports them), so that one typo does not lock out the other users.
func (r *FTPServerReconciler) passwords(ctx context.Context, p *pass) (map[string][]byte, error) {
	srv := p.srv
	out := make(map[string][]byte, len(srv.Spec.Users))
	for _, u := range srv.Spec.Users {
		s, err := r.secret(ctx, p, u.PasswordSecretRef.Name)
		if err != nil {
			return nil, fmt.Errorf("reading Secret %s of user %s: %w", u.PasswordSecretRef.Name, u.Name, err)
		}
		if s == nil {
			continue
		}
		if v, ok := s.Data[u.PasswordSecretRef.KeyOrDefault()]; ok {
			out[u.Name] = v
		}
	}
	return out, nil
}

// secret reads a referenced Secret from the API server (Secrets are not cached) once per pass; nil if it does not
// exist. A small Secret that the namespace's metadata watch shows unchanged since a pass last read it is not read
// again (secretWatches.current).
func (r *FTPServerReconciler) secret(ctx context.Context, p *pass, name string) (*corev1.Secret, error) {
	if s, seen := p.secrets[name]; seen {
		return s, nil
	}
	key := types.NamespacedName{Namespace: p.srv.Namespace, Name: name}
	s := r.secretWatches.current(key)
	if s == nil {
		s = &corev1.Secret{}
		err := r.Get(ctx, key, s)
		switch {
		case apierrors.IsNotFound(err):
			s = nil
		case err != nil:
			return nil, err
		default:
			r.secretWatches.remember(s)
		}
	}
	if p.secrets == nil {
		p.secrets = map[string]*corev1.Secret{}
	}
	p.secrets[name] = s
	return s, nil
}

// missingSecrets lists the Secrets and keys that are referenced and absent.
func (r *FTPServerReconciler) missingSecrets(ctx context.Context, p *pass) ([]string, error) {
	srv := p.srv
	want := map[string][]string{} // secret -> keys
	for _, u := range srv.Spec.Users {
		key := u.PasswordSecretRef.KeyOrDefault()
		want[u.PasswordSecretRef.Name] = append(want[u.PasswordSecretRef.Name], key)
	}
	for _, f := range srv.Spec.UsersFrom {
		want[f.SecretRef.Name] = append(want[f.SecretRef.Name], f.KeyOrDefault())
	}
	if srv.Spec.TLS != nil {
		n := srv.Spec.TLS.SecretRef.Name
		want[n] = append(want[n], corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if s3 := srv.Spec.Storage.S3; s3 != nil {
		for n, keys := range s3.SecretKeys() {
			want[n] = append(want[n], keys...)
		}
	}
	var missing []string
	for name, keys := range want {
		s, err := r.secret(ctx, p, name)
		if err != nil {
			return nil, err
		}
		if s == nil {
			missing = append(missing, fmt.Sprintf("Secret %q not found", name))
			continue
		}
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				missing = append(missing, fmt.Sprintf("Secret %q has no key %q", name, k))
			}
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// nodePortInUse matches the API server's refusal of a nodePort that another Service holds.
var nodePortInUse = regexp.MustCompile(`spec\.ports\[(\d+)\]\.nodePort`)

// reconcileService applies the Service that reconcilePorts rendered. A nodePort that another Service already holds is
// refused by the API server; the port is then blocked in the allocator and the server gets a new range (and its
// Service), a bounded number of times.
func (r *FTPServerReconciler) reconcileService(ctx context.Context, p *pass) error {
	srv := p.srv
	for attempt := 0; ; attempt++ {
		svc := p.service
		err := r.apply(ctx, srv, svc)
		if err == nil {
			setCondition(srv, ftpv1.ConditionServiceReady, true, ftpv1.ReasonApplied, "Service %s exposes port %d and passive ports %s",
				svc.Name, render.ServiceControlPort, p.grant)
			return nil
		}
		port, isConflict := conflictingNodePort(err, svc)
		if !isConflict {
			return r.serviceFailed(ctx, p, err)
		}
		if srv.Spec.PassivePorts.Range != nil || attempt >= maxConflictRetries || !p.grant.Contains(port) {
			setCondition(srv, ftpv1.ConditionPortsAllocated, false, ftpv1.ReasonPortConflict,
				"nodePort %d of passive range %s is already held by another Service", port, p.grant)
			setCondition(srv, ftpv1.ConditionServiceReady, false, ftpv1.ReasonPortConflict, "%v", err)
			return errWait
		}
		log.FromContext(ctx).Info("nodePort held by another Service; re-allocating", "port", port, "range", p.grant.String())
		r.Allocator.Block(port, "a nodePort of another Service")
		if err := r.grantPorts(ctx, p); err != nil {
			return err
		}
		r.renderService(p)
	}
}

// ServiceRetryInterval is how often a server retries a Service that the API server refused for want of node ports or
// quota. Both are freed by objects the operator does not watch (any Service in the cluster, a ResourceQuota), so a
// watch cannot bring the server back; a change to the FTPServer (spec or annotation) retries at once.
const ServiceRetryInterval = 5 * time.Minute

// serviceFailed turns a refused Service apply into conditions. When the cluster's node ports are exhausted or a
// quota refuses the Service, no quick retry helps: the server is Stalled, retried after ServiceRetryInterval, and a
// Service that could not be created gives its grant back, so it holds no ports it cannot use.
func (r *FTPServerReconciler) serviceFailed(ctx context.Context, p *pass, err error) error {
	srv := p.srv
	var reason string
	switch {
	case nodePortsExhausted(err):
		reason = ftpv1.ReasonNodePortsExhausted
		setCondition(srv, ftpv1.ConditionServiceReady, false, reason,
			"the cluster's NodePort range is full, so the Service cannot get node ports: free node ports (NodePort Services, "+
				"LoadBalancer Services with node ports), or set spec.service.allocateLoadBalancerNodePorts: false if the load "+
				"balancer does not need them (MetalLB, kube-vip, Cilium); retried every %s and when this FTPServer changes (%v)", ServiceRetryInterval, err)
	case quotaExceeded(err):
		reason = ftpv1.ReasonServiceRefused
		setCondition(srv, ftpv1.ConditionServiceReady, false, ftpv1.ReasonApplyFailed,
			"%v; retried every %s and when this FTPServer changes", err, ServiceRetryInterval)
	default:
		return r.applyFailed(srv, ftpv1.ConditionServiceReady, err)
	}
	p.requeueAfter = ServiceRetryInterval
	var existing corev1.Service // read uncached: a Service created a moment ago must not lose its ports to a lagging cache
	if getErr := r.APIReader.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.ServiceName(srv)}, &existing); apierrors.IsNotFound(getErr) {
		// Given back without waking the waiting servers: this one would be among them, retrying at once.
		r.Allocator.Release(keyOf(srv))
		srv.Status.PassivePorts, srv.Status.PassivePortRange = nil, ""
		setCondition(srv, ftpv1.ConditionPortsAllocated, false, reason,
			"passive ports %s given back to the pool: the Service could not be created", p.grant)
		log.FromContext(ctx).Info("released the grant of a Service the API server refused", "range", p.grant.String(), "reason", reason)
	}
	return errWait
}

// nodePortsExhausted matches the API server's "failed to allocate a nodePort: range is full".
func nodePortsExhausted(err error) bool {
	return apierrors.IsInternalError(err) && strings.Contains(err.Error(), "failed to allocate a nodePort") && strings.Contains(err.Error(), "range is full")
}

// quotaExceeded matches a ResourceQuota's refusal.
func quotaExceeded(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota")
}

func conflictingNodePort(err error, svc *corev1.Service) (int32, bool) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) || status.Status().Details == nil {
		return 0, false
	}
	for _, c := range status.Status().Details.Causes {
		m := nodePortInUse.FindStringSubmatch(c.Field)
		if m == nil || !strings.Contains(c.Message, "already allocated") {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		if i < len(svc.Spec.Ports) {
			return svc.Spec.Ports[i].NodePort, true
		}
	}
	return 0, false
}

// reconcileWorkload applies the Deployment (one replica) or the StatefulSet (several, replicas.go) and reports
// whether its pods are available.
func (r *FTPServerReconciler) reconcileWorkload(ctx context.Context, p *pass) error {
	srv := p.srv
	missing, err := r.missingSecrets(ctx, p)
	if err != nil {
		return err
	}
	if why, err := r.unsharedClaim(ctx, srv); err != nil {
		return err
	} else if why != "" {
		setCondition(srv, ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonStorageNotShared, "%s", why)
		return errWait
	}
	st, err := r.applyWorkload(ctx, p)
	if errors.Is(err, errWait) {
		return err
	} else if err != nil {
		return r.applyFailed(srv, ftpv1.ConditionWorkloadReady, err)
	}
	var routing podRouting
	if srv.Spec.HighlyAvailable() {
		// Several replicas: a pod is ready once the control Service and its own Service route to it (endpoints.go).
		if routing, err = r.routedPods(ctx, srv, srv.Spec.ReplicasOrDefault()); err != nil {
			return err
		}
		st.ready, st.avail = routing.routed, routing.routed
		srv.Status.ReadyReplicas = routing.routed
		if routing.recheck > 0 && (p.requeueAfter == 0 || routing.recheck < p.requeueAfter) {
			p.requeueAfter = routing.recheck // a real deadline: a listing becomes RouteSettle old, no event says so
		}
	} else {
		r.routes.forget(client.ObjectKeyFromObject(srv))
	}
	if len(missing) > 0 {
		setCondition(srv, ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonSecretMissing, "%s", strings.Join(missing, "; "))
		return nil
	}
	// A pod whose storage cannot be used says why (the engine publishes it, storagehealth.go); the worst pod wins,
	// even while other pods are available: they share the bucket and its credentials.
	if problem, found, err := r.storageProblemOf(ctx, srv); err != nil {
		return err
	} else if found {
		setCondition(srv, ftpv1.ConditionWorkloadReady, false, problem.reason, "%s", problem.message)
		return nil
	}
	if len(routing.waiting) > 0 {
		// A ready pod takes control connections as soon as the control Service lists it; until its own Service
		// routes to it too, the data connections of those sessions would be refused.
		setCondition(srv, ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonProgressing,
			"%d of %d FTP server pods are ready; waiting for %s", st.ready, srv.Spec.ReplicasOrDefault(), strings.Join(routing.waiting, "; "))
		return nil
	}
	if st.current && st.avail > 0 {
		if srv.Spec.HighlyAvailable() {
			setCondition(srv, ftpv1.ConditionWorkloadReady, true, ftpv1.ReasonAvailable, "%d of %d FTP server pods are ready", st.ready, srv.Spec.ReplicasOrDefault())
		} else {
			setCondition(srv, ftpv1.ConditionWorkloadReady, true, ftpv1.ReasonAvailable, "the FTP server pod is available")
		}
		return nil
	}
	// Not available: the pod says why, in its own words (the pod watch brings us back when that changes).
	problem, found, err := r.podProblemOf(ctx, srv)
	if err != nil {
		return err
	}
	if !found {
		setCondition(srv, ftpv1.ConditionWorkloadReady, false, ftpv1.ReasonProgressing, "waiting for the FTP server pod to become available")
		return nil
	}
	setCondition(srv, ftpv1.ConditionWorkloadReady, false, problem.reason, "%s", problem.message)
	if problem.stalled {
		p.stalled = problem.reason
	}
	if problem.recheckAfter > 0 {
		p.requeueAfter = problem.recheckAfter // a real deadline: the pod stalls the server if nothing changes until then
	}
	return nil
}

// applyFailed turns an apply error into a condition. Objects we did not create are never adopted.
func (r *FTPServerReconciler) applyFailed(srv *ftpv1.FTPServer, condition string, err error) error {
	var notOwned *notOwnedError
	if errors.As(err, &notOwned) {
		setCondition(srv, condition, false, ftpv1.ReasonNotOwned, "%v", err)
		return err
	}
	setCondition(srv, condition, false, ftpv1.ReasonApplyFailed, "%v", err)
	return err
}
