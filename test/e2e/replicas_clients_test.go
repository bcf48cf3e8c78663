//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// haFtplib is a Python ftplib client for the replicas scenarios: it uploads src as name and downloads it to dst in
// one session, in PASV (using the reply's address) or EPSV, plain or FTPS with PROT P (the resuming class of
// test/support), and prints the passive reply it was given.
const haFtplib = `import ftplib,ssl,sys
host,port,user,pw,src,dst,name,epsv,ca=sys.argv[1:10]
` + support.FtplibResumingTLS + `
base = ResumingFTP_TLS if ca else ftplib.FTP
class Client(base):
    def makepasv(self):
        if epsv == "1":
            r = self.sendcmd("EPSV")
            print(r, flush=True)
            return ftplib.parse229(r, self.sock.getpeername())
        r = self.sendcmd("PASV")
        print(r, flush=True)
        return ftplib.parse227(r)
f = Client(context=ssl.create_default_context(cafile=ca)) if ca else Client()
f.connect(host, int(port), timeout=60)
f.login(user, pw)
if ca:
    f.prot_p()
with open(src, "rb") as fp: f.storbinary("STOR " + name, fp)
with open(dst, "wb") as fp: f.retrbinary("RETR " + name, fp.write)
f.quit()
`

// haClient is one of the clients of TestReplicasClients: a tool (curl, lftp, ftplib), EPSV or PASV, plain or FTPS.
type haClient struct {
	tool string
	epsv bool
	tls  bool
}

func (c haClient) String() string {
	mode := "PASV"
	if c.epsv {
		mode = "EPSV"
	}
	if c.tls {
		mode += "+FTPS"
	}
	return c.tool + " " + mode
}

// run uploads src as name and downloads it to dst through host:port from behind the NAT; it returns every line
// the client printed (its passive replies among them).
func (c haClient) run(t *testing.T, s *server, host, port, ca, src, dst, name string) (string, error) {
	switch c.tool {
	case "curl":
		args := []string{"--no-ftp-skip-pasv-ip"}
		if !c.epsv {
			args = append(args, "--disable-epsv")
		}
		if c.tls {
			args = append(args, "--ssl-reqd", "--cacert", ca)
		}
		up, err := curlErr(t, natClient, s, host, port, name, append([]string{"-T", src}, args...)...)
		if err != nil {
			return up, err
		}
		down, err := curlErr(t, natClient, s, host, port, name, append([]string{"-o", dst}, args...)...)
		return up + down, err
	case "lftp":
		prefer := "no"
		if c.epsv {
			prefer = "yes"
		}
		_, stderr, err := client_(t, 3*time.Minute, natClient, "lftp", "-d", "-c", lftpSettings+
			"set ftp:ssl-allow no; set ftp:passive-mode yes; set ftp:prefer-epsv "+prefer+"; "+
			fmt.Sprintf("open -u %s,%s -p %s %s; put %s -o %s; get %s -o %s", ftpUser, s.pass, port, host, src, name, name, dst))
		return stderr, err
	default:
		epsv, cafile := "0", ""
		if c.epsv {
			epsv = "1"
		}
		if c.tls {
			cafile = ca
		}
		out, stderr, err := client_(t, 3*time.Minute, natClient, "python3", "-c", haFtplib, host, port, ftpUser, s.pass, src, dst, name, epsv, cafile)
		return out + stderr, err
	}
}

