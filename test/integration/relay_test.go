package integration

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/internal/promtext"
	"github.com/ftp-operator/ftp-operator/internal/promtext/promtexttest"
	"github.com/ftp-operator/ftp-operator/internal/testcert"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// Relay routing on loopback: three engines stand for the three pods of a StatefulSet, pod k on 127.0.0.(2+k),
// sharing one root (the shared volume) and a 9-port range, 3 ports per pod. The "load balancer" address is pod 0's
// address 127.0.0.2: every data port lands on pod 0 (its own slice on its passive listeners, the other slices on
// its relay listeners), and a forwarder on 127.0.0.2 carries the control connection to a chosen pod. The clients run
// from 127.0.0.1, which is not a pod's address.

const relayPods = 3

type relayPod struct {
	srv *ftpd.Server
	ip  string
	ctl string // control address
	log *support.SyncBuffer
	reg *promtext.Registry // the pod's metrics
}

// relays is the pod's ftpd_relayed_connections_total of result.
func (p *relayPod) relays(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := promtexttest.Gatherer(p.reg).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "ftpd_relayed_connections_total" && m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

type relayCluster struct {
	pods  [relayPods]*relayPod
	grant ftpd.PortRange
	root  string // acme's home
	cert  string

	mu    sync.Mutex
	peers map[int32]string // where each pod is dialed (the test may point one elsewhere)
}

func podIP(k int32) string { return "127.0.0." + strconv.Itoa(int(2+k)) }

func startRelayCluster(t *testing.T, dataTimeout time.Duration, maxRelayed int) *relayCluster {
	t.Helper()
	dir := t.TempDir()
	root, users := acmeRoot(t, dir)
	cert, key := testcert.New(t, testcert.Options{Hosts: []string{podIP(0)}, ValidFor: time.Hour}).WriteFiles(t, dir)
	c := &relayCluster{grant: portrangetest.Free(t, 3*relayPods), root: filepath.Join(root, "acme"), cert: cert, peers: map[int32]string{}}
	for k := range int32(relayPods) {
		c.peers[k] = podIP(k)
	}
	for k := range int32(relayPods) {
		auth, err := ftpd.NewFileAuthenticator(users)
		if err != nil {
			t.Fatal(err)
		}
		cr, err := ftpd.NewCertReloader(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		slice, err := c.grant.Slice(k, relayPods)
		if err != nil {
			t.Fatal(err)
		}
		p := &relayPod{ip: podIP(k), log: &support.SyncBuffer{}, reg: promtext.NewRegistry()}
		var logW io.Writer = p.log
		if os.Getenv("FTPD_DEBUG") != "" {
			logW = io.MultiWriter(p.log, os.Stderr)
		}
		p.srv = &ftpd.Server{
			Auth: auth, FileSystems: ftpd.RootFS{Dir: root},
			PassivePorts: slice, PassiveHost: p.ip, PublicAddress: podIP(0),
			TLSConfig: cr.TLSConfig(), TLSMode: ftpd.TLSExplicit,
			IdleTimeout: time.Minute, DataTimeout: dataTimeout, LoginDelay: -1,
			Relay:   &ftpd.Relay{Range: c.grant, Slices: relayPods, Self: k, Peer: c.peer, MaxConns: maxRelayed},
			Metrics: ftpd.NewMetrics(p.reg),
			Logger:  slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		l, err := net.Listen("tcp", net.JoinHostPort(p.ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		p.ctl = l.Addr().String()
		done := make(chan error, 1)
		go func() { done <- p.srv.Serve(l) }()
		t.Cleanup(func() {
			_ = p.srv.Close()
			if err := <-done; !errors.Is(err, ftpd.ErrServerClosed) {
				t.Errorf("pod %d: Serve: %v", k, err)
			}
		})
		c.pods[k] = p
	}
	return c
}

func (c *relayCluster) peer(k int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers[k]
}

// balance listens on the load balancer's address (pod 0's) and carries every control connection to pod k.
func (c *relayCluster) balance(t *testing.T, k int32) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(podIP(0), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", c.pods[k].ctl) // from 127.0.0.1: the client's address, as with a Local policy
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return l.Addr().String()
}

// TestRelayCurl: curl uploads and downloads byte-exact through the load balancer's address while its control
// connection is held by pod 1 or pod 2: every data connection lands on pod 0 and is relayed to the owner of its
// port, with PASV (curl's default of ignoring the reply's address, and the reply's address), EPSV, and FTPS with
// PROT P (the relay passes TLS untouched, so the owner's session-reuse check holds end to end). The transfers run on
// the owner (its log), and the owner saw the client's address, not pod 0's.
func TestRelayCurl(t *testing.T) {
	curl := needClient(t, "curl")
	c := startRelayCluster(t, 20*time.Second, 0)
	modes := []struct {
		name, verb string
		args       []string
	}{
		{"PASV ignoring the address", "PASV", []string{"--disable-epsv"}},
		{"PASV with the address", "PASV", []string{"--disable-epsv", "--no-ftp-skip-pasv-ip"}},
		{"EPSV", "EPSV", nil},
		{"FTPS PASV", "PASV", []string{"--disable-epsv", "--ssl-reqd", "--cacert", c.cert}},
		{"FTPS EPSV", "EPSV", []string{"--ssl-reqd", "--cacert", c.cert}},
	}
	for k := range int32(relayPods) {
		lb := c.balance(t, k)
		for i, m := range modes {
			t.Run("pod "+strconv.Itoa(int(k))+"/"+m.name, func(t *testing.T) {
				relays := func() int {
					n := 0
					for _, l := range strings.Split(c.pods[0].log.String(), "\n") {
						if strings.Contains(l, `msg="relayed a data connection" remote=127.0.0.1:`) && strings.Contains(l, "owner="+podIP(k)+":") {
							n++
						}
					}
					return n
				}
				before := relays()
				dir := t.TempDir()
				name := "f-" + strconv.Itoa(int(k)) + "-" + strconv.Itoa(i)
				sum := writeRandom(t, filepath.Join(dir, name), 1<<20+int64(i)*4099, uint64(10*k)+uint64(i))
				args := append([]string{"-sS", "--max-time", "60", "-u", user + ":" + pass}, m.args...)
				url := "ftp://" + lb + "/" + name
				c.pods[k].log.Take()
				run(t, time.Minute, curl, append(args, "-T", filepath.Join(dir, name), url)...)
				run(t, time.Minute, curl, append(args, "-o", filepath.Join(dir, "back"), url)...)
				if got := sha256File(t, filepath.Join(c.root, name)); got != sum {
					t.Fatal("the uploaded file differs")
				}
				if got := sha256File(t, filepath.Join(dir, "back")); got != sum {
					t.Fatal("the downloaded file differs")
				}
				owner := c.pods[k].log.String()
				for _, want := range []string{"verb=" + m.verb, "verb=STOR", "verb=RETR"} {
					if !strings.Contains(owner, want) {
						t.Fatalf("pod %d did not run %s", k, want)
					}
				}
				if strings.Contains(owner, "refused data connection") {
					t.Fatalf("pod %d refused a data connection:\n%s", k, short(owner))
				}
				if !strings.Contains(owner, "msg=transfer remote=127.0.0.1 ") {
					t.Fatalf("pod %d did not see the client's address on its transfers:\n%s", k, short(owner))
				}
				// Pod 0 logs a relayed connection once both of its halves closed, which can be just after curl
				// read the owner's 226 and exited.
				if k != 0 {
					support.WaitFor(t, 5*time.Second, 10*time.Millisecond, "pod 0's log lines of both relayed connections",
						func() bool { return relays()-before >= 2 })
				}
				relayed := relays() - before
				switch {
				case k == 0 && relayed != 0:
					t.Fatalf("pod 0 relayed %d data connections of its own sessions", relayed)
				case k != 0 && relayed != 2:
					t.Fatalf("pod 0 relayed %d data connections to pod %d, want 2 (STOR, RETR)", relayed, k)
				}
			})
		}
	}
	// ftpd_relayed_connections_total counts them: every relay ended cleanly.
	if ok, broken, want := c.pods[0].relays(t, "relayed"), c.pods[0].relays(t, "broken"), float64(2*2*len(modes)); ok != want || broken != 0 {
		t.Fatalf("pod 0 counts %v relayed and %v broken connections, want %v and 0", ok, broken, want)
	}
}

// TestRelayRefusesAForgedProxyHeader: a PROXY v2 header is read on a passive port only from a peer pod. A client on
// 127.0.0.5 that connects first to the passive port a session of 127.0.0.1 waits on, claiming 127.0.0.1 in a PROXY
// header, is closed; the session's own data connection then gets the file.
func TestRelayRefusesAForgedProxyHeader(t *testing.T) {
	c := startRelayCluster(t, 20*time.Second, 0)
	writeFile(t, filepath.Join(c.root, "secret.txt"), "only for acme\n")
	say := control(t, c.pods[1].ctl)
	port := epsvLogin(say)
	owner := net.JoinHostPort(podIP(1), port)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}, Timeout: 5 * time.Second}
	forger, err := d.Dial("tcp", owner)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	hdr := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, forger.RemoteAddr())
	if _, err := hdr.WriteTo(forger); err != nil {
		t.Fatal(err)
	}
	_ = forger.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := forger.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the forger's connection stays open (read %d, %v)", n, err)
	}
	data, err := net.Dial("tcp", owner)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	if got := say("RETR secret.txt"); !strings.HasPrefix(got, "150") {
		t.Fatalf("RETR: %s", got)
	}
	body, err := io.ReadAll(data)
	if err != nil || string(body) != "only for acme\n" {
		t.Fatalf("the session's data connection got %q, %v", body, err)
	}
	if got := say(""); !strings.HasPrefix(got, "226") {
		t.Fatalf("after RETR: %s", got)
	}
	if log := c.pods[1].log.String(); !strings.Contains(log, `msg="refused data connection" remote=127.0.0.5:`) {
		t.Fatalf("pod 1 did not refuse the forger:\n%s", short(log))
	}
}

// control opens a control connection to addr and returns a function that sends a command ("" sends none) and
// returns the next reply line.
func control(t *testing.T, addr string) func(cmd string) string {
	t.Helper()
	ctl, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	r := bufio.NewReader(ctl)
	return func(cmd string) string {
		t.Helper()
		if cmd != "" {
			if _, err := io.WriteString(ctl, cmd+"\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		_ = ctl.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return line
	}
}

// epsvLogin reads the banner, logs in as acme in binary mode and returns the port of an EPSV reply.
func epsvLogin(say func(string) string) string {
	say("")
	say("USER " + user)
	say("PASS " + pass)
	say("TYPE I")
	reply := say("EPSV")
	return reply[strings.Index(reply, "|||")+3 : strings.LastIndex(reply, "|")]
}

// TestRelayBounds: a pod relays at most Relay.MaxConns connections at once (here 1: a second is closed at once),
// and a relayed connection whose owner side has ended is closed within the data timeout even when the client
// never closes its side.
func TestRelayBounds(t *testing.T) {
	c := startRelayCluster(t, 2*time.Second, 1)
	writeFile(t, filepath.Join(c.root, "f.txt"), "relayed\n")
	say := control(t, c.pods[1].ctl)
	port := epsvLogin(say)
	first, err := net.Dial("tcp", net.JoinHostPort(podIP(0), port)) // pod 0 relays it to pod 1
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	support.WaitFor(t, 5*time.Second, 10*time.Millisecond, "pod 0 relaying the first connection", func() bool {
		return strings.Contains(c.pods[0].log.String(), `msg="relaying a data connection"`)
	})
	second, err := net.Dial("tcp", net.JoinHostPort(podIP(0), port))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a second relayed connection beyond MaxConns 1 stays open (read %d, %v)", n, err)
	}
	if !strings.Contains(c.pods[0].log.String(), "too many relayed connections") {
		t.Fatalf("pod 0 did not say why:\n%s", short(c.pods[0].log.String()))
	}
	if n := c.pods[0].relays(t, "refused"); n != 1 {
		t.Fatalf("pod 0 counts %v refused relays, want 1", n)
	}
	// The first transfer: the owner sends the file and closes its side; the client reads it and keeps its side open.
	if got := say("RETR f.txt"); !strings.HasPrefix(got, "150") {
		t.Fatalf("RETR: %s", got)
	}
	_ = first.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := io.ReadAll(first)
	if err != nil || string(body) != "relayed\n" {
		t.Fatalf("read %q, %v", body, err)
	}
	ended := time.Now()
	support.WaitFor(t, 10*time.Second, 10*time.Millisecond, "the relay to end", func() bool {
		return strings.Contains(c.pods[0].log.String(), `msg="relayed a data connection"`)
	})
	if took := time.Since(ended); took > 4*time.Second {
		t.Fatalf("the relay ended %s after the owner's side, want within the data timeout (2s)", took)
	}
}

// TestRelayOwnerUnreachable: when the owner of a port does not answer the relay (its address points where nothing
// listens), the relay closes the client's data connection at once and the client gets a clean failure: the owner's
// session answers 425 after its data timeout; nothing hangs.
func TestRelayOwnerUnreachable(t *testing.T) {
	curl := needClient(t, "curl")
	c := startRelayCluster(t, 3*time.Second, 0)
	writeFile(t, filepath.Join(c.root, "f.txt"), "x\n")
	lb := c.balance(t, 2)
	c.mu.Lock()
	c.peers[2] = "127.0.0.9" // pod 2 is unreachable from pod 0
	c.mu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-sS", "-v", "--max-time", "25", "-u", user+":"+pass, "--disable-epsv", "ftp://"+lb+"/f.txt").CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("curl succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "< 425") || took > 15*time.Second {
		t.Fatalf("curl after %s: %v\n%s", took, err, short(string(out)))
	}
	if !strings.Contains(c.pods[0].log.String(), "the owner of its port does not answer") {
		t.Fatalf("pod 0 did not report the unreachable owner:\n%s", short(c.pods[0].log.String()))
	}
	if n := c.pods[0].relays(t, "unreachable"); n != 1 {
		t.Fatalf("pod 0 counts %v relays to an unreachable owner, want 1", n)
	}
	t.Logf("curl failed cleanly after %s with 425", took.Round(time.Millisecond))
}

// relayedStor starts a relay cluster with dataTimeout, logs a session in on pod 1, dials its EPSV port on pod 0
// (which relays it to pod 1) and sends STOR name; it returns the cluster, the session and the data connection.
func relayedStor(t *testing.T, dataTimeout time.Duration, name string) (*relayCluster, func(string) string, net.Conn) {
	t.Helper()
	c := startRelayCluster(t, dataTimeout, 0)
	say := control(t, c.pods[1].ctl)
	port := epsvLogin(say)
	data, err := net.Dial("tcp", net.JoinHostPort(podIP(0), port)) // pod 0 relays it to pod 1
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { data.Close() })
	if got := say("STOR " + name); !strings.HasPrefix(got, "150") {
		t.Fatalf("STOR: %s", got)
	}
	return c, say, data
}

