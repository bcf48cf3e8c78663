// Package controllers reconciles FTPServers into a Service, a Deployment running the embedded engine, and the
// objects around them, and keeps each server's passive-port grant and advertised address in its status.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// FieldOwner is the server-side-apply field manager of everything the operator writes.
const FieldOwner = "ftp-operator"

// DefaultMaxConcurrentReconciles is how many FTPServers are reconciled at once by default. A new server's first
// pass waits on about five writes in a row, each until etcd has committed it, so a burst of new servers is bound
// by that latency rather than by CPU: 1,000 servers took 26 s on envtest with 4 workers and 19 s with 16
// (docs/benchmarks.md).
const DefaultMaxConcurrentReconciles = 16

// secretIndex indexes FTPServers by the names of the Secrets they reference.
const secretIndex = "spec.secretNames"

// FTPServerReconciler reconciles FTPServer objects.
type FTPServerReconciler struct {
	client.Client
	// APIReader reads objects the manager does not cache: pods and nodes (for the NodePort address), and
	// same-named objects without the operator's label (apply refuses them).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Allocator *portalloc.Allocator
	Render    render.Options
	// MaxConcurrentReconciles defaults to DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int

	replayMu sync.Mutex
	replayed bool
	// collisions are the grants that replay could not keep, for the condition of the server's next pass.
	collisionsMu sync.Mutex
	collisions   map[string]collision
	// announced is the last announced state per server (namespace/name) and condition type (firstAnnouncement).
	announcedMu sync.Mutex
	announced   map[string]string
	// released wakes every FTPServer that holds no grant when ports are given back.
	released chan event.GenericEvent
	// blockers wakes a NotOwned server when the object in its way goes or is handed over.
	blockers *blockerWatches
	// identityMu serialises the writes of the namespaces' engine identities (reconcileEngineIdentity).
	identityMu sync.Mutex
	// identities is what the operator last wrote of each namespace's engine identity (identityInPlace).
	identities identityMemo
	// secretWatches watches the Secrets of the namespaces that hold FTPServers.
	secretWatches *secretWatches
	// metadata is the manager's cache, read for the metadata of the users Secrets (the client reads Secrets from
	// the API server); secretVersions is what this process last wrote of them (applyChild).
	metadata       client.Reader
	secretVersions secretVersions
	// routes remembers since when the Services of the pods of several replicas route to them (endpoints.go).
	routes routeClock
}

// deletions lets only delete events through.
var deletions = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// The manager's permissions, each verb used: children are created on the first pass and then written only by
// server-side apply (patch), never updated, and deleted only when they are a namespace's engine identity (its
// ServiceAccount, Role and RoleBinding have no owner) or left behind by a change of spec.replicas (below); owner
// references make Kubernetes delete every other child. The FTPServer itself is only read, and its status patched
// once per pass. Secrets are written only for the users Secret.
// +kubebuilder:rbac:groups=ftpoperator.io,resources=ftpservers,verbs=get;list;watch
// +kubebuilder:rbac:groups=ftpoperator.io,resources=ftpservers/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=services;persistentvolumeclaims;secrets;configmaps,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// Several replicas (replicas.go): a StatefulSet and a PodDisruptionBudget. delete is used only for the children
// that a change of spec.replicas leaves behind: the workload of the other kind, the PodDisruptionBudget, and the
// Services of pods the server no longer runs.
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=delete
// +kubebuilder:rbac:groups="",resources=services,verbs=delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one FTPServer's children and status in line with its spec.
func (r *FTPServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	if err := r.replayGrants(ctx); err != nil {
		return ctrl.Result{}, err
	}
	srv := &ftpv1.FTPServer{}
	if err := r.Get(ctx, req.NamespacedName, srv); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(ctx, req.NamespacedName) // children go with the ownerRefs
			return ctrl.Result{}, r.leaveNamespace(ctx, req.Namespace)
		}
		return ctrl.Result{}, err
	}
	if !srv.DeletionTimestamp.IsZero() {
		r.forget(ctx, req.NamespacedName)
		return ctrl.Result{}, r.leaveNamespace(ctx, req.Namespace)
	}
	r.secretWatches.ensure(srv.Namespace)

	before := srv.DeepCopy()
	p := &pass{srv: srv}
	defer func() {
		if err == nil || errors.Is(err, errWait) {
			srv.Status.ObservedGeneration = srv.Generation
		}
		summarize(srv, p.stalled)
		keepTransitionTimes(before, srv)
		r.recordTransitions(before, srv)
		if statusErr := r.writeStatus(ctx, before, srv); statusErr != nil {
			err = errors.Join(err, statusErr)
		}
		if errors.Is(err, errWait) {
			err = nil // a condition says what we wait for; a watch brings us back
		}
	}()

	for _, phase := range []func(context.Context, *pass) error{
		r.reconcilePorts,
		r.reconcileSupport,
		r.prunePodServices,
		r.reconcileService,
		r.reconcilePodServices,
		r.reconcileWorkload,
		r.reconcileAddress,
	} {
		if err := phase(ctx, p); err != nil {
			return r.stopped(ctx, req.NamespacedName, p, err)
		}
	}
	r.blockers.forget(req.NamespacedName)
	return ctrl.Result{RequeueAfter: p.requeueAfter}, nil
}

