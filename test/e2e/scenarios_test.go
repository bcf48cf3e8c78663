//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// The scenarios of issue 5, in the order they matter most. Each uses its own namespace.

// lbAddress fails unless addr is a load-balancer address from the pool (when the test installed MetalLB).
func lbAddress(t *testing.T, addr string) {
	t.Helper()
	if config.metallb == "" {
		return
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !netip.MustParsePrefix(lbCIDR).Contains(a) {
		t.Fatalf("status.address %q is not a load-balancer address of %s", addr, lbCIDR)
	}
}

func sameFile(t *testing.T, what, path, want string) {
	t.Helper()
	if got := fileSHA(t, path); got != want {
		t.Fatalf("%s: SHA-256 %s, want %s (the file changed in transit)", what, got, want)
	}
}

func mustContain(t *testing.T, what, transcript string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(transcript, p) {
			t.Fatalf("%s: transcript lacks %q:\n%s", what, p, transcript)
		}
	}
}

const lftpSettings = "set net:max-retries 1; set net:timeout 20; set net:reconnect-interval-base 1; set xfer:clobber yes; " +
	"set ftp:fix-pasv-address no; set ftp:ignore-pasv-address no; "

// 1. A client behind a MASQUERADE NAT uploads and downloads in passive mode through the load-balancer address,
// byte-exact, with curl, lftp and ftplib; the 227 reply carries that address, and the clients used it.
func TestNATPassive(t *testing.T) {
	ns := newNamespace(t, "e2e-nat")
	s := newServer(t, ns, "nat", nil)
	srv := getServer(t, s)
	host, port := endpoint(t, srv)
	lbAddress(t, host)
	var svc corev1.Service
	if err := k8s.Get(context.Background(), s.key(), &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Status.LoadBalancer.Ingress[0].IP != host {
		t.Fatalf("status.address %s is not the Service's load-balancer ingress %+v", host, svc.Status.LoadBalancer.Ingress)
	}
	src, sum := randomFile(t, 8<<20)
	dir := t.TempDir()

	tr := curl(t, natClient, s, host, port, "curl.bin", "-T", src, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	mustContain(t, "curl PASV upload", tr, "> PASV", pasvReply(host), "Connecting to "+host, "226 ")
	p := pasvPort(t, tr)
	if r := portRange(srv); !r.Contains(int32(p)) {
		t.Fatalf("227 advertised port %d outside the granted range %s", p, r)
	}
	tr = curl(t, natClient, s, host, port, "curl.bin", "-o", filepath.Join(dir, "curl.out"), "--disable-epsv", "--no-ftp-skip-pasv-ip")
	mustContain(t, "curl PASV download", tr, pasvReply(host), "Connecting to "+host)
	sameFile(t, "curl download", filepath.Join(dir, "curl.out"), sum)

	_, stderr, err := client_(t, 2*time.Minute, natClient, "lftp", "-d", "-c", lftpSettings+
		"set ftp:passive-mode yes; set ftp:prefer-epsv no; "+
		fmt.Sprintf("open -u %s,%s -p %s %s; put %s -o lftp.bin; get lftp.bin -o %s", ftpUser, s.pass, port, host, src, filepath.Join(dir, "lftp.out")))
	if err != nil {
		t.Fatalf("lftp: %v\n%s", err, stderr)
	}
	mustContain(t, "lftp", stderr, "PASV", pasvReply(host))
	sameFile(t, "lftp download", filepath.Join(dir, "lftp.out"), sum)

	out, stderr, err := client_(t, 2*time.Minute, natClient, "python3", "-c", `import ftplib,sys
host,port,user,pw,src,dst=sys.argv[1:7]
f=ftplib.FTP()
f.trust_server_pasv_ipv4_address=True  # use the address of the 227 reply, not the control connection's
f.connect(host,int(port),timeout=30)
f.login(user,pw)
print("pasv", f.makepasv()[0])
with open(src,"rb") as fp: f.storbinary("STOR py.bin",fp)
with open(dst,"wb") as fp: f.retrbinary("RETR py.bin",fp.write)
f.quit()`, host, port, ftpUser, s.pass, src, filepath.Join(dir, "py.out"))
	if err != nil {
		t.Fatalf("ftplib: %v\n%s%s", err, out, stderr)
	}
	mustContain(t, "ftplib", out, "pasv "+host+"\n")
	sameFile(t, "ftplib download", filepath.Join(dir, "py.out"), sum)

	// Like a real outside client, this one cannot reach the pod's own address: a 227 reply carrying it (instead
	// of the load balancer's) could not have worked.
	pod := enginePod(t, s)
	if _, _, err := client_(t, 30*time.Second, natClient, "python3", "-c",
		"import socket,sys; socket.create_connection((sys.argv[1],2121),timeout=3)", pod.Status.PodIP); err == nil {
		t.Fatalf("the NAT client reached the pod address %s directly; the test network is too permissive", pod.Status.PodIP)
	}
	// The server saw the NAT router's outside address, not the client's private one: the NAT was real.
	waitLog(t, s, `"msg":"login"`, `"remote":"`+natOutside+`"`)
	names := listing(t, natClient, s, host, port)
	slices.Sort(names)
	if want := []string{"curl.bin", "lftp.bin", "py.bin"}; !slices.Equal(names, want) {
		t.Fatalf("listing %q, want %q", names, want)
	}
}

// 3. EPSV: curl (its default) and lftp use extended passive mode through the load balancer.
func TestEPSV(t *testing.T) {
	ns := newNamespace(t, "e2e-epsv")
	s := newServer(t, ns, "epsv", nil)
	host, port := endpoint(t, getServer(t, s))
	src, sum := randomFile(t, 4<<20)
	dir := t.TempDir()
	tr := curl(t, natClient, s, host, port, "e.bin", "-T", src)
	mustContain(t, "curl EPSV upload", tr, "> EPSV", "229 Entering Extended Passive Mode (|||")
	if strings.Contains(tr, "> PASV") {
		t.Fatalf("curl fell back to PASV:\n%s", tr)
	}
	tr = curl(t, natClient, s, host, port, "e.bin", "-o", filepath.Join(dir, "e.out"))
	mustContain(t, "curl EPSV download", tr, "> EPSV", "229 ")
	sameFile(t, "curl EPSV download", filepath.Join(dir, "e.out"), sum)

	_, stderr, err := client_(t, 2*time.Minute, natClient, "lftp", "-d", "-c", lftpSettings+
		"set ftp:passive-mode yes; set ftp:prefer-epsv yes; "+
		fmt.Sprintf("open -u %s,%s -p %s %s; get e.bin -o %s", ftpUser, s.pass, port, host, filepath.Join(dir, "l.out")))
	if err != nil {
		t.Fatalf("lftp: %v\n%s", err, stderr)
	}
	mustContain(t, "lftp EPSV", stderr, "EPSV", "229 Entering Extended Passive Mode")
	sameFile(t, "lftp EPSV download", filepath.Join(dir, "l.out"), sum)
}

// 6a. The load-balancer address changes: new transfers use the new address, and the pod was not restarted.
func TestAddressChange(t *testing.T) {
	if config.metallb == "" {
		t.Skip("NOT RUN: needs the MetalLB the test installs, to move the address (metallb.io/loadBalancerIPs)")
	}
	ns := newNamespace(t, "e2e-move")
	s := newServer(t, ns, "move", nil)
	srv := getServer(t, s)
	oldHost, port := endpoint(t, srv)
	lbAddress(t, oldHost)
	pod := enginePod(t, s)
	src, sum := randomFile(t, 2<<20)
	curl(t, natClient, s, oldHost, port, "before.bin", "-T", src, "--disable-epsv", "--no-ftp-skip-pasv-ip")

	newHost := "10.201.0.200"
	if newHost == oldHost {
		newHost = "10.201.0.201"
	}
	patch := client.MergeFrom(srv.DeepCopy())
	srv.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": newHost}
	if err := k8s.Patch(context.Background(), srv, patch); err != nil {
		t.Fatal(err)
	}
	srv = waitServer(t, s, "the new address "+newHost, func(f *ftpv1.FTPServer) bool { return f.Status.Address == newHost })
	host, port := endpoint(t, srv)
	waitBanner(t, natClient, host, port)
	// The engine follows the address the operator publishes in its ConfigMap, live.
	waitLog(t, s, "public address from the operator", `"address":"`+newHost+`"`)
	dir := t.TempDir()
	tr := curl(t, natClient, s, host, port, "before.bin", "-o", filepath.Join(dir, "b.out"), "--disable-epsv", "--no-ftp-skip-pasv-ip")
	mustContain(t, "download through the new address", tr, pasvReply(newHost), "Connecting to "+newHost)
	sameFile(t, "download through the new address", filepath.Join(dir, "b.out"), sum)
	tr = curl(t, natClient, s, host, port, "after.bin", "-T", src, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	mustContain(t, "upload through the new address", tr, pasvReply(newHost))

	after := enginePod(t, s)
	if after.UID != pod.UID {
		t.Fatalf("the pod was replaced (%s -> %s); the address change must not restart it", pod.UID, after.UID)
	}
	for _, cs := range after.Status.ContainerStatuses {
		if cs.RestartCount != 0 {
			t.Fatalf("container %s restarted %d times", cs.Name, cs.RestartCount)
		}
	}
}

// 6b. The operator restarted: every granted range is unchanged, no engine pod restarted, and a server created
// afterwards gets a range that overlaps none of them.
func TestOperatorRestart(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "e2e-restart")
	a := newServer(t, ns, "a", nil)
	b := newServer(t, ns, "b", func(f *ftpv1.FTPServer) { f.Spec.PassivePorts.Count = ptr.To[int32](6) })
	podA, podB := enginePod(t, a), enginePod(t, b)

	var before ftpv1.FTPServerList
	if err := k8s.List(ctx, &before); err != nil {
		t.Fatal(err)
	}
	ranges := map[string]ftpv1.PortRange{}
	for _, f := range before.Items {
		if f.Status.PassivePorts != nil {
			ranges[f.Namespace+"/"+f.Name] = *f.Status.PassivePorts
		}
	}
	if len(ranges) < 2 {
		t.Fatalf("want at least 2 servers holding ranges, have %v", ranges)
	}

	var ops corev1.PodList
	sel := client.MatchingLabels{"app.kubernetes.io/name": "ftp-operator", "app.kubernetes.io/instance": config.release}
	if err := k8s.List(ctx, &ops, client.InNamespace(config.namespace), sel); err != nil || len(ops.Items) == 0 {
		t.Fatalf("operator pods: %v (%d)", err, len(ops.Items))
	}
	old := map[string]bool{}
	for i := range ops.Items {
		old[string(ops.Items[i].UID)] = true
		if err := k8s.Delete(ctx, &ops.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if err := k8s.List(ctx, &ops, client.InNamespace(config.namespace), sel); err != nil {
			t.Fatal(err)
		}
		ready := false
		for _, p := range ops.Items {
			if !old[string(p.UID)] && p.DeletionTimestamp == nil {
				for _, c := range p.Status.Conditions {
					ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
				}
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new Ready operator pod within 3 minutes: %+v", ops.Items)
		}
		time.Sleep(time.Second)
	}

	// The new operator must be reconciling (it has the lease) before we judge it: a new server becomes Ready.
	c := newServer(t, ns, "c", nil)
	rc := portRange(getServer(t, c))
	var after ftpv1.FTPServerList
	if err := k8s.List(ctx, &after); err != nil {
		t.Fatal(err)
	}
	for _, f := range after.Items {
		key := f.Namespace + "/" + f.Name
		was, ok := ranges[key]
		if !ok {
			continue
		}
		if f.Status.PassivePorts == nil || *f.Status.PassivePorts != was {
			t.Errorf("%s: range %v after the restart, %s before", key, f.Status.PassivePorts, was)
		}
		if overlap(was, rc) {
			t.Errorf("new server c got %s, overlapping %s of %s", rc, was, key)
		}
	}
	if enginePod(t, a).UID != podA.UID || enginePod(t, b).UID != podB.UID {
		t.Errorf("an engine pod was replaced by the operator restart")
	}
	// And a still serves.
	host, port := endpoint(t, getServer(t, a))
	src, _ := randomFile(t, 1<<20)
	curl(t, natClient, a, host, port, "x.bin", "-T", src, "--disable-epsv", "--no-ftp-skip-pasv-ip")
}

// 5. Two FTPServers get disjoint ranges and different addresses, and both serve at the same time.
func TestTwoServers(t *testing.T) {
	ns := newNamespace(t, "e2e-two")
	servers := []*server{newServer(t, ns, "one", nil), newServer(t, ns, "two", nil)}
	one, two := getServer(t, servers[0]), getServer(t, servers[1])
	if overlap(portRange(one), portRange(two)) {
		t.Fatalf("ranges overlap: %s and %s", portRange(one), portRange(two))
	}
	if one.Status.Address == two.Status.Address {
		t.Fatalf("both servers advertise %s", one.Status.Address)
	}
	src, sum := randomFile(t, 6<<20)
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	transcripts := make([]string, 2)
	for i, s := range servers {
		host, port := endpoint(t, getServer(t, s))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Upload and download at once, to both servers, from both clients.
			up, err := curlErr(t, natClient, s, host, port, "both.bin", "-T", src, "--disable-epsv", "--no-ftp-skip-pasv-ip", "--limit-rate", "4M")
			if err == nil {
				var down string
				down, err = curlErr(t, pubClient, s, host, port, "both.bin", "-o", filepath.Join(dir, fmt.Sprint(i)), "--disable-epsv", "--no-ftp-skip-pasv-ip")
				up += down
			}
			errs[i], transcripts[i] = err, up
		}()
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("server %s: %v\n%s", s.name, errs[i], transcripts[i])
		}
		mustContain(t, s.name, transcripts[i], pasvReply(getServer(t, s).Status.Address))
		sameFile(t, s.name, filepath.Join(dir, fmt.Sprint(i)), sum)
	}
}

// 7. A client killed in the middle of an upload leaves no partial file visible; the server keeps serving.
func TestKilledUpload(t *testing.T) {
	ns := newNamespace(t, "e2e-kill")
	s := newServer(t, ns, "kill", nil)
	host, port := endpoint(t, getServer(t, s))
	big, _ := randomFile(t, 64<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := inNS(ctx, natClient, "curl", "-sS", "--limit-rate", "4M", "--disable-epsv", "-T", big,
		"--user", ftpUser+":"+s.pass, "ftp://"+host+":"+port+"/big.bin")
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()

	// While it uploads, another client is served.
	src, sum := randomFile(t, 1<<20)
	out := filepath.Join(t.TempDir(), "ok.out")
	curl(t, pubClient, s, host, port, "ok.bin", "-T", src, "--disable-epsv")
	curl(t, pubClient, s, host, port, "ok.bin", "-o", out, "--disable-epsv")
	sameFile(t, "download during the big upload", out, sum)
	time.Sleep(2 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("the 64 MiB upload at 4 MB/s finished early (%v); cannot kill it midway", err)
	default:
	}
	if err := up.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	// The server noticed the broken upload and did not keep it.
	if line := waitLog(t, s, `"file":"/big.bin"`, `"upload":true`); !strings.Contains(line, `"ok":false`) {
		t.Fatalf("the server committed the upload of a client killed midway (64 MiB sent at 4 MB/s for about 2 s); "+
			"the partial file is now visible as big.bin:\n%s", line)
	}
	for i := 0; i < 3; i++ {
		if names := listing(t, pubClient, s, host, port); !slices.Equal(names, []string{"ok.bin"}) {
			t.Fatalf("listing after the killed upload: %q, want only ok.bin", names)
		}
		time.Sleep(time.Second)
	}
	tr, err := curlErr(t, pubClient, s, host, port, "big.bin", "-o", filepath.Join(t.TempDir(), "big.out"), "--disable-epsv")
	if err == nil || !strings.Contains(tr, "< 550") {
		t.Fatalf("RETR big.bin after the killed upload: want a 550 reply, got err %v:\n%s", err, tr)
	}
	// Still serving.
	curl(t, natClient, s, host, port, "ok.bin", "-o", out, "--disable-epsv")
	sameFile(t, "download after the killed upload", out, sum)
}

// 8. NodePort: a client reaches the node address and the advertised port, which is the nodePort.
func TestNodePort(t *testing.T) {
	ns := newNamespace(t, "e2e-nodeport")
	s := newServer(t, ns, "np", func(f *ftpv1.FTPServer) { f.Spec.Service.Type = corev1.ServiceTypeNodePort })
	srv := getServer(t, s)
	host, port := endpoint(t, srv)
	if config.metallb != "" && host != nodeIP {
		t.Fatalf("NodePort server advertises %s, want the node address %s", host, nodeIP)
	}
	var svc corev1.Service
	if err := k8s.Get(context.Background(), s.key(), &svc); err != nil {
		t.Fatal(err)
	}
	nodePorts := map[int32]int32{}
	for _, p := range svc.Spec.Ports {
		nodePorts[p.Port] = p.NodePort
		if p.Name == "ftp" && fmt.Sprint(p.NodePort) != port {
			t.Fatalf("endpoint port %s is not the control nodePort %d", port, p.NodePort)
		}
	}
	src, sum := randomFile(t, 4<<20)
	tr := curl(t, natClient, s, host, port, "np.bin", "-T", src, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	mustContain(t, "NodePort upload", tr, pasvReply(host))
	adv := int32(pasvPort(t, tr))
	if nodePorts[adv] != adv {
		t.Fatalf("227 advertised port %d, whose nodePort is %d; they must be equal", adv, nodePorts[adv])
	}
	out := filepath.Join(t.TempDir(), "np.out")
	curl(t, natClient, s, host, port, "np.bin", "-o", out, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	sameFile(t, "NodePort download", out, sum)
}

// 2. Explicit FTPS (AUTH TLS, Required) with the certificate of a Secret: the control channel is encrypted, so
// no NAT helper could rewrite the 227 reply; the server must advertise the right address itself.
func TestFTPS(t *testing.T) {
	if config.metallb == "" {
		t.Skip("NOT RUN: pins a load-balancer address from the test's MetalLB pool for the certificate")
	}
	ns := newNamespace(t, "e2e-ftps")
	pin := "10.201.0.202"
	dir := t.TempDir()
	tlsSecret, ca := tlsSecretFor(t, ns, "ftps-cert", pin)
	s := newServer(t, ns, "ftps", func(f *ftpv1.FTPServer) {
		f.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: tlsSecret.Name}, Mode: ftpv1.TLSRequired}
		f.Spec.Service.Annotations = map[string]string{"metallb.io/loadBalancerIPs": pin}
	})
	host, port := endpoint(t, getServer(t, s))
	if host != pin {
		t.Fatalf("address %s, want the pinned %s", host, pin)
	}
	src, sum := randomFile(t, 4<<20)
	tr := curl(t, natClient, s, host, port, "tls.bin", "-T", src, "--ssl-reqd", "--cacert", ca, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	// curl opens with AUTH SSL (RFC 4217 allows it as a synonym), then PBSZ/PROT P for a protected data channel.
	mustContain(t, "FTPS upload", tr, "> AUTH ", "< 234 ", "SSL certificate verify ok", "> PROT P", "< 200 ", pasvReply(pin))
	out := filepath.Join(dir, "tls.out")
	curl(t, natClient, s, host, port, "tls.bin", "-o", out, "--ssl-reqd", "--cacert", ca, "--disable-epsv", "--no-ftp-skip-pasv-ip")
	sameFile(t, "FTPS download", out, sum)

	// Plain logins are refused.
	tr, err := curlErr(t, natClient, s, host, port, "tls.bin", "-o", filepath.Join(dir, "plain.out"))
	if err == nil {
		t.Fatalf("a plain-text login was accepted by a Required-TLS server:\n%s", tr)
	}
	if strings.Contains(tr, "< 230") {
		t.Fatalf("plain-text login succeeded:\n%s", tr)
	}

	// ftplib's FTP_TLS does not resume the control connection's TLS session on data connections, which the engine
	// requires by default (tls.requireSessionReuse): the subclass docs/security.md shows does.
	pyOut, stderr, err := client_(t, 2*time.Minute, natClient, "python3", "-c", `import ftplib,ssl,sys
host,port,user,pw,ca,src,dst=sys.argv[1:8]`+support.FtplibResumingTLS+`f=ResumingFTP_TLS(context=ssl.create_default_context(cafile=ca))
f.trust_server_pasv_ipv4_address=True
f.connect(host,int(port),timeout=30)
f.login(user,pw)
f.prot_p()
with open(src,"rb") as fp: f.storbinary("STOR py.bin",fp)
with open(dst,"wb") as fp: f.retrbinary("RETR py.bin",fp.write)
print("cipher", f.sock.cipher()[0])
f.quit()`, host, port, ftpUser, s.pass, ca, src, filepath.Join(dir, "py.out"))
	if err != nil {
		t.Fatalf("ftplib FTPS: %v\n%s%s", err, pyOut, stderr)
	}
	sameFile(t, "ftplib FTPS download", filepath.Join(dir, "py.out"), sum)
}

// 4. Active mode: from behind the NAT, PORT names an address the server cannot reach, and is refused at once
// with a clear reply; the session stays usable. From a routable client, active transfers work.
func TestActiveMode(t *testing.T) {
	ns := newNamespace(t, "e2e-active")
	s := newServer(t, ns, "active", func(f *ftpv1.FTPServer) { f.Spec.ActiveMode = ftpv1.ActiveModeEnabled })
	host, port := endpoint(t, getServer(t, s))
	src, sum := randomFile(t, 2<<20)
	dir := t.TempDir()
	curl(t, natClient, s, host, port, "a.bin", "-T", src, "--disable-epsv")

	out, stderr, err := client_(t, 2*time.Minute, natClient, "python3", "-c", `import ftplib,json,sys,time
host,port,user,pw,dst=sys.argv[1:6]
f=ftplib.FTP()
f.trust_server_pasv_ipv4_address=True
f.connect(host,int(port),timeout=30)
f.login(user,pw)
f.set_pasv(False)   # PORT with this client's own (private) address
r={}
t=time.monotonic()
try:
    f.retrbinary("RETR a.bin", lambda b: None)
    r["active"]="accepted"
except ftplib.all_errors as e:
    r["active"]=str(e)
r["seconds"]=time.monotonic()-t
f.set_pasv(True)    # same session, passive
with open(dst,"wb") as fp: f.retrbinary("RETR a.bin",fp.write)
r["noop"]=f.voidcmd("NOOP")
f.quit()
print(json.dumps(r))`, host, port, ftpUser, s.pass, filepath.Join(dir, "nat.out"))
	if err != nil {
		t.Fatalf("ftplib from behind the NAT: %v\n%s%s", err, out, stderr)
	}
	var r struct {
		Active  string  `json:"active"`
		Seconds float64 `json:"seconds"`
		Noop    string  `json:"noop"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("ftplib output %q: %v", out, err)
	}
	if !strings.HasPrefix(r.Active, "501 ") || !strings.Contains(r.Active, "control connection") {
		t.Fatalf("PORT from behind the NAT: got %q, want a 501 naming the control connection's address", r.Active)
	}
	if r.Seconds > 5 {
		t.Fatalf("PORT refusal took %.1f s; want it at once", r.Seconds)
	}
	if !strings.HasPrefix(r.Noop, "200") {
		t.Fatalf("NOOP after the refusal: %q", r.Noop)
	}
	sameFile(t, "passive download after the refused PORT, same session", filepath.Join(dir, "nat.out"), sum)
	waitLog(t, s, "refused active data address", `"remote":"`+natOutside+`"`, strings.ReplaceAll(natClientIP, ".", ","))

	out, stderr, err = client_(t, 2*time.Minute, pubClient, "python3", "-c", `import ftplib,sys
host,port,user,pw,src,dst=sys.argv[1:7]
f=ftplib.FTP()
f.connect(host,int(port),timeout=30)
f.set_debuglevel(1)
f.login(user,pw)
f.set_pasv(False)
with open(src,"rb") as fp: f.storbinary("STOR pub.bin",fp)
with open(dst,"wb") as fp: f.retrbinary("RETR pub.bin",fp.write)
f.quit()`, host, port, ftpUser, s.pass, src, filepath.Join(dir, "pub.out"))
	if err != nil {
		t.Fatalf("ftplib active from the routable client: %v\n%s%s", err, out, stderr)
	}
	mustContain(t, "active from the routable client", out, "*cmd* 'PORT "+strings.ReplaceAll(pubClientIP, ".", ","), "*resp* '200 ", "*resp* '226 ")
	sameFile(t, "active download", filepath.Join(dir, "pub.out"), sum)
}

// 9. The pod deleted: the new pod serves the same files from the PersistentVolumeClaim.
func TestPersistentVolume(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "e2e-pvc")
	class := config.storageClass
	if config.hostPathRoot != "" {
		class = "ftpe2e-hostpath"
		hostPathVolume(t, ns, class, corev1.ReadWriteOnce)
	} else if class == "" {
		t.Skip("NOT RUN: set E2E_STORAGE_CLASS (or run on the local cluster, which uses a hostPath volume)")
	}
	s := newServer(t, ns, "pvc", func(f *ftpv1.FTPServer) {
		f.Spec.Storage = ftpv1.Storage{VolumeClaimTemplate: &ftpv1.VolumeClaimTemplate{StorageClassName: &class, Size: mustQuantity("1Gi")}}
	})
	host, port := endpoint(t, getServer(t, s))
	src, sum := randomFile(t, 3<<20)
	curl(t, natClient, s, host, port, "keep.bin", "-T", src, "--disable-epsv")
	if config.hostPathRoot != "" {
		if _, err := os.Stat(filepath.Join(config.hostPathRoot, ns, "alice", "keep.bin")); err != nil {
			t.Fatalf("uploaded file is not on the volume: %v", err)
		}
	}
	old := enginePod(t, s)
	if err := k8s.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var pods corev1.PodList
		_ = k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": s.name})
		n, ready := 0, false
		for _, p := range pods.Items {
			n++
			if p.UID != old.UID && p.DeletionTimestamp == nil {
				for _, c := range p.Status.Conditions {
					ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
				}
			}
		}
		if ready && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single new Ready pod within 3 minutes")
		}
		time.Sleep(time.Second)
	}
	srv := waitServer(t, s, "Ready with the new pod", nil)
	host, port = endpoint(t, srv)
	waitBanner(t, natClient, host, port)
	out := filepath.Join(t.TempDir(), "keep.out")
	curl(t, natClient, s, host, port, "keep.bin", "-o", out, "--disable-epsv")
	sameFile(t, "download from the new pod", out, sum)
}
