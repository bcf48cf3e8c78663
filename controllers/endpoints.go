package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// A pod of a server with several replicas carries a session only when two Services route to it: the control
// Service (port 21, every ready pod) and its own Service <name>-pasv-<i> (its slice of the passive range). The
// EndpointSlice controller adds a pod to each Service's slices on its own time, so a pod the StatefulSet counts
// ready can take control connections while its passive ports are still refused (a CI run had one of 30 clients
// refused its data connection right after Ready). So with several replicas:
//   - status.readyReplicas counts a pod only when the EndpointSlices of both Services list it, by UID, as a ready
//     endpoint, and have for RouteSettle (the nodes' proxies program a listing a moment after it appears);
//   - the server is not Ready (WorkloadReady Progressing, naming the pods) while a pod that is Ready is not yet a
//     ready endpoint of its own Service, or has been for less than RouteSettle: the control Service may already
//     send it sessions. A pod that its own Service lists but the control Service not yet gets no session, so it
//     only waits to be counted.
//   - with Relay routing there are no pods' Services: the control Service carries every port and a pod relays a
//     data connection of another pod's slice to that pod's address, so a pod counts once the control Service has
//     listed it for RouteSettle, and a pod not yet listed holds nothing up.
//
// With one replica the same Service carries the control port and the passive ports, so one endpoint entry routes
// both: a session whose control connection got through has its data ports too. That case keeps its Deployment's
// readiness, as before (docs/high-availability.md, "When a server is Ready").
//
// The slices are cached with the operator's label selector (ScopeCache): the EndpointSlice controller copies a
// Service's labels to its slices (k8s.io/endpointslice, setEndpointSliceLabels; only kubernetes.io/service-name,
// endpointslice.kubernetes.io/managed-by and service.kubernetes.io/headless are its own), so the slices of our
// Services carry app.kubernetes.io/managed-by=ftp-operator and the server's instance label, and no other slice of
// the cluster is cached.

// RouteSettle is how long a pod's Services must have listed it before the operator counts on them. A ready endpoint
// is what the nodes' service proxies program from, not yet the rules themselves: kube-proxy applies endpoint
// changes at most once per --iptables-min-sync-period (nftables: --nftables-min-sync-period), 1 s by default, and
// the rules take a moment to load. The e2e run of TestReplicasClients saw a data connection refused 61 ms after
// the slices listed the pod; the operator cannot see the nodes' rules, so it waits this long instead.
const RouteSettle = 2 * time.Second

// podRouting is what the Services' EndpointSlices say of the pods of a server with several replicas.
type podRouting struct {
	// routed is how many pods both the control Service and their own Service have routed to for RouteSettle.
	routed int32
	// waiting names the pods that are Ready but that their own Service does not route to yet (not listed, or
	// listed for less than RouteSettle).
	waiting []string
	// recheck is when the next listing becomes settled (0: none pending).
	recheck time.Duration
}