// stopped ends a pass that a phase stopped with err. An object in the way of a child (NotOwned) waits for a
// person: no retry fixes it, so the error is terminal, and a watch of that object brings the server back when it
// goes or is handed over (blockerWatches). When that watch cannot run, the error is retried with backoff instead.
func (r *FTPServerReconciler) stopped(ctx context.Context, key types.NamespacedName, p *pass, err error) (ctrl.Result, error) {
	var notOwned *notOwnedError
	if !errors.As(err, &notOwned) {
		r.blockers.forget(key)
		return ctrl.Result{RequeueAfter: p.requeueAfter}, err
	}
	if werr := r.blockers.watch(ctx, key, notOwned.blocker); werr != nil {
		log.FromContext(ctx).Info("cannot watch the object in the server's way; retrying with backoff", "error", werr.Error())
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, reconcile.TerminalError(err)
}

// pass carries what one reconcile learned from phase to phase.
type pass struct {
	srv   *ftpv1.FTPServer
	grant ftpv1.PortRange
	// service is the Service of grant: rendered by reconcilePorts, applied (and so the live object) once
	// reconcileService returned nil.
	service *corev1.Service
	// requeueAfter is set by a phase that waits for something no watch reports (node ports, quota, the deadline
	// after which an unschedulable pod stalls the server).
	requeueAfter time.Duration
	// stalled is a reason that stalls the server in this pass only, though it does not always (a pod's reason).
	stalled string
	// secrets are the referenced Secrets read in this pass, by name (nil: not found).
	secrets map[string]*corev1.Secret
}

// errWait stops a pass without an error: a condition tells the user what is missing and a watch brings the
// server back when it changes.
var errWait = errors.New("waiting")

// writeStatus writes the status once, and only if it changed.
func (r *FTPServerReconciler) writeStatus(ctx context.Context, before, srv *ftpv1.FTPServer) error {
	if equality.Semantic.DeepEqual(before.Status, srv.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, srv, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// setCondition stamps a condition with the generation it speaks of.
func setCondition(srv *ftpv1.FTPServer, typ string, ok bool, reason, format string, args ...any) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&srv.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            fmt.Sprintf(format, args...),
		ObservedGeneration: srv.Generation,
	})
}

// stallReasons are the reasons that no retry fixes: a person must free ports, rename an object or create a Secret.
var stallReasons = []string{ftpv1.ReasonPoolExhausted, ftpv1.ReasonRangeUnavailable, ftpv1.ReasonPortConflict,
	ftpv1.ReasonNotOwned, ftpv1.ReasonSecretMissing, ftpv1.ReasonNodePortsExhausted, ftpv1.ReasonNamespaceLimit,
	ftpv1.ReasonServiceRefused, ftpv1.ReasonCountExceedsPool, ftpv1.ReasonStorageNotShared}

// keepTransitionTimes keeps the lastTransitionTime of every condition whose status is what it was before the pass:
// a condition that flips and flips back within one pass (a grant taken and given back) has not transitioned, and
// a new time would write the status and start another pass.
func keepTransitionTimes(before, after *ftpv1.FTPServer) {
	for i := range after.Status.Conditions {
		c := &after.Status.Conditions[i]
		if old := meta.FindStatusCondition(before.Status.Conditions, c.Type); old != nil && old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
	}
}

// summarize sets Ready from the conditions that it sums up, and Stalled while Ready waits for a person. stalled is
// a reason that stalls the server in this pass though it does not always (a pod unschedulable for long enough).
func summarize(srv *ftpv1.FTPServer, stalled string) {
	setReady(srv, stalled)
	ready := meta.FindStatusCondition(srv.Status.Conditions, ftpv1.ConditionReady)
	if ready.Status == metav1.ConditionFalse && stalls(ready.Reason, stalled) {
		setCondition(srv, ftpv1.ConditionStalled, true, ready.Reason, "%s", ready.Message)
	} else {
		meta.RemoveStatusCondition(&srv.Status.Conditions, ftpv1.ConditionStalled)
	}
}