// TestRelayShutdownWaitsForRelayedTransfers: a pod that is draining (SIGTERM: Shutdown) while it relays another
// pod's upload, with no session of its own, waits for that transfer as it waits for its own sessions: Shutdown
// returns only after the relayed upload has ended, and the upload completes byte-exact (the relays are counted in
// the server's wait group). The drain is bounded by Shutdown's context like a session's:
// TestRelayShutdownIsBoundedByItsContext.
func TestRelayShutdownWaitsForRelayedTransfers(t *testing.T) {
	c, say, data := relayedStor(t, 5*time.Second, "drained.bin")
	chunk := []byte(strings.Repeat("relayed through a draining pod\n", 1000))
	if _, err := data.Write(chunk); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	shutAt := make(chan time.Time, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := c.pods[0].srv.Shutdown(ctx)
		shutAt <- time.Now()
		shut <- err
	}()
	// The upload goes on through the draining pod for a while.
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if _, err := data.Write(chunk); err != nil {
			t.Fatalf("writing through the draining pod: %v", err)
		}
	}
	select {
	case err := <-shut:
		t.Fatalf("pod 0's Shutdown returned (%v) while it relayed a running upload", err)
	default:
	}
	ended := time.Now()
	if err := data.Close(); err != nil {
		t.Fatal(err)
	}
	if got := say(""); !strings.HasPrefix(got, "226") {
		t.Fatalf("after the upload: %s", got)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if at := <-shutAt; at.Before(ended) {
		t.Fatalf("Shutdown returned before the relayed upload ended")
	}
	if got, want := len(readFile(t, filepath.Join(c.root, "drained.bin"))), 11*len(chunk); got != want {
		t.Fatalf("drained.bin has %d bytes, want %d", got, want)
	}
}

