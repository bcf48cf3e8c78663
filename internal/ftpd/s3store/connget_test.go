package s3store_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// On a plain-http endpoint RETR and REST + RETR are GETs on the store's own connection, spliced into the data
// connection: byte-exact, from the start, from an offset, for an empty and a small object (all within the bytes
// read with the header) and a large one. ASCII mode reads the same body through user space.
func TestS3RetrSplicesOnPlainHTTP(t *testing.T) {
	e := newS3Env(t, nil)
	objs := map[string][]byte{"big.bin": randomBytes(5<<20 + 17), "small.txt": []byte("hello\nworld\n"), "empty": nil}
	for name, data := range objs {
		e.put(t, prefix+"/acme/"+name, data)
	}
	c := e.login(t, "acme")
	for _, tc := range []struct {
		name string
		off  uint64
	}{{"big.bin", 0}, {"big.bin", 3<<20 + 1}, {"big.bin", 5<<20 + 16}, {"small.txt", 0}, {"small.txt", 6}, {"empty", 0}} {
		gets, splices := e.prov.ConnGets()
		retrFrom(t, c, tc.name, tc.off, objs[tc.name])
		if g, s := e.prov.ConnGets(); g != gets+1 || s != splices+1 {
			t.Fatalf("REST %d + RETR %s: %d GETs on own connections, %d spliced; want 1 and 1", tc.off, tc.name, g-gets, s-splices)
		}
	}

	raw := dialRaw(t, e.addr, "acme")
	raw.cmd(200, "TYPE A")
	gets, splices := e.prov.ConnGets()
	dc := raw.epsv()
	raw.cmd(150, "RETR small.txt")
	got, err := io.ReadAll(dc)
	if err != nil || string(got) != "hello\r\nworld\r\n" {
		t.Fatalf("ASCII RETR: %q, %v", got, err)
	}
	raw.expect(226)
	if g, s := e.prov.ConnGets(); g != gets+1 || s != splices {
		t.Fatalf("ASCII RETR: %d GETs on own connections, %d spliced; want 1 and 0", g-gets, s-splices)
	}
}

// What the store's own GET does not handle goes through minio-go, so the replies stay those of the SDK path
// (an engine whose Transport is set never uses its own connections): a missing key, a directory, REST past the
// end, wrong credentials.
func TestS3ConnGetFallbackReplies(t *testing.T) {
	replies := func(secret string, sdkOnly bool) (out []string, gets int64) {
		e := newS3Env(t, func(c *s3store.Config) {
			c.Credentials = credentials.NewStaticV4(seaweedfs.AccessKey, secret, "")
			if sdkOnly {
				c.Transport = http.DefaultTransport.(*http.Transport).Clone()
			}
		})
		e.put(t, prefix+"/acme/f.bin", randomBytes(1000))
		e.put(t, prefix+"/acme/sub/x", []byte("x"))
		raw := dialRaw(t, e.addr, "acme")
		raw.cmd(200, "TYPE I")
		for _, cmd := range []string{"RETR missing.bin", "RETR sub", "REST 2000", "RETR f.bin", "RETR f.bin"} {
			if strings.HasPrefix(cmd, "RETR") {
				raw.epsv()
			}
			if _, err := io.WriteString(raw.c, cmd+"\r\n"); err != nil {
				t.Fatal(err)
			}
			_, line := raw.read()
			if strings.HasPrefix(line, "150") {
				_, line = raw.read()
			}
			out = append(out, cmd+" → "+line)
		}
		g, _ := e.prov.ConnGets()
		return out, g
	}
	for _, secret := range []string{seaweedfs.SecretKey, "wrong"} {
		own, gets := replies(secret, false)
		sdk, _ := replies(secret, true)
		if strings.Join(own, "\n") != strings.Join(sdk, "\n") {
			t.Errorf("secret %q: replies\n%s\nwant (SDK path)\n%s", secret, strings.Join(own, "\n"), strings.Join(sdk, "\n"))
		}
		if want := map[string]int64{seaweedfs.SecretKey: 1, "wrong": 0}[secret]; gets != want {
			t.Errorf("secret %q: %d GETs answered on own connections, want %d (only the good RETR)", secret, gets, want)
		}
		t.Logf("secret %q:\n%s", secret, strings.Join(own, "\n"))
	}
}