func stalls(reason, stalled string) bool {
	return slices.Contains(stallReasons, reason) || (stalled != "" && reason == stalled)
}

// readyParts are the conditions that Ready sums up, in the order they are reported within one rank.
var readyParts = []string{ftpv1.ConditionPortsAllocated, ftpv1.ConditionServiceReady, ftpv1.ConditionAddress, ftpv1.ConditionWorkloadReady}

// waitingReasons say that a condition waits for another one, or for something still on its way; any other False
// reason is a failure.
var waitingReasons = []string{ftpv1.ReasonWaitingForPorts, ftpv1.ReasonWaitingForAddress, ftpv1.ReasonProgressing}

// setReady reports the most actionable of the conditions it sums up, by rank: first one that only a person can fix
// (a stall reason: a missing Secret, a full pool, an image that does not exist), then any other failure (an apply
// the API server refused, a pod not yet stalled), then one that is only waiting (for an address, for the pod);
// within a rank, in the order of readyParts. So a missing Secret is never hidden behind WaitingForAddress.
func setReady(srv *ftpv1.FTPServer, stalled string) {
	const (
		rankStalled = iota
		rankFailed
		rankWaiting
		rankNone
	)
	best, rank := metav1.Condition{}, rankNone
	for _, t := range readyParts {
		c := meta.FindStatusCondition(srv.Status.Conditions, t)
		var cur metav1.Condition
		var r int
		switch {
		case c == nil:
			cur, r = metav1.Condition{Reason: ftpv1.ReasonProgressing, Message: t + " not yet reconciled"}, rankWaiting
		case c.Status == metav1.ConditionTrue:
			continue
		case stalls(c.Reason, stalled):
			cur, r = *c, rankStalled
		case slices.Contains(waitingReasons, c.Reason):
			cur, r = *c, rankWaiting
		default:
			cur, r = *c, rankFailed
		}
		if r < rank {
			best, rank = cur, r
		}
	}
	if rank == rankNone {
		setCondition(srv, ftpv1.ConditionReady, true, ftpv1.ReasonReady, "serving at %s", srv.Status.Endpoint)
		return
	}
	setCondition(srv, ftpv1.ConditionReady, false, best.Reason, "%s", best.Message)
}