// Issue 11. Three replicas, SharedAddress, FTPS allowed (Explicit) with a certificate for the pinned address: 30
// clients behind the NAT at once, three of each of curl, lftp and ftplib in PASV and EPSV, and curl and ftplib
// over FTPS in PASV and EPSV, each upload and download their own file, byte-exact, through the one load-balancer
// address. Every passive reply names a port of the grant (and, for PASV, the load-balancer address), and the
// sessions land on every pod.
func TestReplicasClients(t *testing.T) {
	if config.hostPathRoot == "" || config.metallb == "" {
		t.Skip("NOT RUN: needs ReadWriteMany storage and a pinned address from the test's MetalLB pool (the local cluster)")
	}
	ns := newNamespace(t, "e2e-hacl")
	pin := "10.201.0.203"
	dir := t.TempDir()
	tlsSecret, ca := tlsSecretFor(t, ns, "hacl-cert", pin)
	const perPod = 8
	s := replicatedServer(t, ns, "hacl", 3, 3*perPod, func(f *ftpv1.FTPServer) {
		f.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: tlsSecret.Name}, Mode: ftpv1.TLSExplicit}
		f.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": pin}
	})
	srv := waitServer(t, s, "three ready pods on one address", func(f *ftpv1.FTPServer) bool {
		return f.Status.ReadyReplicas == 3 && meta.IsStatusConditionTrue(f.Status.Conditions, ftpv1.ConditionSharedAddress)
	})
	host, port := endpoint(t, srv)
	if host != pin {
		t.Fatalf("address %s, want the pinned %s", host, pin)
	}
	grant := portRange(srv)

	// Ready counts a pod only once the control Service and its own passive Service have listed it as a ready
	// endpoint for the time the nodes' proxies are given to program it (controllers/endpoints.go, RouteSettle; a CI
	// run once had a data connection refused right after Ready). So every listing from here on must work at once: list until the sessions have landed on all three pods' slices, and fail on
	// the first listing that does not work. The control Service spreads sessions at random: 30 listings miss one of
	// three pods with a chance of 3·(2/3)^30, about 2 in 100 000.
	ready := time.Now()
	seen := map[int]bool{}
	for attempt := 1; len(seen) < 3; attempt++ {
		tr, err := curlErr(t, natClient, s, host, port, "", "--list-only", "--max-time", "10")
		if err != nil {
			t.Fatalf("listing %d, %s after Ready (slices seen so far %v): %v\n%s", attempt, time.Since(ready).Round(time.Millisecond), seen, err, tr)
		}
		p, ok := epsvPortOf(tr)
		if !ok {
			p = pasvPort(t, tr)
		}
		seen[(p-int(grant.Start))/perPod] = true
		if attempt == 30 {
			t.Fatalf("30 listings after Ready landed only on the slices %v", seen)
		}
	}
	t.Logf("every pod's slice served a listing at once after Ready (%s)", time.Since(ready).Round(100*time.Millisecond))

	kinds := []haClient{
		{"curl", false, false}, {"curl", true, false}, {"lftp", false, false}, {"lftp", true, false},
		{"ftplib", false, false}, {"ftplib", true, false},
		{"curl", false, true}, {"curl", true, true}, {"ftplib", false, true}, {"ftplib", true, true},
	}
	const clients = 30
	src, sum := randomFile(t, 1<<20)
	type result struct {
		transcript string
		err        error
		took       time.Duration
	}
	results := make([]result, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			name := fmt.Sprintf("c%02d.bin", i)
			tr, err := kinds[i%len(kinds)].run(t, s, host, port, ca, src, filepath.Join(dir, name), name)
			results[i] = result{tr, err, time.Since(t0)}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	pods := map[int]int{} // ordinal, by the slice of the passive port -> passive replies
	var slowest time.Duration
	for i, r := range results {
		k := kinds[i%len(kinds)]
		if r.err != nil {
			t.Fatalf("client %d (%s): %v\n%s", i, k, r.err, r.transcript)
		}
		slowest = max(slowest, r.took)
		sameFile(t, fmt.Sprintf("client %d (%s) download", i, k), filepath.Join(dir, fmt.Sprintf("c%02d.bin", i)), sum)
		if k.tls && k.tool == "curl" {
			mustContain(t, fmt.Sprintf("client %d (%s)", i, k), r.transcript, "< 234 ", "SSL certificate verify ok", "> PROT P")
		}
		ports := passivePorts(t, fmt.Sprintf("client %d (%s)", i, k), r.transcript, host, k.epsv)
		for _, p := range ports {
			if !grant.Contains(int32(p)) {
				t.Fatalf("client %d (%s) was given port %d, outside the grant %s", i, k, p, grant)
			}
			pods[(p-int(grant.Start))/perPod]++
		}
	}
	t.Logf("%d clients (%d kinds) through %s in %s (slowest %s); passive replies per pod %v",
		clients, len(kinds), host, wall.Round(100*time.Millisecond), slowest.Round(100*time.Millisecond), pods)
	if len(pods) != 3 {
		t.Fatalf("the sessions used the slices of %d pods (%v), want all 3", len(pods), pods)
	}
	names := listing(t, natClient, s, host, port)
	for i := range clients {
		if !slices.Contains(names, fmt.Sprintf("c%02d.bin", i)) {
			t.Fatalf("listing %q lacks c%02d.bin", names, i)
		}
	}
}