// cutProxy forwards TCP connections to target; after cut bytes of answer (0 = never) it closes the connection,
// or with stall set keeps it open sending nothing more until the client closes it. It counts the connections
// still open and the bytes of answer passed on.
type cutProxy struct {
	addr   string
	cut    atomic.Int64
	stall  atomic.Bool
	open   atomic.Int64
	served atomic.Int64
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: l.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() { // the engine's idle keep-alive connections too
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.open.Add(1)
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			gone := make(chan struct{})
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); close(gone) }()
			go func() {
				defer wg.Done()
				var src io.Reader = up
				if n := p.cut.Load(); n > 0 {
					src = io.LimitReader(up, n)
				}
				_, _ = io.Copy(countWriter{c, &p.served}, src)
				if p.stall.Load() {
					<-gone
				}
				c.Close()
				up.Close()
				p.open.Add(-1)
			}()
		}
	}()
	return p
}

// An S3 connection that ends in the middle of the object fails the RETR (426, not 226), spliced or not.
func TestS3RetrCutMidBody(t *testing.T) {
	s3 := seaweedfs.Shared(t)
	p := newCutProxy(t, strings.TrimPrefix(s3.Endpoint, "http://"))
	e := newS3Env(t, func(c *s3store.Config) { c.Endpoint = "http://" + p.addr })
	data := randomBytes(4 << 20)
	e.put(t, prefix+"/acme/f.bin", data)
	p.cut.Store(1 << 20)
	raw := dialRaw(t, e.addr, "acme")
	for _, mode := range []string{"TYPE I", "TYPE A"} {
		raw.cmd(200, mode)
		gets, _ := e.prov.ConnGets()
		dc := raw.epsv()
		raw.cmd(150, "RETR f.bin")
		n, _ := io.Copy(io.Discard, dc)
		code, line := raw.read()
		if code/100 != 4 || n >= int64(len(data)) {
			t.Errorf("%s: RETR of a cut GET sent %d bytes, then %q; want a 4xx reply", mode, n, line)
		}
		if g, _ := e.prov.ConnGets(); g != gets+1 {
			t.Errorf("%s: the GET was not on the store's own connection", mode)
		}
	}
}

// ABOR ends a spliced RETR at once (426 then 226) and closes the S3 connection, whether the splice waits on a
// client that stopped reading or on an S3 server that stopped sending (well before the data timeout).
func TestS3AborSplicedRetr(t *testing.T) {
	s3 := seaweedfs.Shared(t)
	for _, tc := range []struct {
		name  string
		stall bool
	}{{"client stopped reading", false}, {"S3 stopped sending", true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newCutProxy(t, strings.TrimPrefix(s3.Endpoint, "http://"))
			e := newS3Env(t, func(c *s3store.Config) { c.Endpoint = "http://" + p.addr })
			e.put(t, prefix+"/acme/f.bin", randomBytes(64<<20))
			if tc.stall {
				p.cut.Store(2 << 20)
				p.stall.Store(true)
			}
			raw := dialRaw(t, e.addr, "acme")
			raw.cmd(200, "TYPE I")
			idle := p.open.Load() // minio-go's keep-alive connections (the engine's upload sweep at start)
			dc := raw.epsv()
			raw.cmd(150, "RETR f.bin")
			if _, err := io.ReadFull(dc, make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			if tc.stall {
				go func() { _, _ = io.Copy(io.Discard, dc) }()
			}
			waitFor(t, 10*time.Second, "the splice to stall", func() bool {
				s := p.served.Load()
				time.Sleep(200 * time.Millisecond)
				return p.open.Load() == idle+1 && p.served.Load() == s
			})
			start := time.Now()
			if _, err := io.WriteString(raw.c, "ABOR\r\n"); err != nil {
				t.Fatal(err)
			}
			raw.expect(426)
			raw.expect(226)
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("ABOR took %s", el)
			}
			waitFor(t, 3*time.Second, "the S3 connection to close", func() bool { return p.open.Load() == idle })
			if _, s := e.prov.ConnGets(); s != 1 {
				t.Fatalf("%d spliced GETs, want 1", s)
			}
		})
	}
}

// countWriter adds what it writes to n.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