// transitions maps a condition state to the event that announces it. Events are sent when a condition enters
// that state, never on every pass.
var transitions = map[string]struct {
	typ, reason string
}{
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonAllocated:                     {corev1.EventTypeNormal, "PortsAllocated"},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonPoolExhausted:                 {corev1.EventTypeWarning, "PoolExhausted"},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonRangeUnavailable:              {corev1.EventTypeWarning, "RangeUnavailable"},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonPortConflict:                  {corev1.EventTypeWarning, "NodePortConflict"},
	ftpv1.ConditionServiceReady + "/" + ftpv1.ReasonNotOwned:                        {corev1.EventTypeWarning, "NotOwned"},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonNotOwned:                       {corev1.EventTypeWarning, "NotOwned"},
	ftpv1.ConditionAddress + "/" + ftpv1.ReasonNotOwned:                             {corev1.EventTypeWarning, "NotOwned"},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonSecretMissing:                  {corev1.EventTypeWarning, "SecretMissing"},
	ftpv1.ConditionAddress + "/" + ftpv1.ReasonAddressAssigned:                      {corev1.EventTypeNormal, "AddressAssigned"},
	ftpv1.ConditionLoadBalancerCompatible + "/" + ftpv1.ReasonAboveCloudCap:         {corev1.EventTypeWarning, "AboveCloudListenerCap"},
	ftpv1.ConditionStoragePersistent + "/" + ftpv1.ReasonEmptyDir:                   {corev1.EventTypeWarning, "EphemeralStorage"},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonNamespaceLimit:                {corev1.EventTypeWarning, "NamespacePortLimit"},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonGrantCollision:                {corev1.EventTypeWarning, "GrantCollision"},
	ftpv1.ConditionPortsInPool + "/" + ftpv1.ReasonOutsidePool:                      {corev1.EventTypeWarning, "OutsidePool"},
	ftpv1.ConditionServiceReady + "/" + ftpv1.ReasonNodePortsExhausted:              {corev1.EventTypeWarning, "NodePortsExhausted"},
	ftpv1.ConditionServiceReady + "/" + ftpv1.ReasonApplyFailed:                     {corev1.EventTypeWarning, "ApplyFailed"},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonApplyFailed:                    {corev1.EventTypeWarning, "ApplyFailed"},
	ftpv1.ConditionAddress + "/" + ftpv1.ReasonApplyFailed:                          {corev1.EventTypeWarning, "ApplyFailed"},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonCountExceedsPool:              {corev1.EventTypeWarning, "CountExceedsPool"},
	ftpv1.ConditionServiceAnnotationsAllowed + "/" + ftpv1.ReasonAnnotationsRefused: {corev1.EventTypeWarning, ftpv1.ReasonAnnotationsRefused},
	ftpv1.ConditionUsersAccepted + "/" + ftpv1.ReasonDuplicateUsers:                 {corev1.EventTypeWarning, ftpv1.ReasonDuplicateUsers},
	ftpv1.ConditionUsersAccepted + "/" + ftpv1.ReasonInvalidUsers:                   {corev1.EventTypeWarning, ftpv1.ReasonInvalidUsers},
	// The pod's own reasons (pods.go), announced once when WorkloadReady takes them.
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonErrImagePull:               {corev1.EventTypeWarning, ftpv1.ReasonErrImagePull},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonImagePullBackOff:           {corev1.EventTypeWarning, ftpv1.ReasonImagePullBackOff},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonInvalidImageName:           {corev1.EventTypeWarning, ftpv1.ReasonInvalidImageName},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonCrashLoopBackOff:           {corev1.EventTypeWarning, ftpv1.ReasonCrashLoopBackOff},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonCreateContainerConfigError: {corev1.EventTypeWarning, ftpv1.ReasonCreateContainerConfigError},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonUnschedulable:              {corev1.EventTypeWarning, ftpv1.ReasonUnschedulable},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonClaimPending:               {corev1.EventTypeWarning, ftpv1.ReasonClaimPending},
	ftpv1.ConditionSharedAddress + "/" + ftpv1.ReasonAddressesDiffer:            {corev1.EventTypeWarning, ftpv1.ReasonAddressesDiffer},
	ftpv1.ConditionPortsAllocated + "/" + ftpv1.ReasonGrantMoved:                {corev1.EventTypeWarning, ftpv1.ReasonGrantMoved},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonStorageNotShared:           {corev1.EventTypeWarning, ftpv1.ReasonStorageNotShared},
	// The storage health the engine pods publish (storagehealth.go).
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonCredentialsRejected: {corev1.EventTypeWarning, ftpv1.ReasonCredentialsRejected},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonBucketNotFound:      {corev1.EventTypeWarning, ftpv1.ReasonBucketNotFound},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonEndpointUnreachable: {corev1.EventTypeWarning, ftpv1.ReasonEndpointUnreachable},
	ftpv1.ConditionWorkloadReady + "/" + ftpv1.ReasonStorageUnavailable:  {corev1.EventTypeWarning, ftpv1.ReasonStorageUnavailable},
}

func (r *FTPServerReconciler) recordTransitions(before, after *ftpv1.FTPServer) {
	for _, c := range after.Status.Conditions {
		old := meta.FindStatusCondition(before.Status.Conditions, c.Type)
		changed := old == nil || old.Status != c.Status || old.Reason != c.Reason ||
			(c.Type == ftpv1.ConditionAddress && before.Status.Address != after.Status.Address) ||
			(c.Type == ftpv1.ConditionPortsAllocated && old.Message != c.Message)
		if ev, ok := transitions[c.Type+"/"+c.Reason]; ok && changed && r.Recorder != nil && r.firstAnnouncement(after, c) {
			r.Recorder.Eventf(after, nil, ev.typ, ev.reason, "Reconcile", "%s", c.Message)
		}
	}
}

// firstAnnouncement remembers the last state announced per server and condition, so that a pass that starts from a
// cached status older than the previous pass's write (the children it applied bring it back at once) does not
// announce the same transition twice.
func (r *FTPServerReconciler) firstAnnouncement(srv *ftpv1.FTPServer, c metav1.Condition) bool {
	r.announcedMu.Lock()
	defer r.announcedMu.Unlock()
	if r.announced == nil {
		r.announced = map[string]string{}
	}
	key, state := keyOf(srv)+"/"+c.Type, string(c.Status)+"/"+c.Reason+"/"+c.Message
	if c.Type == ftpv1.ConditionAddress {
		// Only the address's own announcement depends on it: a new address must not announce the other
		// conditions again when a pass starts from a lagging cache (the first passes of a new server).
		state += "/" + srv.Status.Address
	}
	if r.announced[key] == state {
		return false
	}
	r.announced[key] = state
	return true
}