// sizeWatch is Python: for argv[4] seconds it asks a server, once a session every half second, for the SIZE of
// argv[3]; it prints "size N" for every size it sees, "absent" for a 550, and ignores refused or dropped sessions
// (pods restart).
const sizeWatch = `import ftplib,sys,time
host,port,name,secs,user,pw=sys.argv[1:7]
end=time.monotonic()+float(secs)
while time.monotonic()<end:
    try:
        f=ftplib.FTP()
        f.connect(host,int(port),timeout=5)
        f.login(user,pw)
        f.voidcmd("TYPE I")
        while time.monotonic()<end:
            try:
                print("size", f.size(name), flush=True)
            except ftplib.error_perm:
                print("absent", flush=True)
            time.sleep(0.5)
    except (OSError, EOFError, ftplib.Error):
        time.sleep(0.5)
`

// Issue 11. A rolling restart of a three-replica server (a pod-template annotation changes) while a 1 GiB upload
// runs at 48 MiB/s (about 21 s, so it spans the rollout). With shutdownGracePeriod 10s the upload either completes,
// and the file downloads byte-exact, or fails and no file of that name is visible; with the default 60s the
// draining pod finishes it, so it must complete: with SharedAddress, and with Relay (where a draining pod also
// finishes the data connections it relays). A watcher asks for the file's SIZE every half second through the restart: it never sees any
// size but the whole file's. After the restart the same upload succeeds.
func TestReplicasRollingRestart(t *testing.T) {
	if config.hostPathRoot == "" {
		t.Skip("NOT RUN: needs ReadWriteMany storage; the local cluster provides a hostPath volume")
	}
	for _, tc := range []struct {
		name         string
		grace        *metav1.Duration
		routing      ftpv1.ServiceRouting
		mustComplete bool
	}{
		{"grace 10s: complete or refused", &metav1.Duration{Duration: 10 * time.Second}, "", false},
		{"default grace 60s: the drain completes it", nil, "", true},
		{"Relay, default grace 60s: the drain completes it", nil, ftpv1.RoutingRelay, true},
	} {
		t.Run(tc.name, func(t *testing.T) { rollingRestartDuringUpload(t, tc.grace, tc.routing, tc.mustComplete) })
	}
}

