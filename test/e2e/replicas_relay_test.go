//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// podLogs are the logs of the server's live pods, by pod name.
func podLogs(t *testing.T, s *server) map[string]string {
	t.Helper()
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(s.ns),
		client.MatchingLabels{"app.kubernetes.io/instance": s.name, "app.kubernetes.io/managed-by": "ftp-operator"}); err != nil {
		t.Fatal(err)
	}
	logs := map[string]string{}
	for _, p := range pods.Items {
		b, err := clientset.CoreV1().Pods(s.ns).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(context.Background())
		if err != nil {
			t.Fatalf("log of %s: %v", p.Name, err)
		}
		logs[p.Name] = string(b)
	}
	return logs
}

// Issue 11. Three replicas with Relay routing, FTPS allowed (Explicit) with a certificate for the pinned address: one
// Service carries port 21 and all 12 passive ports on one MetalLB address and selects every pod, a headless Service
// names the pods, and there are no pods' Services. 33 clients behind the NAT at once (curl PASV with the reply's
// address, PASV with curl's default of ignoring it, EPSV; lftp and ftplib PASV and EPSV; curl and ftplib over FTPS
// with PROT P, PASV and EPSV; three of each) upload and download their own file byte-exact. kube-proxy sends each
// data connection to any pod, so most are relayed to the pod that owns the port: the pods' logs show the relays,
// each naming the NAT's address as the client (the owner checks it). Then a pod is killed mid-run (killMidRun).
func TestReplicasRelay(t *testing.T) {
	if config.hostPathRoot == "" || config.metallb == "" {
		t.Skip("NOT RUN: needs ReadWriteMany storage and a pinned address from the test's MetalLB pool (the local cluster)")
	}
	ctx := context.Background()
	ns := newNamespace(t, "e2e-harl")
	pin := "10.201.0.214"
	dir := t.TempDir()
	tlsSecret, ca := tlsSecretFor(t, ns, "harl-cert", pin)
	const perPod = 4
	s := replicatedServer(t, ns, "harl", 3, 3*perPod, func(f *ftpv1.FTPServer) {
		f.Spec.Service.Routing = ftpv1.RoutingRelay
		f.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: tlsSecret.Name}, Mode: ftpv1.TLSExplicit}
		f.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": pin}
	})
	srv := waitServer(t, s, "three ready pods", func(f *ftpv1.FTPServer) bool {
		return f.Status.ReadyReplicas == 3 && f.Status.Address != ""
	})
	host, port := endpoint(t, srv)
	if host != pin {
		t.Fatalf("address %s, want the pinned %s", host, pin)
	}
	grant := portRange(srv)
	var svc corev1.Service
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "harl"}, &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 1+int(grant.Size()) || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Fatalf("Service harl: %d ports, policy %s; want 21 and the %d ports of %s, Local", len(svc.Spec.Ports), svc.Spec.ExternalTrafficPolicy, grant.Size(), grant)
	}
	var headless corev1.Service
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "harl-pods"}, &headless); err != nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("headless Service harl-pods: %v %q", err, headless.Spec.ClusterIP)
	}
	var all corev1.ServiceList
	if err := k8s.List(ctx, &all, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, o := range all.Items {
		if strings.HasPrefix(o.Name, "harl-pasv-") {
			t.Fatalf("Service %s: Relay routing has no pods' Services", o.Name)
		}
	}
	waitBanner(t, natClient, host, port)

	type kind struct {
		haClient
		ignoreAddress bool // curl's default: the control connection's address for PASV
	}
	kinds := []kind{
		{haClient{"curl", false, false}, true}, {haClient: haClient{"curl", false, false}}, {haClient: haClient{"curl", true, false}},
		{haClient: haClient{"lftp", false, false}}, {haClient: haClient{"lftp", true, false}},
		{haClient: haClient{"ftplib", false, false}}, {haClient: haClient{"ftplib", true, false}},
		{haClient: haClient{"curl", false, true}}, {haClient: haClient{"curl", true, true}},
		{haClient: haClient{"ftplib", false, true}}, {haClient: haClient{"ftplib", true, true}},
	}
	clients := 3 * len(kinds)
	src, sum := randomFile(t, 1<<20)
	type result struct {
		transcript string
		err        error
	}
	results := make([]result, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := kinds[i%len(kinds)]
			name := fmt.Sprintf("r%02d.bin", i)
			dst := filepath.Join(dir, name)
			if !k.ignoreAddress {
				tr, err := k.run(t, s, host, port, ca, src, dst, name)
				results[i] = result{tr, err}
				return
			}
			up, err := curlErr(t, natClient, s, host, port, name, "-T", src, "--disable-epsv")
			if err == nil {
				var down string
				down, err = curlErr(t, natClient, s, host, port, name, "-o", dst, "--disable-epsv")
				up += down
			}
			results[i] = result{up, err}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	pods := map[int]int{}
	for i, r := range results {
		k := kinds[i%len(kinds)]
		what := fmt.Sprintf("client %d (%s, ignoring the PASV address %v)", i, k.haClient, k.ignoreAddress)
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", what, r.err, r.transcript)
		}
		sameFile(t, what+" download", filepath.Join(dir, fmt.Sprintf("r%02d.bin", i)), sum)
		if k.tls && k.tool == "curl" {
			mustContain(t, what, r.transcript, "< 234 ", "SSL certificate verify ok", "> PROT P")
		}
		for _, p := range passivePorts(t, what, r.transcript, host, k.epsv) {
			if !grant.Contains(int32(p)) {
				t.Fatalf("%s was given port %d, outside the grant %s", what, p, grant)
			}
			pods[(p-int(grant.Start))/perPod]++
		}
	}
	relays, fromNAT := map[string]int{}, 0
	for pod, log := range podLogs(t, s) {
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "relayed a data connection") {
				relays[pod]++
				if strings.Contains(line, `"remote":"`+natOutside+`:`) {
					fromNAT++
				}
			}
		}
	}
	total := 0
	for _, n := range relays {
		total += n
	}
	t.Logf("%d clients (%d kinds) through %s in %s; passive replies per pod %v; relayed data connections per pod %v (%d of them naming the NAT address)",
		clients, len(kinds), host, wall.Round(100*time.Millisecond), pods, relays, fromNAT)
	if len(pods) != 3 {
		t.Fatalf("the sessions used the slices of %d pods (%v), want all 3", len(pods), pods)
	}
	if total == 0 || fromNAT != total {
		t.Fatalf("relayed data connections %v, %d naming the NAT address: want relays, all of the NAT's clients", relays, fromNAT)
	}
	names := listing(t, natClient, s, host, port)
	for i := range clients {
		if !slices.Contains(names, fmt.Sprintf("r%02d.bin", i)) {
			t.Fatalf("listing %q lacks r%02d.bin", names, i)
		}
	}

	// Pod 2 dies without a grace period while 12 sessions upload: the sessions on it fail, and so may sessions whose
	// data connection it was relaying; every other session completes, no cut file is visible, retries succeed within
	// 5 s (killMidRun, shared with SharedAddress).
	slow, slowSum := randomFile(t, 4<<20)
	killMidRun(t, s, host, port, slow, slowSum, grant, perPod, 12, 2, true)
}