// forget drops what the operator holds for a deleted server: its ports, the watch of an object in its way, and
// what firstAnnouncement remembers.
func (r *FTPServerReconciler) forget(ctx context.Context, key types.NamespacedName) {
	r.release(ctx, key)
	r.blockers.forget(key)
	r.secretVersions.forget(key)
	r.routes.forget(key)
	r.announcedMu.Lock()
	defer r.announcedMu.Unlock()
	for k := range r.announced {
		if strings.HasPrefix(k, key.String()+"/") {
			delete(r.announced, k)
		}
	}
}

// SetupWithManager registers the controller, its watches and the Secret index.
func (r *FTPServerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &ftpv1.FTPServer{}, secretIndex, secretNames); err != nil {
		return err
	}
	r.released = make(chan event.GenericEvent, 16)
	r.metadata = mgr.GetCache()
	blockers, err := newBlockerWatches(mgr.GetConfig(), mgr.GetHTTPClient(), mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	if err := mgr.Add(blockers); err != nil {
		return err
	}
	r.blockers = blockers
	mc, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return err
	}
	r.secretWatches = newSecretWatches(mc)
	if err := mgr.Add(r.secretWatches); err != nil {
		return err
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&ftpv1.FTPServer{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&corev1.Secret{}, builder.OnlyMetadata). // the users Secret; metadata only, like every Secret (ScopeCache)
		Owns(&corev1.ConfigMap{}).
		// The namespace's engine identity has no owner: a deletion wakes one server of the namespace to make it again.
		Watches(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(r.serverOfIdentity), builder.WithPredicates(deletions)).
		Watches(&rbacv1.Role{}, handler.EnqueueRequestsFromMapFunc(r.serverOfIdentity), builder.WithPredicates(deletions)).
		Watches(&rbacv1.RoleBinding{}, handler.EnqueueRequestsFromMapFunc(r.serverOfIdentity), builder.WithPredicates(deletions)).
		Owns(&corev1.PersistentVolumeClaim{}).
		// A change to a referenced Secret wakes its servers: the Secrets of the namespaces that hold FTPServers are
		// watched, metadata only (secretWatches); the data is read from the API server when a pass needs it.
		WatchesRawSource(source.Channel(r.secretWatches.events, handler.EnqueueRequestsFromMapFunc(r.serversOfSecret))).
		// The servers' pods (owned by their ReplicaSets), for the pod's own reason when it does not run; the
		// cache holds only pods with the operator's label (ScopeCache).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(serverOfPod)).
		// The EndpointSlices of the servers' Services carry the Services' labels, so they map to their server as
		// the pods do: a pod of several replicas is ready once its Services route to it (endpoints.go).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(serverOfPod)).
		WatchesRawSource(source.Channel(r.released, handler.EnqueueRequestsFromMapFunc(r.serversWithoutGrant))).
		// A NotOwned server, when the object in its way goes or is handed over (blockers.go).
		WatchesRawSource(source.Channel(r.blockers.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

func secretNames(o client.Object) []string {
	srv := o.(*ftpv1.FTPServer)
	var names []string
	for _, u := range srv.Spec.Users {
		names = append(names, u.PasswordSecretRef.Name)
	}
	for _, f := range srv.Spec.UsersFrom {
		names = append(names, f.SecretRef.Name)
	}
	if srv.Spec.TLS != nil {
		names = append(names, srv.Spec.TLS.SecretRef.Name)
	}
	if s3 := srv.Spec.Storage.S3; s3 != nil {
		for n := range s3.SecretKeys() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func (r *FTPServerReconciler) serversOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list ftpv1.FTPServerList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing FTPServers of a Secret", "secret", o.GetName())
		return nil
	}
	return requests(list.Items)
}

func (r *FTPServerReconciler) serversWithoutGrant(ctx context.Context, _ client.Object) []reconcile.Request {
	var list ftpv1.FTPServerList
	if err := r.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing FTPServers to wake")
		return nil
	}
	waiting := slices.DeleteFunc(list.Items, func(s ftpv1.FTPServer) bool {
		_, held := r.Allocator.Get(keyOf(&s))
		return held
	})
	return requests(waiting)
}

func requests(items []ftpv1.FTPServer) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(items))
	for i := range items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: items[i].Namespace, Name: items[i].Name}})
	}
	return reqs
}

func keyOf(srv *ftpv1.FTPServer) string { return srv.Namespace + "/" + srv.Name }