func rollingRestartDuringUpload(t *testing.T, grace *metav1.Duration, routing ftpv1.ServiceRouting, mustComplete bool) {
	ctx := context.Background()
	ns := newNamespace(t, "e2e-harr")
	s := replicatedServer(t, ns, "harr", 3, 12, func(f *ftpv1.FTPServer) {
		f.Spec.ShutdownGracePeriod = grace
		if routing != "" {
			f.Spec.Service.Routing = routing
		}
	})
	srv := waitServer(t, s, "three ready pods", func(f *ftpv1.FTPServer) bool { return f.Status.ReadyReplicas == 3 })
	host, port := endpoint(t, srv)
	const size = 1 << 30
	big, sum := randomFile(t, size)

	watchCtx, stopWatch := context.WithTimeout(ctx, 4*time.Minute)
	defer stopWatch()
	var watchOut bytes.Buffer
	watch := inNS(watchCtx, natClient, "python3", "-c", sizeWatch, host, port, "big.bin", "230", ftpUser, s.pass)
	watch.Stdout = &watchOut
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}

	type upload struct {
		transcript string
		err        error
		took       time.Duration
	}
	done := make(chan upload, 1)
	started := time.Now()
	go func() {
		tr, err := curlErr(t, natClient, s, host, port, "big.bin", "-T", big, "--limit-rate", "48M", "--disable-epsv")
		done <- upload{tr, err, time.Since(started)}
	}()
	time.Sleep(2 * time.Second)

	// The rolling restart: a new pod-template annotation.
	cur := getServer(t, s)
	patch := client.MergeFrom(cur.DeepCopy())
	if cur.Spec.PodTemplate == nil {
		cur.Spec.PodTemplate = &ftpv1.PodTemplate{}
	}
	cur.Spec.PodTemplate.Metadata.Annotations = map[string]string{"e2e.ftpoperator.io/restarted-at": time.Now().UTC().Format(time.RFC3339)}
	if err := k8s.Patch(ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
	var sts appsv1.StatefulSet
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.name}, &sts)
		if err == nil && sts.Status.ObservedGeneration == sts.Generation && sts.Status.UpdateRevision != "" &&
			sts.Status.CurrentRevision == sts.Status.UpdateRevision && sts.Status.UpdatedReplicas == 3 && sts.Status.ReadyReplicas == 3 &&
			sts.Spec.Template.Annotations["e2e.ftpoperator.io/restarted-at"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rolling restart did not finish within 3 minutes: %v %+v", err, sts.Status)
		}
		time.Sleep(time.Second)
	}
	rolled := time.Since(started)
	up := <-done
	srv = waitServer(t, s, "three ready pods after the restart", func(f *ftpv1.FTPServer) bool {
		return f.Status.ReadyReplicas == 3 && f.Status.Address == host
	})
	waitBanner(t, natClient, host, port)
	stopWatch()
	_ = watch.Wait()

	out := filepath.Join(t.TempDir(), "big.out")
	if up.err == nil {
		mustContain(t, "upload through the restart", up.transcript, "< 226")
		curl(t, natClient, s, host, port, "big.bin", "-o", out, "--disable-epsv")
		sameFile(t, "download of the upload that went through the restart", out, sum)
		t.Logf("rolling restart done %s after the upload started; the upload completed in %s", rolled.Round(time.Second), up.took.Round(time.Second))
	} else {
		if mustComplete {
			t.Fatalf("the upload failed although the grace period outlasts it: %v\n%s", up.err, up.transcript)
		}
		if names := listing(t, natClient, s, host, port); slices.Contains(names, "big.bin") {
			t.Fatalf("the upload failed (%v) but big.bin is visible: %q\n%s", up.err, names, up.transcript)
		}
		tr, err := curlErr(t, natClient, s, host, port, "big.bin", "-o", out, "--disable-epsv")
		if err == nil || !strings.Contains(tr, "< 550") {
			t.Fatalf("RETR big.bin after the refused upload: want 550, got %v:\n%s", err, tr)
		}
		t.Logf("rolling restart done %s after the upload started; the upload was refused after %s (curl exit %d), no file visible",
			rolled.Round(time.Second), up.took.Round(time.Second), curlExitCode(up.err))
	}
	seen, absent := 0, 0
	for _, line := range strings.Split(watchOut.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "size "); ok {
			seen++
			if v != fmt.Sprint(size) {
				t.Fatalf("a session saw big.bin with %s bytes during the restart (want none or %d): a torn file was visible", v, size)
			}
		}
		if line == "absent" {
			absent++
		}
	}
	t.Logf("the SIZE watcher got 550 %d times and the whole file's size %d times, no other size", absent, seen)
	if seen+absent < 10 {
		t.Fatalf("the SIZE watcher got only %d answers through the restart; it did not watch:\n%s", seen+absent, watchOut.String())
	}

	// After the restart, the same upload goes through.
	curl(t, natClient, s, host, port, "big.bin", "-T", big, "--disable-epsv")
	curl(t, natClient, s, host, port, "big.bin", "-o", out, "--disable-epsv")
	sameFile(t, "download of the upload after the restart", out, sum)
}

