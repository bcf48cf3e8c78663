//go:build chaos

// Package chaos holds the fault tests of issue 14 (`make test-chaos`): the operator's manager as a real process
// against a real kube-apiserver and etcd (envtest), killed with SIGKILL, failed over to a standby, and cut off
// from its API server, while FTPServers are created and deleted. Each test starts its own API server, so that
// the operator, which watches every namespace, sees only that test's servers. After each fault the end state is
// checked against the allocator's rule: every live server holds a grant; no two grants overlap; each server's
// Service and Deployment carry exactly its grant; deleted servers' ports can be handed out again.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// portsPerServer keeps Services small; the pools below are sized in these units.
const portsPerServer = 4

// shortLease makes a standby take over within seconds (the defaults are 15 s / 10 s / 2 s).
var shortLease = []string{"--leader-elect=true", "--leader-election-namespace=default",
	"--leader-election-lease-duration=4s", "--leader-election-renew-deadline=3s", "--leader-election-retry-period=500ms"}

func TestMain(m *testing.M) {
	if err := support.UseEnvtestAssets(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	support.SetOperatorLogger()
	os.Exit(m.Run())
}

// cluster is one envtest API server for one test, with a client and an operator kubeconfig.
type cluster struct {
	env        *envtest.Environment
	k8s        client.Client
	kubeconfig string
}

// startCluster starts kube-apiserver and etcd. The API server's certificates live in a folder of the test's, so
// that a restarted API server (see outage) serves the same CA on the same port and every client reconnects.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	e := support.EnvtestFor(t, support.EnvtestOptions{CertDir: t.TempDir()})
	c := e.Client
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}}); err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "users"}, StringData: map[string]string{"password": "s3cret"}}
	if err := c.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return &cluster{env: e.Env, k8s: c, kubeconfig: support.Kubeconfig(t, e.Env, "ftp-operator")}
}

const ns = "chaos"

func server(name string) *ftpv1.FTPServer {
	return &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: ftpv1.FTPServerSpec{
			Users:        []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
			PassivePorts: ftpv1.PassivePorts{Count: ptr.To[int32](portsPerServer)},
			Service:      ftpv1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
		},
	}
}

