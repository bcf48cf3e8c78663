package s3store_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jlaffaye/ftp"

	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
)

// countingTransport records the S3 requests the engine sends ("GET key", "HEAD key", ...).
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req.Method+" "+req.URL.Path)
	c.mu.Unlock()
	return c.base.RoundTrip(req)
}

// take returns the requests recorded since the last call and forgets them.
func (c *countingTransport) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reqs
	c.reqs = nil
	return r
}

// A RETR costs S3 one request, the GET (size and time come from its headers, no HEAD before it); REST + RETR one
// ranged GET. The replies for what cannot be read stay those of SIZE: a directory is "not a regular file", a
// missing name "no such file", REST past the end 554.
func TestS3RetrIsOneRequest(t *testing.T) {
	ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	e := newS3Env(t, func(c *s3store.Config) { c.Transport = ct })
	data := randomBytes(3<<20 + 17)
	e.put(t, prefix+"/acme/f.bin", data)
	e.put(t, prefix+"/acme/sub/inner.txt", []byte("x"))
	c := e.login(t, "acme")
	ct.take()

	for _, off := range []uint64{0, 1<<20 + 5} { // RETR, then REST + RETR (a ranged GET)
		retrFrom(t, c, "f.bin", off, data)
		if reqs := ct.take(); len(reqs) != 1 || !strings.HasPrefix(reqs[0], "GET ") {
			t.Fatalf("REST %d + RETR sent %d S3 requests %q, want one GET", off, len(reqs), reqs)
		}
	}

	raw := dialRaw(t, e.addr, "acme")
	raw.cmd(200, "TYPE I")
	for _, tc := range []struct{ cmd, want string }{
		{"RETR sub", "550 Not a regular file."},
		{"RETR missing.bin", "550 No such file or directory."},
		{"RETR .", "550 Not a regular file."},
		{"RETR ../other/x", "550 No such file or directory."},
	} {
		raw.epsv()
		if got := raw.cmd(550, tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	raw.epsv()
	raw.cmd(350, "REST 3145746")
	if got := raw.cmd(554, "RETR f.bin"); !strings.Contains(got, "beyond end of file") {
		t.Errorf("REST past the end + RETR: %q", got)
	}
}

// retrFrom downloads name from offset off and checks that it is data[off:].
func retrFrom(t *testing.T, c *ftp.ServerConn, name string, off uint64, data []byte) {
	t.Helper()
	r, err := c.RetrFrom(name, off)
	if err != nil {
		t.Fatalf("REST %d + RETR %s: %v", off, name, err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data[off:]) {
		t.Fatalf("REST %d + RETR %s: %d bytes, %v; want %d", off, name, len(got), err, len(data)-int(off))
	}
}

// noLengthTransport drops the length headers from GET responses, as a server that streams its answer would.
type noLengthTransport struct{ base http.RoundTripper }

func (n noLengthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := n.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && resp.StatusCode/100 == 2 {
		resp.Header.Del("Content-Length")
		resp.Header.Del("Content-Range")
	}
	return resp, err
}

// A GET whose response does not give the object's size costs one HEAD more, and RETR and REST + RETR still work
// (without the HEAD the size would be unknown and every RETR refused as past the end).
func TestS3RetrWithoutLengthHeaders(t *testing.T) {
	ct := &countingTransport{base: noLengthTransport{http.DefaultTransport.(*http.Transport).Clone()}}
	e := newS3Env(t, func(c *s3store.Config) { c.Transport = ct })
	data := randomBytes(1<<20 + 3)
	e.put(t, prefix+"/acme/f.bin", data)
	c := e.login(t, "acme")
	ct.take()
	for _, off := range []uint64{0, 1000} {
		retrFrom(t, c, "f.bin", off, data)
		if reqs := ct.take(); len(reqs) != 2 {
			t.Fatalf("REST %d + RETR sent %q, want the GET and one HEAD", off, reqs)
		}
	}
}
