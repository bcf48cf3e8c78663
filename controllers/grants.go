package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// A grant is recorded twice: in status.passivePorts and in the ports of the operator-owned Service. Only the
// operator writes the Service; status can be written by anyone allowed to write ftpservers/status, and is lost when
// a GitOps tool or a backup restore recreates the FTPServer. So the Service is the record that counts: a status
// that disagrees with it never wins, and a server whose status is gone gets its range back from its Service.

// record is one grant found in the API on replay.
type record struct {
	key         string
	grant       portalloc.Range
	fromService bool        // read from the operator-owned Service, else from status alone
	since       metav1.Time // creation of the Service (fromService) or of the FTPServer: the older grant wins
}

// replayGrants runs once, before the first allocation: it keeps every recorded grant (Service first, then
// status), oldest first, so that a restarted operator never hands out a port that is still in use, never moves a
// grant that a smaller pool no longer holds, and never hands a server the range that another server's forged
// status claims.
func (r *FTPServerReconciler) replayGrants(ctx context.Context) error {
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	if r.replayed {
		return nil
	}
	var list ftpv1.FTPServerList
	if err := r.List(ctx, &list); err != nil {
		return fmt.Errorf("listing FTPServers to replay their grants: %w", err)
	}
	var svcs corev1.ServiceList
	if err := r.List(ctx, &svcs, client.MatchingLabels{managedByLabel: managedByValue}); err != nil {
		return fmt.Errorf("listing Services to replay the grants: %w", err)
	}
	services := map[string]*corev1.Service{}
	for i := range svcs.Items {
		services[svcs.Items[i].Namespace+"/"+svcs.Items[i].Name] = &svcs.Items[i]
	}
	logger := log.FromContext(ctx)
	var records []record
	for i := range list.Items {
		srv := &list.Items[i]
		if !srv.DeletionTimestamp.IsZero() {
			continue
		}
		rec, ok := recordOf(srv, services[keyOf(srv)])
		if !ok {
			continue
		}
		if st := srv.Status.PassivePorts; rec.fromService && st != nil && (st.Start != rec.grant.Start || st.End != rec.grant.End) {
			logger.Info("status.passivePorts disagrees with the Service; the Service wins", "ftpserver", rec.key,
				"status", st.String(), "service", rec.grant.String())
		}
		records = append(records, rec)
	}
	slices.SortFunc(records, func(a, b record) int {
		if a.fromService != b.fromService {
			if a.fromService {
				return -1
			}
			return 1
		}
		if c := a.since.Compare(b.since.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	replayed, outside := 0, 0
	for _, rec := range records {
		if err := r.Allocator.Keep(rec.key, rec.grant); err != nil {
			// The server is given a new range when it is reconciled, and told why.
			logger.Error(err, "replaying a recorded grant", "ftpserver", rec.key, "range", rec.grant.String(), "fromService", rec.fromService)
			r.collided(rec.key, rec.grant, err)
			continue
		}
		replayed++
		if !r.Allocator.InPool(rec.grant) {
			outside++
		}
	}
	logger.Info("replayed passive-port grants", "grants", replayed, "outsidePool", outside, "freePorts", r.Allocator.Free())
	r.replayed = true
	return nil
}

// recordOf is the grant recorded for srv: the passive ports of its Service when the operator made that Service
// for a server of this name, else status.passivePorts.
func recordOf(srv *ftpv1.FTPServer, svc *corev1.Service) (record, bool) {
	if svc != nil && madeFor(svc, srv) {
		if g, ok := serviceGrant(svc); ok {
			return record{key: keyOf(srv), grant: g, fromService: true, since: svc.CreationTimestamp}, true
		}
	}
	if g := srv.Status.PassivePorts; g != nil {
		return record{key: keyOf(srv), grant: render.PortRange(*g), since: srv.CreationTimestamp}, true
	}
	return record{}, false
}

// recoverGrant, for a server that holds no grant, takes back the range its Service exposes: the server was
// recreated without status (a GitOps restore), or its status was lost, while the Service stayed. No port churns.
func (r *FTPServerReconciler) recoverGrant(ctx context.Context, srv *ftpv1.FTPServer) {
	if _, held := r.Allocator.Get(keyOf(srv)); held {
		return
	}
	var svc corev1.Service
	if err := r.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.ServiceName(srv)}, &svc); err != nil {
		return
	}
	if !madeFor(&svc, srv) {
		return
	}
	if g, ok := serviceGrant(&svc); ok && r.Allocator.Keep(keyOf(srv), g) == nil {
		log.FromContext(ctx).Info("took back the passive ports the Service exposes", "range", g.String())
	}
}

// collided notes that key's recorded range could not be kept, for the condition of its next pass.
func (r *FTPServerReconciler) collided(key string, g portalloc.Range, err error) {
	r.collisionsMu.Lock()
	defer r.collisionsMu.Unlock()
	if r.collisions == nil {
		r.collisions = map[string]collision{}
	}
	c := collision{recorded: g}
	if ce, ok := err.(*portalloc.ConflictError); ok {
		c.span, c.holder = ce.Span, ce.Holder
	}
	r.collisions[key] = c
}

// collisionFor returns the collision noted for key while key holds got, the range it was given instead. The note
// stays until the grant changes or is released, so that a pass that starts from a cached status older than the
// one that reported the collision reports it again instead of overwriting it.
func (r *FTPServerReconciler) collisionFor(key string, got portalloc.Range) (collision, bool) {
	r.collisionsMu.Lock()
	defer r.collisionsMu.Unlock()
	c, ok := r.collisions[key]
	if !ok {
		return collision{}, false
	}
	if c.given == (portalloc.Range{}) {
		c.given = got
		r.collisions[key] = c
	}
	if c.given != got || c.recorded == got {
		delete(r.collisions, key)
		return collision{}, false
	}
	return c, true
}

// forgetCollision drops the collision noted for key (its grant was released).
func (r *FTPServerReconciler) forgetCollision(key string) {
	r.collisionsMu.Lock()
	defer r.collisionsMu.Unlock()
	delete(r.collisions, key)
}

type collision struct {
	recorded portalloc.Range
	given    portalloc.Range // the range the server got instead, set on its first pass after the replay
	span     portalloc.Range // the part of recorded that the older grant holds
	holder   string
}

const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "ftp-operator"
)

