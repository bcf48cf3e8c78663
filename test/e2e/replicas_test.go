//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// hostPathVolume creates a static hostPath PersistentVolume of class with access mode on the single node, in a
// folder named after ns owned by the engine's user (hostPath volumes ignore fsGroup); both go when the test ends.
func hostPathVolume(t *testing.T, ns, class string, mode corev1.PersistentVolumeAccessMode) {
	t.Helper()
	dir := filepath.Join(config.hostPathRoot, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	pv := persistentVolume(ns, class, dir)
	pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{mode}
	if err := k8s.Create(context.Background(), pv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), pv) })
}

// replicatedServer creates an FTPServer named name in ns with replicas pods and count passive ports, SharedAddress
// routing, the default traffic policy (Cluster with several replicas, under which MetalLB shares one address
// between Services that select different pods) and a ReadWriteMany hostPath volume of its own class, changed by
// mutate. The caller skips the test when config.hostPathRoot is empty.
func replicatedServer(t *testing.T, ns, name string, replicas, count int32, mutate func(*ftpv1.FTPServer)) *server {
	t.Helper()
	class := "ftpe2e-hostpath-rwx-" + ns
	hostPathVolume(t, ns, class, corev1.ReadWriteMany) // one node: every pod mounts it
	return newServer(t, ns, name, func(f *ftpv1.FTPServer) {
		f.Spec.Replicas = ptr.To(replicas)
		f.Spec.PassivePorts = ftpv1.PassivePorts{Count: ptr.To(count)}
		f.Spec.Service.ExternalTrafficPolicy = ""
		f.Spec.Storage = ftpv1.Storage{VolumeClaimTemplate: &ftpv1.VolumeClaimTemplate{StorageClassName: &class, Size: mustQuantity("1Gi"),
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}}}
		if mutate != nil {
			mutate(f)
		}
	})
}

// epsvPortOf decodes the port of the first 229 reply in a client's transcript.
func epsvPortOf(transcript string) (int, bool) {
	i := strings.Index(transcript, "229 Entering Extended Passive Mode (|||")
	if i < 0 {
		return 0, false
	}
	rest := transcript[i+len("229 Entering Extended Passive Mode (|||"):]
	j := strings.Index(rest, "|)")
	if j < 0 {
		return 0, false
	}
	p, err := strconv.Atoi(rest[:j])
	return p, err == nil
}

