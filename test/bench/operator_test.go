//go:build bench

package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/internal/render"
	"github.com/ftp-operator/ftp-operator/test/support"
)

func quick() bool { q := os.Getenv("BENCH_QUICK"); return q != "" && q != "0" }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func workers() int { return envInt("BENCH_OPERATOR_WORKERS", 0) }

// cpuSeconds is the CPU time (user+system) used so far by this process (the engine and the clients) and by its
// children: the operator's manager (self, with this process), kube-apiserver and etcd (started by envtest), from
// /proc.
func cpuSeconds() (self, apiserver, etcd float64) {
	read := func(pid int) (string, float64) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return "", 0
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		f := strings.Fields(s[j+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		return s[i+1 : j], (ut + st) / 100 // USER_HZ
	}
	_, self = read(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		j := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[j+2:]); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			switch name, sec := read(pid); name {
			case "kube-apiserver":
				apiserver += sec
			case "etcd":
				etcd += sec
			case "ftp-operator":
				self += sec
			}
		}
	}
	return
}

func newNamespace(t *testing.T, name string) string {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "users"}, StringData: map[string]string{"password": "s3cret"}}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestThousandFTPServers: the time from creating N FTPServers (16 passive ports each, the default) to every one
// holding a grant in status.passivePorts, and no two grants overlapping.
func TestThousandFTPServers(t *testing.T) {
	n := envInt("BENCH_OPERATOR_SERVERS", 1000)
	if quick() {
		n = envInt("BENCH_OPERATOR_SERVERS", 200)
	}
	ns := newNamespace(t, "bench-scale")
	pool := portalloc.Range{Start: 20000, End: 20000 + int32(n)*16 + 999}
	op := startOperator(t, ns, pool)

	wc, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := wc.Watch(context.Background(), &ftpv1.FTPServerList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	// Wait on a watch, not by listing 1,000 objects in a loop: polling would load the API server we are
	// measuring. The watch is read from the start (an unread watch is closed by the API server when its buffer
	// fills); if it closes anyway, a new one replays the current state of every object.
	grantedCh := make(chan struct{})
	var grantedN atomic.Int32
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go func() {
		granted := map[string]bool{}
		w := watcher
		for watchCtx.Err() == nil {
			for ev := range w.ResultChan() {
				if s, ok := ev.Object.(*ftpv1.FTPServer); ok && s.Status.PassivePorts != nil && !granted[s.Name] {
					granted[s.Name] = true
					grantedN.Store(int32(len(granted)))
					if len(granted) == n {
						close(grantedCh)
						w.Stop()
						return
					}
				}
			}
			var err error
			if w, err = wc.Watch(watchCtx, &ftpv1.FTPServerList{}, client.InNamespace(ns)); err != nil {
				time.Sleep(100 * time.Millisecond)
				w = watch.NewEmptyWatch()
			}
		}
	}()
	self0, api0, etcd0 := cpuSeconds()
	writes0, err := apiRequests()
	if err != nil {
		t.Fatal(err)
	}
	// With $BENCH_PROFILE_DIR: CPU profiles of the first 20 s of the burst, kube-apiserver.pprof and operator.pprof.
	waitProfile := apiServerProfile(t, "kube-apiserver", "20")
	waitOperatorProfile := operatorProfile(t, op.Args(), "operator", "20")
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Go(func() {
			for i := range next {
				srv := &ftpv1.FTPServer{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s%04d", i)},
					Spec: ftpv1.FTPServerSpec{
						Users:   []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
						Service: ftpv1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
					},
				}
				if err := k8s.Create(context.Background(), srv); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	created := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	select {
	case <-grantedCh:
	case <-op.Done():
		t.Fatal("the operator exited during the burst (its log's tail follows)")
	case <-time.After(5*time.Minute - time.Since(start)):
	}
	elapsed := time.Since(start)
	self1, api1, etcd1 := cpuSeconds()
	waitProfile()
	waitOperatorProfile()
	writes1, err := apiRequests()
	if err != nil {
		t.Fatal(err)
	}
	writes, byKind := requestsBetween(writes0, writes1, n, writeVerbs)
	reads, readKinds := requestsBetween(writes0, writes1, n, readVerbs)
	// The operator's caches now hold the n servers and their children.
	rss, peak, err := op.Memory()
	if err != nil {
		t.Fatal(err)
	}
	stopWatch()
	watcher.Stop()
	if got := int(grantedN.Load()); got != n {
		t.Fatalf("%d of %d FTPServers granted after %s", got, n, elapsed.Round(time.Second))
	}
	var list ftpv1.FTPServerList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	owner := map[int32]string{}
	for _, s := range list.Items {
		g := s.Status.PassivePorts
		if !pool.Contains(g.Start) || !pool.Contains(g.End) || g.Size() != 16 {
			t.Fatalf("%s: grant %s outside the pool %s or not 16 ports", s.Name, g, pool)
		}
		for p := g.Start; p <= g.End; p++ {
			if o, dup := owner[p]; dup {
				t.Fatalf("port %d granted to %s and %s", p, o, s.Name)
			}
			owner[p] = s.Name
		}
	}
	var svcs corev1.ServiceList
	if err := k8s.List(context.Background(), &svcs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(svcs.Items) != n {
		t.Errorf("%d Services for %d FTPServers", len(svcs.Items), n)
	}
	// The namespace's engine identity: one Role that names every server's address ConfigMap.
	var role rbacv1.Role
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.EngineIdentityName}, &role); err != nil {
		t.Fatal(err)
	}
	if got := len(role.Rules[0].ResourceNames); got != n {
		t.Errorf("the engine Role names %d ConfigMaps for %d FTPServers", got, n)
	}
	pass := elapsed < 15*time.Second
	w := "the manager's default reconcile workers (--max-concurrent-reconciles)"
	if workers() > 0 {
		w = fmt.Sprintf("%d reconcile workers (BENCH_OPERATOR_WORKERS)", workers())
	}
	record(t, result{Name: fmt.Sprintf("%d FTPServers created → all ranges allocated", n), Value: elapsed.Seconds(), Unit: "s",
		Target: fmt.Sprintf("%d FTPServers allocated, a Service each, in under 15 s", n), Pass: &pass,
		Note: fmt.Sprintf("creates by 32 clients took %.1f s; no overlap among %d ports; a Service for each; %s; "+
			"CPU used meanwhile: kube-apiserver %.1f s, etcd %.1f s, operator+test clients %.1f s",
			created.Seconds(), len(owner), w, api1-api0, etcd1-etcd0, self1-self0)})
	record(t, result{Name: "API writes per FTPServer", Value: writes / float64(n), Unit: "writes",
		Note: fmt.Sprintf("%.0f writes (POST, PUT, PATCH, APPLY, DELETE in apiserver_request_total, the test's %d creates included) until all were allocated; per server: %s",
			writes, n, byKind)})
	record(t, result{Name: "API reads per FTPServer", Value: reads / float64(n), Unit: "reads",
		Note: fmt.Sprintf("%.0f GETs and LISTs (apiserver_request_total, the test's included) until all were allocated; per server: %s", reads, readKinds)})
	record(t, result{Name: fmt.Sprintf("operator memory with %d FTPServers", n), Value: float64(rss) / (1 << 20), Unit: "MB RSS",
		Note: fmt.Sprintf("ftp-operator manager as a process, its caches holding the servers and their children, once all were allocated (peak %.1f MB)",
			float64(peak)/(1<<20))})
	record(t, result{Name: "allocation throughput", Value: float64(n) / elapsed.Seconds(), Unit: "FTPServers/s",
		Note: "including each server's Service, Deployment, users Secret and address ConfigMap, and the namespace's engine identity"})
}

// TestAddressChange: MetalLB's controller moves the Service to another address; we time from the moment the
// Service's status.loadBalancer changes to the moment the engine's 227 reply carries the new address (the
// operator reconciles the Service into status.address; the engine follows it through its own watch).
func TestAddressChange(t *testing.T) {
	if metallbDir == "" {
		t.Skip("MetalLB controller not built (hack/metallb.sh)")
	}
	support.MetalLB{Dir: metallbDir, PoolName: "bench", Addresses: metallbPool, Class: metallbClass, LogLevel: "warn"}.Start(t, testEnv, k8s)
	ns := newNamespace(t, "bench-address")
	startOperator(t, ns, portalloc.Range{Start: 30000, End: 30099})
	srv := &ftpv1.FTPServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lb"},
		Spec: ftpv1.FTPServerSpec{
			Users:        []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
			PassivePorts: ftpv1.PassivePorts{Count: ptr.To[int32](3)},
			Service:      ftpv1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: ptr.To(metallbClass)},
		},
	}
	if err := k8s.Create(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	engine, addr := support.StartEngine(t)
	saCfg := rest.CopyConfig(restConfig)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, render.EngineIdentityName)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	key := types.NamespacedName{Namespace: ns, Name: "lb"}
	waitFor(t, 30*time.Second, "engine follower started", func() bool {
		return addressfollow.Follow(ctx, support.EngineClient(t, saCfg), engineconfig.FollowTarget{Namespace: ns, Name: "lb"}, engine.SetPublicAddress) == nil
	})
	current := ""
	waitFor(t, 60*time.Second, "first MetalLB address in the 227 reply", func() bool {
		s := &ftpv1.FTPServer{}
		if k8s.Get(context.Background(), key, s) != nil || s.Status.Address == "" {
			return false
		}
		current = s.Status.Address
		reply, _ := support.PASVReply(addr)
		return strings.Contains(reply, pasvAddr(current))
	})

	moves := 7
	if quick() {
		moves = 3
	}
	wc, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	svcWatch, err := wc.Watch(context.Background(), &corev1.ServiceList{}, client.InNamespace(ns),
		client.MatchingFields{"metadata.name": "lb"})
	if err != nil {
		t.Fatal(err)
	}
	defer svcWatch.Stop()
	// Drain the initial events (the current state) so that only changes are seen below.
	for drained := false; !drained; {
		select {
		case <-svcWatch.ResultChan():
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
	var fromService, fromSpec []float64
	lo := netip.MustParseAddr("198.51.100.10")
	for i := 0; i < moves; i++ {
		// The next address of the pool that is not the current one.
		next := lo
		for j := 0; j <= i%10+1; j++ {
			next = next.Next()
		}
		if next.String() == current {
			next = next.Next()
		}
		s := &ftpv1.FTPServer{}
		if err := k8s.Get(context.Background(), key, s); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(s.DeepCopy())
		s.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": next.String()}
		asked := time.Now()
		if err := k8s.Patch(context.Background(), s, patch); err != nil {
			t.Fatal(err)
		}
		// Two observers: a watch on the Service's status (no polling of the API server we measure), and the
		// engine's 227 reply, polled every 2 ms on loopback.
		var svcAt, engineAt time.Time
		var wg sync.WaitGroup
		stop := time.Now().Add(30 * time.Second)
		wg.Go(func() {
			timeout := time.After(time.Until(stop))
			for {
				select {
				case ev, ok := <-svcWatch.ResultChan():
					if !ok {
						return
					}
					if svc, ok := ev.Object.(*corev1.Service); ok {
						ing := svc.Status.LoadBalancer.Ingress
						if len(ing) > 0 && ing[0].IP == next.String() {
							svcAt = time.Now()
							return
						}
					}
				case <-timeout:
					return
				}
			}
		})
		wg.Go(func() {
			want := pasvAddr(next.String())
			for time.Now().Before(stop) {
				if reply, _ := support.PASVReply(addr); strings.Contains(reply, want) {
					engineAt = time.Now()
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
		wg.Wait()
		if svcAt.IsZero() || engineAt.IsZero() {
			t.Fatalf("move %d to %s: Service updated %v, engine %v (within 30 s)", i, next, !svcAt.IsZero(), !engineAt.IsZero())
		}
		d := engineAt.Sub(svcAt)
		fromService = append(fromService, max(d, 0).Seconds()*1000)
		fromSpec = append(fromSpec, engineAt.Sub(asked).Seconds()*1000)
		t.Logf("move %d: %s → %s: Service status after %s, engine after %s more", i, current, next,
			svcAt.Sub(asked).Round(time.Millisecond), d.Round(time.Millisecond))
		current = next.String()
	}
	slices.Sort(fromService)
	slices.Sort(fromSpec)
	med, worst := fromService[len(fromService)/2], fromService[len(fromService)-1]
	pass := worst < 1000
	record(t, result{Name: "Service load-balancer status change → engine advertises the new address", Value: med, Unit: "ms (median)",
		Target: "address change visible in under 1 s", Pass: &pass,
		Note: fmt.Sprintf("%d MetalLB re-assignments; max %.0f ms; Service seen by a watch, engine polled every 2 ms (PASV over a fresh session)", moves, worst)})
	record(t, result{Name: "FTPServer spec change → engine advertises the new address", Value: fromSpec[len(fromSpec)/2], Unit: "ms (median)",
		Note: fmt.Sprintf("includes MetalLB's own reaction; max %.0f ms", fromSpec[len(fromSpec)-1])})
}

// waitFor polls cond every 20 ms until it returns true, for at most timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	support.WaitFor(t, timeout, 20*time.Millisecond, what, cond)
}

func pasvAddr(ip string) string { return "(" + strings.ReplaceAll(ip, ".", ",") + "," }

const (
	metallbPool  = "198.51.100.10-198.51.100.20" // RFC 5737: only in status and 227 replies; nothing dials it
	metallbClass = "metallb.test/ftp"
)
