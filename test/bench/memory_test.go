//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestOperatorMemoryWithUnrelatedObjects (issue 14): the resident memory of the operator, run as its own process
// (`ftp-operator manager`, the binary the chart deploys), once on an API server that holds nothing but one
// FTPServer, once more after 10,000 Secrets (1 KiB each) and 10,000 ConfigMaps (1 KiB each) that are not the
// operator's were added in another namespace (the operator should not pay for objects it does not own), and a third
// time after 10,000 more Secrets were added next to the FTPServer, where it watches every Secret's metadata.
func TestOperatorMemoryWithUnrelatedObjects(t *testing.T) {
	n := envInt("BENCH_UNRELATED_OBJECTS", 10000)
	if quick() {
		n = envInt("BENCH_UNRELATED_OBJECTS", 2000)
	}
	bin := support.OperatorBinary(t)
	kc := support.ManagerKubeconfig(t, restConfig, "ftp-operator-system", "operator-memory") // as startOperator
	ns := newNamespace(t, "bench-memory")
	other := newNamespace(t, "bench-unrelated")
	t.Cleanup(func() {
		ctx := context.Background()
		_ = k8s.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(other))
		_ = k8s.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(other))
		_ = k8s.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns))
		_ = k8s.DeleteAllOf(ctx, &ftpv1.FTPServer{}, client.InNamespace(ns))
	})

	// measure starts the operator, waits until it has reconciled a new FTPServer (its caches are synced by
	// then) and has settled, and returns its resident set and its peak.
	measure := func(server string) (rss, peak int64, heap string) {
		t.Helper()
		metrics := fmt.Sprintf("127.0.0.1:%d", support.FreePort(t))
		op := support.StartOperatorProcess(t, bin, kc, "operator-"+server, "--leader-elect=false", "--passive-port-pool=31000-31099",
			"--metrics-bind-address="+metrics)
		defer op.Kill()
		srv := &ftpv1.FTPServer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: server},
			Spec: ftpv1.FTPServerSpec{
				Users:   []ftpv1.User{{Name: "acme", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "users"}}},
				Service: ftpv1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
			},
		}
		if err := k8s.Create(context.Background(), srv); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, server+" granted", func() bool {
			s := &ftpv1.FTPServer{}
			return k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: server}, s) == nil && s.Status.PassivePorts != nil
		})
		// Let the first burst of garbage be collected: sample for 10 s and keep the lowest reading.
		rss = 1 << 62
		for range 10 {
			time.Sleep(time.Second)
			r, p, err := op.Memory()
			if err != nil {
				t.Fatal(err)
			}
			rss, peak = min(rss, r), max(peak, p)
		}
		return rss, peak, goHeap(metrics)
	}

	rss0, peak0, heap0 := measure("empty")
	// fill creates n Secrets (and as many ConfigMaps, if configMaps) of 1 KiB in namespace, named with prefix.
	fill := func(namespace, prefix string, configMaps bool) {
		t.Helper()
		start := time.Now()
		payload := strings.Repeat("x", 1024)
		var wg sync.WaitGroup
		next := make(chan int)
		errs := make(chan error, 64)
		for range 32 {
			wg.Go(func() {
				for i := range next {
					ctx := context.Background()
					objs := []client.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("%ss%05d", prefix, i)},
						Data: map[string][]byte{"blob": []byte(payload)}}}
					if configMaps {
						objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("%sc%05d", prefix, i)},
							Data: map[string]string{"blob": payload}})
					}
					for _, o := range objs {
						if err := k8s.Create(ctx, o); err != nil {
							select {
							case errs <- err:
							default:
							}
						}
					}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		t.Logf("created %d objects of each kind in %s in %s", n, namespace, time.Since(start).Round(time.Second))
	}
	fill(other, "", true)
	rss1, peak1, heap1 := measure("crowded")

	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	delta := mb(rss1 - rss0)
	pass := delta <= 10
	t.Logf("RSS %.1f MB → %.1f MB (peak %.1f → %.1f MB); Go heap %s → %s", mb(rss0), mb(rss1), mb(peak0), mb(peak1), heap0, heap1)
	record(t, result{Name: fmt.Sprintf("operator RSS growth with %d unrelated Secrets + %d ConfigMaps", n, n), Value: delta, Unit: "MB",
		Target: "at most +10 MB", Pass: &pass,
		Note: fmt.Sprintf("ftp-operator manager as a process: RSS %.1f MB with 1 FTPServer, %.1f MB after adding 1 KiB Secrets and ConfigMaps it does not own in another namespace (peak %.1f → %.1f MB)",
			mb(rss0), mb(rss1), mb(peak0), mb(peak1))})

	// The same number of Secrets in the FTPServer's own namespace: the operator watches every Secret there
	// (metadata only), since a server may reference any of them.
	fill(ns, "near-", false)
	rss2, peak2, heap2 := measure("near")
	t.Logf("with %d more Secrets next to the FTPServer: RSS %.1f MB (peak %.1f MB); Go heap %s", n, mb(rss2), mb(peak2), heap2)
	record(t, result{Name: fmt.Sprintf("operator RSS growth with %d Secrets in an FTPServer's namespace", n), Value: mb(rss2 - rss1), Unit: "MB",
		Note: fmt.Sprintf("the Secrets of namespaces that hold FTPServers are watched as metadata (about 500 bytes each): RSS %.1f → %.1f MB", mb(rss1), mb(rss2))})
}

// goHeap reads the Go heap's live bytes and its size from the manager's metrics endpoint, as "live/heap MB".
func goHeap(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	val := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], "go_memstats_") {
			v, _ := strconv.ParseFloat(f[1], 64)
			val[f[0]] = v
		}
	}
	return fmt.Sprintf("%.1f/%.1f MB", val["go_memstats_heap_alloc_bytes"]/(1<<20), val["go_memstats_heap_inuse_bytes"]/(1<<20))
}