// routedPods reads the pods 0..n-1 of srv and the EndpointSlices of its Services from the cache.
func (r *FTPServerReconciler) routedPods(ctx context.Context, srv *ftpv1.FTPServer, n int32) (podRouting, error) {
	var rt podRouting
	control, err := r.readyEndpoints(ctx, srv.Namespace, render.ServiceName(srv))
	if err != nil {
		return rt, err
	}
	type podState struct {
		pod     *corev1.Pod
		service string
	}
	var ready []podState
	listed := map[types.UID]listing{}
	for i := range n {
		pod := &corev1.Pod{}
		err := r.Get(ctx, client.ObjectKey{Namespace: srv.Namespace, Name: render.PodName(srv, i)}, pod)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return rt, fmt.Errorf("reading pod %s: %w", render.PodName(srv, i), err)
		}
		if !podReady(pod) {
			continue
		}
		// With Relay routing the one Service carries every port: it is each pod's own Service too.
		own, service := control, render.ServiceName(srv)
		if !srv.Spec.Relayed() {
			service = render.PodServiceName(srv, i)
			if own, err = r.readyEndpoints(ctx, srv.Namespace, service); err != nil {
				return rt, err
			}
		}
		ready = append(ready, podState{pod, service})
		listed[pod.UID] = listing{own: own[pod.UID], both: own[pod.UID] && control[pod.UID]}
	}
	now := time.Now()
	since := r.routes.observe(client.ObjectKeyFromObject(srv), now, listed)
	later := func(at time.Time) {
		if d := at.Add(RouteSettle).Sub(now); d > 0 && (rt.recheck == 0 || d < rt.recheck) {
			rt.recheck = d
		}
	}
	// With Relay any pod carries any data connection to its owner (by pod address), so a pod not yet routed holds
	// nothing up: it only waits to be counted.
	relayed := srv.Spec.Relayed()
	for _, ps := range ready {
		l, t := listed[ps.pod.UID], since[ps.pod.UID]
		switch {
		case relayed && !l.both:
		case relayed && now.Sub(t.both) < RouteSettle:
			later(t.both)
		case !l.own:
			rt.waiting = append(rt.waiting, fmt.Sprintf("Service %s to route to pod %s", ps.service, ps.pod.Name))
		case now.Sub(t.own) < RouteSettle:
			rt.waiting = append(rt.waiting, fmt.Sprintf("Service %s to route to pod %s (listed %s ago; the nodes' proxies are given %s)",
				ps.service, ps.pod.Name, now.Sub(t.own).Round(10*time.Millisecond), RouteSettle))
			later(t.own)
		case !l.both:
			// No session reaches it before the control Service lists it: it waits to be counted only.
		case now.Sub(t.both) < RouteSettle:
			later(t.both)
		default:
			rt.routed++
		}
	}
	return rt, nil
}

// listing says whether a pod is a ready endpoint of its own Service, and of both its Services.
type listing struct{ own, both bool }

// routeClock remembers, per server, since when each pod has been listed by its own Service and by both, so that a
// listing counts only once it is RouteSettle old. It is memory only: a restarted operator waits RouteSettle again.
type routeClock struct {
	mu    sync.Mutex
	since map[types.NamespacedName]map[types.UID]routeTimes
}

type routeTimes struct{ own, both time.Time }

// observe records the listings of server key's ready pods at now, keeping the time each was first seen and
// dropping the pods and listings that are gone, and returns the times.
func (c *routeClock) observe(key types.NamespacedName, now time.Time, listed map[types.UID]listing) map[types.UID]routeTimes {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since == nil {
		c.since = map[types.NamespacedName]map[types.UID]routeTimes{}
	}
	old, cur := c.since[key], map[types.UID]routeTimes{}
	for uid, l := range listed {
		t := old[uid]
		if !l.own {
			t.own = time.Time{}
		} else if t.own.IsZero() {
			t.own = now
		}
		if !l.both {
			t.both = time.Time{}
		} else if t.both.IsZero() {
			t.both = now
		}
		cur[uid] = t
	}
	c.since[key] = cur
	return cur
}

// forget drops what is known of server key (deleted, or back at one replica).
func (c *routeClock) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.since, key)
}

// readyEndpoints are the UIDs of the pods that the EndpointSlices of Service name list as ready (a terminating pod
// never is: the EndpointSlice controller sets ready only for a serving pod that is not terminating).
func (r *FTPServerReconciler) readyEndpoints(ctx context.Context, namespace, name string) (map[types.UID]bool, error) {
	var slices discoveryv1.EndpointSliceList
	if err := r.List(ctx, &slices, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
		return nil, fmt.Errorf("listing the EndpointSlices of Service %s: %w", name, err)
	}
	ready := map[types.UID]bool{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			// A nil ready means ready (the API's documented default).
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				ready[ep.TargetRef.UID] = true
			}
		}
	}
	return ready, nil
}

// podReady: the pod runs, is Ready, and is not being deleted.
func podReady(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