// TestRelayShutdownIsBoundedByItsContext: a relayed data connection that stays idle does not hold a draining pod
// past Shutdown's context: Shutdown closes it when the context ends and returns the context's error. It failed when
// Shutdown waited for relays without looking at its context (it returned only after the owner's data timeout, 5 s).
func TestRelayShutdownIsBoundedByItsContext(t *testing.T) {
	c, say, data := relayedStor(t, 5*time.Second, "idle.bin")
	support.WaitFor(t, 5*time.Second, 10*time.Millisecond, "pod 0 relaying", func() bool {
		return strings.Contains(c.pods[0].log.String(), `msg="relaying a data connection"`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.pods[0].srv.Shutdown(ctx)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Fatalf("Shutdown with a 500ms context returned %v after %s; want the deadline's error within 2s", err, took.Round(time.Millisecond))
	}
	_ = data.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := data.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the relayed connection is still open after Shutdown returned")
	}
	// The cut relay is no end of file for the owner: the upload fails and leaves no file.
	if got := say(""); strings.HasPrefix(got, "226") {
		t.Fatalf("the owner committed the upload its relay cut: %s", got)
	}
	if _, err := os.Stat(filepath.Join(c.root, "idle.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("idle.bin after a cut relay: %v", err)
	}
}

// TestRelayPassesAResetOn: a client whose relayed upload breaks off (its data connection reset, as when the client
// or its network dies) must not leave a file cut short under the name: the relay resets its connection to the owner
// too, so the owner aborts the upload (426) as it would had the client reached it directly. It failed when the relay
// passed every end on as a half close: the owner read an end of file and committed half the upload with 226.
func TestRelayPassesAResetOn(t *testing.T) {
	c, say, data := relayedStor(t, 5*time.Second, "cut.bin")
	if _, err := data.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the bytes reach the owner
	_ = data.(*net.TCPConn).SetLinger(0)
	data.Close() // RST
	if got := say(""); strings.HasPrefix(got, "226") {
		t.Fatalf("the owner committed an upload whose client reset its data connection: %s", got)
	}
	if _, err := os.Stat(filepath.Join(c.root, "cut.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cut.bin after a reset upload: %v", err)
	}
	support.WaitFor(t, 5*time.Second, 10*time.Millisecond, "pod 0 counting a broken relay", func() bool {
		return c.pods[0].relays(t, "broken") == 1
	})
}