// Issue 11. Three replicas with SharedAddress routing on a ReadWriteMany volume: the control Service and the three
// pods' Services hold one MetalLB address; nine clients behind the NAT upload and download byte-exact through it in
// parallel with curl (PASV with the reply's address, PASV with curl's default of ignoring it, and EPSV); every
// passive port they are given lies in the grant, the sessions land on more than one pod, and every file is visible
// from every pod. Then a pod is killed without a grace period while sessions run (killMidRun), and the server is
// back at three ready pods on the same address, serving the files.
func TestReplicasSharedAddress(t *testing.T) {
	ctx := context.Background()
	if config.hostPathRoot == "" {
		t.Skip("NOT RUN: needs ReadWriteMany storage; the local cluster provides a hostPath volume")
	}
	ns := newNamespace(t, "e2e-ha")
	s := replicatedServer(t, ns, "ha", 3, 12, nil)
	srv := waitServer(t, s, "three ready pods on one address", func(f *ftpv1.FTPServer) bool {
		return f.Status.ReadyReplicas == 3 && meta.IsStatusConditionTrue(f.Status.Conditions, ftpv1.ConditionSharedAddress)
	})
	host, port := endpoint(t, srv)
	lbAddress(t, host)
	grant := portRange(srv)
	if grant.Size() != 12 {
		t.Fatalf("grant %s, want 12 ports", grant)
	}
	for i := range 3 {
		var svc corev1.Service
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("ha-pasv-%d", i)}, &svc); err != nil {
			t.Fatal(err)
		}
		if len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Status.LoadBalancer.Ingress[0].IP != host || len(svc.Spec.Ports) != 4 ||
			svc.Spec.Ports[0].Port != grant.Start+int32(4*i) {
			t.Fatalf("Service %s: ports %v, ingress %+v; want 4 ports from %d on %s", svc.Name, svc.Spec.Ports, svc.Status.LoadBalancer.Ingress, grant.Start+int32(4*i), host)
		}
	}
	waitBanner(t, natClient, host, port)

	src, sum := randomFile(t, 2<<20)
	out := t.TempDir()
	modes := [][]string{
		{"--disable-epsv", "--no-ftp-skip-pasv-ip"}, // PASV, connecting to the reply's address
		{"--disable-epsv"},                          // PASV, curl's default: the control connection's address
		{},                                          // EPSV
	}
	const clients = 9
	type result struct {
		transcripts []string
		err         error
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d.bin", i)
			up, err := curlErr(t, natClient, s, host, port, name, append([]string{"-T", src}, modes[i%3]...)...)
			if err != nil {
				results[i] = result{[]string{up}, fmt.Errorf("upload %s: %w", name, err)}
				return
			}
			down, err := curlErr(t, natClient, s, host, port, name, append([]string{"-o", filepath.Join(out, name)}, modes[i%3]...)...)
			results[i] = result{[]string{up, down}, err}
		}()
	}
	wg.Wait()
	pods := map[int]int{} // ordinal (by the slice of the passive port) -> sessions
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("client %d: %v\n%s", i, r.err, strings.Join(r.transcripts, "\n"))
		}
		sameFile(t, fmt.Sprintf("client %d download", i), filepath.Join(out, fmt.Sprintf("c%d.bin", i)), sum)
		for _, tr := range r.transcripts {
			p, ok := epsvPortOf(tr)
			if !ok {
				p = pasvPort(t, tr)
				mustContain(t, "PASV reply", tr, pasvReply(host))
			}
			if !grant.Contains(int32(p)) {
				t.Fatalf("client %d was given port %d, outside the grant %s", i, p, grant)
			}
			pods[(p-int(grant.Start))/4]++
		}
	}
	t.Logf("%d sessions through %s: per pod (by the slice of their passive port) %v", 2*clients, host, pods)
	if len(pods) < 2 {
		t.Fatalf("every session landed on one pod (%v): the control Service does not spread them", pods)
	}
	names := listing(t, natClient, s, host, port)
	for i := range clients {
		if !slices.Contains(names, fmt.Sprintf("c%d.bin", i)) {
			t.Fatalf("listing %q lacks c%d.bin: the pods do not share the files", names, i)
		}
	}

	// Pod 1 dies without a grace period while 12 sessions upload (killMidRun): the sessions on it fail and retry
	// within 5 s, the others complete, no cut file is visible; then the server is back at three ready pods on one
	// address.
	victim := &corev1.Pod{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ha-1"}, victim); err != nil {
		t.Fatal(err)
	}
	slow, slowSum := randomFile(t, 4<<20)
	killMidRun(t, s, host, port, slow, slowSum, grant, 4, 12, 1, false)
	// The server's status can still count three ready pods from before the kill (the StatefulSet's own status lags),
	// so wait for the recreated ha-1 itself: a new UID, Ready.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var p corev1.Pod
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ha-1"}, &p)
		if err == nil && p.UID != victim.UID && p.DeletionTimestamp == nil && podReady(&p) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod ha-1 was not recreated and Ready within 2 minutes of the kill (last error %v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	waitServer(t, s, "three ready pods again", func(f *ftpv1.FTPServer) bool {
		return f.Status.ReadyReplicas == 3 && meta.IsStatusConditionTrue(f.Status.Conditions, ftpv1.ConditionSharedAddress) && f.Status.Address == host
	})
	waitBanner(t, natClient, host, port)
	// Once, port 21 refused a connection right after the pod was replaced (an endpoint of the dead pod still in
	// the Service's rules): a client that retries gets through, which is the promise; so does this download.
	back := filepath.Join(out, "after-kill.out")
	for attempt := 1; ; attempt++ {
		_, err := curlErr(t, natClient, s, host, port, "c0.bin", "-o", back, "--max-time", "10")
		if err == nil {
			break
		}
		if attempt == 20 {
			t.Fatalf("download after the pod was replaced: 20 attempts failed, the last: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	sameFile(t, "download after the pod was replaced", back, sum)
}

// podReady says whether p's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// killMidRun is issue 11's sudden-death proof, for both routings. clients sessions upload src (sum its SHA-256)
// under their own names at once, rate-limited so that every session is in its transfer, and pod ordinal victim of
// the server's StatefulSet is deleted with grace period 0 while they run. Then:
//   - the sessions whose passive port lies in the victim's slice (their control connection is on it) fail;
//   - every other session completes, except, with relay, a session whose data connection the victim was relaying
//     to its owner: it fails (the owner sees a reset and aborts; counted and logged);
//   - a failed session's name is never visible cut short: listed only if it downloads whole;
//   - a failed session's retry succeeds within 5 s of its failure;
//   - at the end every name downloads byte-exact.
//
// It returns the time the victim was deleted.
func killMidRun(t *testing.T, s *server, host, port, src, sum string, grant ftpv1.PortRange, perPod, clients int, victim int32, relay bool) time.Time {
	t.Helper()
	ctx := context.Background()
	victimName := fmt.Sprintf("%s-%d", s.name, victim)
	pod := &corev1.Pod{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: victimName}, pod); err != nil {
		t.Fatal(err)
	}
	type result struct {
		first     string // the first attempt's transcript
		firstErr  error
		failedAt  time.Time
		visible   string // what a listing right after the failure showed of the name: "", "whole" or "cut"
		retryIn   time.Duration
		attempts  int
		retryErr  error
		retryLast string
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			name := fmt.Sprintf("k%02d.bin", i)
			r.first, r.firstErr = curlErr(t, natClient, s, host, port, name, "-T", src, "--limit-rate", "512K")
			if r.firstErr == nil {
				return
			}
			r.failedAt = time.Now()
			deadline := r.failedAt.Add(5 * time.Second)
			// No partial file: the name, if listed at all, is a whole upload.
			for time.Now().Before(deadline) {
				out, _, err := client_(t, 10*time.Second, natClient, "curl", "-sS", "--max-time", "3", "--connect-timeout", "1",
					"--list-only", "--user", ftpUser+":"+s.pass, "ftp://"+net.JoinHostPort(host, port)+"/")
				if err != nil {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				if slices.Contains(strings.Fields(out), name) {
					dst := filepath.Join(t.TempDir(), name)
					if _, err := curlErr(t, natClient, s, host, port, name, "-o", dst, "--max-time", "10"); err == nil && fileSHA(t, dst) == sum {
						r.visible = "whole"
					} else {
						r.visible = "cut"
					}
				}
				break
			}
			for r.attempts = 1; ; r.attempts++ {
				tr, err := curlErr(t, natClient, s, host, port, name, "-T", src, "--max-time", "4", "--connect-timeout", "1")
				if err == nil {
					r.retryIn = time.Since(r.failedAt)
					return
				}
				if time.Since(r.failedAt) > 5*time.Second {
					r.retryErr, r.retryLast = err, tr
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		}()
	}
	time.Sleep(3 * time.Second) // every session logged in and sending
	if err := k8s.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	wg.Wait()

	onVictim, failedOnVictim, relayedFailures, completed := 0, 0, 0, 0
	var retries []time.Duration
	for i, r := range results {
		what := fmt.Sprintf("session %d", i)
		p, ok := epsvPortOf(r.first)
		if !ok {
			t.Fatalf("%s reached no passive port (%v):\n%s", what, r.firstErr, r.first)
		}
		owner := int32((p - int(grant.Start)) / perPod)
		switch {
		case owner == victim:
			onVictim++
			if r.firstErr != nil {
				failedOnVictim++
			}
		case r.firstErr == nil:
			completed++
		case relay:
			relayedFailures++
			t.Logf("%s (on pod %d) failed when its relay died: %v", what, owner, r.firstErr)
		default:
			t.Fatalf("%s on pod %d (not the killed one) failed: %v\n%s", what, owner, r.firstErr, r.first)
		}
		if r.firstErr == nil {
			continue
		}
		if r.visible == "cut" {
			t.Fatalf("%s failed and its name showed a cut file", what)
		}
		if r.retryErr != nil {
			t.Fatalf("%s failed at %s after the kill; its retries (%d) did not succeed within 5 s: %v\n%s",
				what, r.failedAt.Sub(killed).Round(100*time.Millisecond), r.attempts, r.retryErr, r.retryLast)
		}
		retries = append(retries, r.retryIn.Round(100*time.Millisecond))
	}
	t.Logf("pod %s killed mid-run: %d sessions on it (%d failed), %d others completed, %d failed with their relay; retries succeeded after %v",
		victimName, onVictim, failedOnVictim, completed, relayedFailures, retries)
	if onVictim == 0 || failedOnVictim != onVictim || completed == 0 {
		t.Fatalf("%d sessions on the killed pod, %d of them failed (want all, and at least one), %d others completed (want some)",
			onVictim, failedOnVictim, completed)
	}
	out := t.TempDir()
	for i := range clients {
		name := fmt.Sprintf("k%02d.bin", i)
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if _, err = curlErr(t, natClient, s, host, port, name, "-o", filepath.Join(out, name), "--max-time", "10"); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("download of %s: %v", name, err)
		}
		sameFile(t, "download of "+name, filepath.Join(out, name), sum)
	}
	return killed
}