// createAll creates servers named prefix0000… by 16 clients, one started every interval (0: as fast as they
// go); a failed create is retried (the API server may be down) until deadline; AlreadyExists counts as done (an
// earlier attempt may have reached etcd).
func (c *cluster) createAll(t *testing.T, prefix string, from, to int, interval time.Duration, deadline time.Time, created *atomic.Int32) error {
	var wg sync.WaitGroup
	next := make(chan int)
	var firstErr error
	var mu sync.Mutex
	for range 16 {
		wg.Go(func() {
			for i := range next {
				for {
					err := c.k8s.Create(context.Background(), server(fmt.Sprintf("%s%04d", prefix, i)))
					if err == nil || apierrors.IsAlreadyExists(err) {
						if created != nil {
							created.Add(1)
						}
						break
					}
					if time.Now().After(deadline) {
						mu.Lock()
						firstErr = errors.Join(firstErr, err)
						mu.Unlock()
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
		})
	}
	for i := from; i < to; i++ {
		next <- i
		time.Sleep(interval)
	}
	close(next)
	wg.Wait()
	return firstErr
}

// deleteAll deletes the named servers, one every interval, retrying until deadline; NotFound counts as done.
func (c *cluster) deleteAll(names []string, interval time.Duration, deadline time.Time) error {
	for _, n := range names {
		time.Sleep(interval)
		for {
			err := c.k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}})
			if err == nil || apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// waitAllGranted waits until want servers exist and each holds a grant; it returns how many do when it gives up.
func (c *cluster) waitAllGranted(t *testing.T, want int, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	got := 0
	for time.Since(start) < timeout {
		var list ftpv1.FTPServerList
		if err := c.k8s.List(context.Background(), &list, client.InNamespace(ns)); err == nil {
			got = 0
			for _, s := range list.Items {
				if s.Status.PassivePorts != nil && s.DeletionTimestamp.IsZero() {
					got++
				}
			}
			if got == want && len(list.Items) == want {
				return got, time.Since(start)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return got, time.Since(start)
}

// grants lists the grant of every server that has one.
func (c *cluster) grants(t *testing.T) map[string]ftpv1.PortRange {
	t.Helper()
	var list ftpv1.FTPServerList
	if err := c.k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]ftpv1.PortRange{}
	for _, s := range list.Items {
		if s.Status.PassivePorts != nil {
			out[s.Name] = *s.Status.PassivePorts
		}
	}
	return out
}

// checkConsistent checks the end state: every live server is granted, inside pool, with no port granted twice;
// its Service exposes exactly the grant's ports and its Deployment runs the engine with exactly the grant; no
// server is left terminating. It waits (up to timeout) for the children to catch up with the last grant.
func (c *cluster) checkConsistent(t *testing.T, pool portalloc.Range, timeout time.Duration) int {
	t.Helper()
	var problems []string
	var servers int
	deadline := time.Now().Add(timeout)
	for {
		problems, servers = c.inconsistencies(pool)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(problems) > 0 {
		t.Fatalf("%d inconsistencies among %d servers, first ones: %v", len(problems), servers, problems[:min(len(problems), 10)])
	}
	return servers
}

func (c *cluster) inconsistencies(pool portalloc.Range) ([]string, int) {
	ctx := context.Background()
	var list ftpv1.FTPServerList
	var svcs corev1.ServiceList
	var deps appsv1.DeploymentList
	for _, l := range []client.ObjectList{&list, &svcs, &deps} {
		if err := c.k8s.List(ctx, l, client.InNamespace(ns)); err != nil {
			return []string{err.Error()}, 0
		}
	}
	svcOf := map[types.UID]*corev1.Service{}
	for i := range svcs.Items {
		if o := metav1.GetControllerOf(&svcs.Items[i]); o != nil {
			svcOf[o.UID] = &svcs.Items[i]
		}
	}
	depOf := map[types.UID]*appsv1.Deployment{}
	for i := range deps.Items {
		if o := metav1.GetControllerOf(&deps.Items[i]); o != nil {
			depOf[o.UID] = &deps.Items[i]
		}
	}
	var problems []string
	holder := map[int32]string{}
	for i := range list.Items {
		s := &list.Items[i]
		if !s.DeletionTimestamp.IsZero() {
			problems = append(problems, s.Name+": terminating")
			continue
		}
		g := s.Status.PassivePorts
		if g == nil {
			problems = append(problems, s.Name+": no grant")
			continue
		}
		if !pool.Contains(g.Start) || !pool.Contains(g.End) || g.Size() != portsPerServer {
			problems = append(problems, fmt.Sprintf("%s: grant %s outside the pool or of the wrong size", s.Name, g))
		}
		for p := g.Start; p <= g.End; p++ {
			if other, dup := holder[p]; dup {
				problems = append(problems, fmt.Sprintf("port %d granted to %s and %s", p, other, s.Name))
			}
			holder[p] = s.Name
		}
		svc := svcOf[s.UID]
		if svc == nil {
			problems = append(problems, s.Name+": no Service")
		} else {
			var got []int32
			for _, sp := range svc.Spec.Ports {
				if sp.Name == render.PassivePortName(sp.Port) {
					got = append(got, sp.Port)
				}
			}
			slices.Sort(got)
			var want []int32
			for p := g.Start; p <= g.End; p++ {
				want = append(want, p)
			}
			if !slices.Equal(got, want) {
				problems = append(problems, fmt.Sprintf("%s: Service passive ports %v, grant %s", s.Name, got, g))
			}
		}
		dep := depOf[s.UID]
		if dep == nil {
			problems = append(problems, s.Name+": no Deployment")
		} else if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, render.EngineArgs(s, *g)) {
			problems = append(problems, fmt.Sprintf("%s: engine args %v, grant %s", s.Name, args, g))
		}
	}
	return problems, len(list.Items)
}

// leaseHolder is the identity holding the operator's leader-election lease, or "".
func (c *cluster) leaseHolder() string {
	var l coordinationv1.Lease
	if err := c.k8s.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "ftp-operator.ftpoperator.io"}, &l); err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// waitFor polls cond every 100 ms until it returns true, for at most timeout, and returns how long that took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return support.WaitFor(t, timeout, 100*time.Millisecond, what, cond)
}

func poolFlag(p portalloc.Range) string { return "--passive-port-pool=" + p.String() }
