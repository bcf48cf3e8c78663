package s3store_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
)

// uploadTransport records the requests of multipart uploads and how many parts were in flight at once.
type uploadTransport struct {
	base     http.RoundTripper
	mu       sync.Mutex
	reqs     []string
	inFlight int
	maxParts int
}

func (u *uploadTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	part := req.Method == http.MethodPut && q.Has("partNumber")
	u.mu.Lock()
	switch {
	case part:
		u.inFlight++
		u.maxParts = max(u.maxParts, u.inFlight)
		u.reqs = append(u.reqs, fmt.Sprintf("PUT part %s %s %s md5=%q", q.Get("partNumber"),
			req.Header.Get("X-Amz-Decoded-Content-Length"), req.Header.Get("X-Amz-Content-Sha256"), req.Header.Get("Content-Md5")))
	case req.Method == http.MethodPost && q.Has("uploads"):
		u.reqs = append(u.reqs, "POST create")
	case req.Method == http.MethodPost && q.Has("uploadId"):
		u.reqs = append(u.reqs, "POST complete")
	default:
		u.reqs = append(u.reqs, req.Method+" "+req.URL.Path)
	}
	u.mu.Unlock()
	resp, err := u.base.RoundTrip(req)
	if part {
		u.mu.Lock()
		u.inFlight--
		u.mu.Unlock()
	}
	return resp, err
}

// The requests a 20 MiB STOR sends S3 with the default configuration (the file of the benchmark's parallel STOR
// row): the multipart upload in 8 MiB parts, at most two in flight, each part's payload covered by the
// streaming SigV4 signature over plain http (SeaweedFS verifies every 64 KiB chunk's SHA-256), no Content-MD5 —
// the same signing and integrity as minio-go's own PutObject of the file (two parts of 16 and 4 MiB, see
// docs/object-storage.md). Before the upload the session's Stat of the name: a HEAD and, the object missing, a
// one-key listing (is it a directory?).
func TestS3StorRequests(t *testing.T) {
	ut := &uploadTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	e := newS3Env(t, func(c *s3store.Config) { c.Transport = ut; c.PartSize = 0 })
	c := e.login(t, "acme")
	data := randomBytes(20 << 20)
	ut.mu.Lock()
	ut.reqs = nil
	ut.mu.Unlock()
	if err := c.Stor("f.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.object(t, prefix+"/acme/f.bin"); !bytes.Equal(got, data) {
		t.Fatalf("object: %d bytes, want %d byte-exact", len(got), len(data))
	}
	ut.mu.Lock()
	reqs, maxParts := ut.reqs, ut.maxParts
	ut.mu.Unlock()
	const stream = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	want := []string{
		"HEAD /" + e.bucket + "/" + prefix + "/acme/f.bin", "GET /" + e.bucket + "/", "POST create",
		"PUT part 1 8388608 " + stream + ` md5=""`, "PUT part 2 8388608 " + stream + ` md5=""`,
		"PUT part 3 4194304 " + stream + ` md5=""`, "POST complete",
	}
	// Parts 1 and 2 are in flight together and may reach the transport in either order.
	if len(reqs) == len(want) && strings.HasPrefix(reqs[3], "PUT part 2") {
		reqs[3], reqs[4] = reqs[4], reqs[3]
	}
	if strings.Join(reqs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("a 20 MiB STOR sent\n  %s\nwant\n  %s", strings.Join(reqs, "\n  "), strings.Join(want, "\n  "))
	}
	if maxParts > 2 {
		t.Fatalf("%d parts in flight at once, want at most 2", maxParts)
	}
}