// madeFor reports whether the operator made obj for a server of srv's name: its controller ownerRef is an
// FTPServer of that name — srv itself, or its predecessor of the same name, which a restore replaced (two
// FTPServers never share a name, so that owner is gone) — and it carries the operator's label. An object someone
// else made is never read as a record nor adopted.
func madeFor(obj client.Object, srv *ftpv1.FTPServer) bool {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "FTPServer" || ref.Name != srv.Name || !strings.HasPrefix(ref.APIVersion, ftpv1.GroupVersion.Group+"/") {
		return false
	}
	return obj.GetLabels()[managedByLabel] == managedByValue
}

// serviceGrant is the passive range a Service records: its render.GrantAnnotation (a server with several replicas,
// whose passive ports are on the Services of its pods, which are never read as records), else its pasv-<port>
// ports, which must be contiguous.
func serviceGrant(svc *corev1.Service) (portalloc.Range, bool) {
	if a, ok := svc.Annotations[render.GrantAnnotation]; ok {
		g, err := render.ParseGrantAnnotation(a)
		return g, err == nil
	}
	var ports []int32
	for _, p := range svc.Spec.Ports {
		if p.Name == render.PassivePortName(p.Port) {
			ports = append(ports, p.Port)
		}
	}
	if len(ports) == 0 {
		return portalloc.Range{}, false
	}
	slices.Sort(ports)
	g := portalloc.Range{Start: ports[0], End: ports[len(ports)-1]}
	return g, int(g.Size()) == len(slices.Compact(ports))
}

// holderName names the holder of a conflicting port in a condition of srv: the key of a server in the same
// namespace, the reason of a block, and never the name of a server in another namespace.
func holderName(srv *ftpv1.FTPServer, holder string, blocked bool) string {
	if blocked {
		return holder
	}
	if ns, _, _ := strings.Cut(holder, "/"); ns == srv.Namespace {
		return "FTPServer " + holder
	}
	return "another FTPServer"
}