// Issue 11. NodePort with two replicas: every pod's Service carries its slice with nodePort equal to port, the
// control Service's nodePort is the endpoint, and clients behind the NAT upload and download byte-exact through
// the node address with PASV (using the reply's address) and EPSV, on the slices of both pods.
func TestReplicasNodePort(t *testing.T) {
	if config.hostPathRoot == "" {
		t.Skip("NOT RUN: needs ReadWriteMany storage; the local cluster provides a hostPath volume")
	}
	ctx := context.Background()
	ns := newNamespace(t, "e2e-hanp")
	s := replicatedServer(t, ns, "hanp", 2, 8, func(f *ftpv1.FTPServer) { f.Spec.Service.Type = corev1.ServiceTypeNodePort })
	srv := waitServer(t, s, "two ready pods", func(f *ftpv1.FTPServer) bool { return f.Status.ReadyReplicas == 2 })
	host, port := endpoint(t, srv)
	if config.metallb != "" && host != nodeIP {
		t.Fatalf("NodePort server advertises %s, want the node address %s", host, nodeIP)
	}
	grant := portRange(srv)
	owner := map[int32]int{} // passive port -> ordinal of the pod Service that carries it
	for i := range 2 {
		var svc corev1.Service
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("hanp-pasv-%d", i)}, &svc); err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 4 {
			t.Fatalf("Service %s: type %s, ports %v; want NodePort with 4 ports", svc.Name, svc.Spec.Type, svc.Spec.Ports)
		}
		for j, p := range svc.Spec.Ports {
			if p.NodePort != p.Port || p.Port != grant.Start+int32(4*i+j) {
				t.Fatalf("Service %s: port %d with nodePort %d; want its slice from %d, nodePort = port", svc.Name, p.Port, p.NodePort, grant.Start+int32(4*i))
			}
			owner[p.Port] = i
		}
	}
	var ctl corev1.Service
	if err := k8s.Get(ctx, s.key(), &ctl); err != nil {
		t.Fatal(err)
	}
	if len(ctl.Spec.Ports) == 0 || fmt.Sprint(ctl.Spec.Ports[0].NodePort) != port {
		t.Fatalf("endpoint port %s is not the control Service's nodePort (%v)", port, ctl.Spec.Ports)
	}

	src, sum := randomFile(t, 2<<20)
	dir := t.TempDir()
	const clients = 8
	errs := make([]error, clients)
	transcripts := make([]string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := haClient{tool: "curl", epsv: i%2 == 1}
			name := fmt.Sprintf("np%d.bin", i)
			transcripts[i], errs[i] = c.run(t, s, host, port, "", src, filepath.Join(dir, name), name)
		}()
	}
	wg.Wait()
	pods := map[int]int{}
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v\n%s", i, errs[i], transcripts[i])
		}
		sameFile(t, fmt.Sprintf("client %d download", i), filepath.Join(dir, fmt.Sprintf("np%d.bin", i)), sum)
		for _, p := range passivePorts(t, fmt.Sprintf("client %d", i), transcripts[i], host, i%2 == 1) {
			o, found := owner[int32(p)]
			if !found {
				t.Fatalf("client %d was given port %d, on no pod's Service (grant %s)", i, p, grant)
			}
			pods[o]++
		}
	}
	t.Logf("%d NodePort clients through %s:%s; passive replies per pod %v", clients, host, port, pods)
	if len(pods) != 2 {
		t.Fatalf("the sessions used the slices of %d pods (%v), want both", len(pods), pods)
	}
}

// passivePorts returns the ports of the passive replies (229 when epsv, else 227 naming host) in a client's
// transcript of an upload and a download; it fails the test on a reply of the other kind or fewer than two.
func passivePorts(t *testing.T, what, transcript, host string, epsv bool) []int {
	t.Helper()
	var ports []int
	for _, line := range strings.Split(transcript, "\n") {
		p, ok := epsvPortOf(line)
		if !ok && strings.Contains(line, "227 Entering Passive Mode (") {
			p, ok = pasvPort(t, line), true
			mustContain(t, what+" PASV reply", line, pasvReply(host))
		}
		if !ok {
			continue
		}
		if epsv != strings.Contains(line, "229 ") {
			t.Fatalf("%s: got %q", what, line)
		}
		ports = append(ports, p)
	}
	if len(ports) < 2 {
		t.Fatalf("%s: %d passive replies for an upload and a download:\n%s", what, len(ports), transcript)
	}
	return ports
}
