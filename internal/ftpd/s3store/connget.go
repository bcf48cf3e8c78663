package s3store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// A GET on a plain-http endpoint is sent by the store itself, on a TCP connection of its own, so that the
// object's bytes after the response's header can be spliced by the kernel from that socket into the FTP data
// connection (ftpd.ConnReader) instead of being copied through user space by net/http. Anything but a 200 (206
// after REST) with a Content-Length and no transfer coding closes that connection, and the request is sent again
// through minio-go, whose answer (and error mapping) is then the one the session sees.

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// connDialTimeout bounds the connect of the store's own GET connection (see connGet).
const connDialTimeout = 3 * time.Second

var _ ftpd.ConnReader = (*connBody)(nil)

// connGet answers OpenRead through its own connection; ok is false when the caller must use minio-go instead.
func (s *storage) connGet(name, key string, offset int64) (r io.ReadCloser, fi fs.FileInfo, ok bool) {
	p := s.p
	if p.connHost == "" {
		return nil, nil, false
	}
	v, err := p.cfg.Credentials.Get()
	if err != nil || !v.SignerType.IsV4() {
		return nil, nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	region, err := p.core.GetBucketLocation(ctx, p.cfg.Bucket) // cfg.Region, or minio-go's cached answer
	if err != nil {
		return nil, nil, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+p.connHost+"/"+p.cfg.Bucket+"/"+s3utils.EncodePath(key), nil)
	if err != nil {
		return nil, nil, false
	}
	if px, err := http.ProxyFromEnvironment(req); err != nil || px != nil {
		return nil, nil, false // minio-go's transport goes through the proxy; so must we
	}
	want := http.StatusOK
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		want = http.StatusPartialContent
	}
	req.Header.Set("User-Agent", "ftp-operator-ftpd")
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	req = signer.SignV4(*req, v.AccessKeyID, v.SecretAccessKey, v.SessionToken, region)

	// A short connect: an endpoint that does not answer is left to minio-go, whose own connect then decides the
	// reply, so an unreachable store is not waited for twice in full.
	d := net.Dialer{Timeout: connDialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", p.connDial)
	if err != nil {
		return nil, nil, false
	}
	conn := nc.(*net.TCPConn)
	fail := func() (io.ReadCloser, fs.FileInfo, bool) { conn.Close(); return nil, nil, false }
	_ = conn.SetDeadline(time.Now().Add(opTimeout))
	if err := req.Write(conn); err != nil {
		return fail()
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != want || resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 {
		return fail()
	}
	o, err := minio.ToObjectInfo(p.cfg.Bucket, key, resp.Header)
	if err != nil {
		return fail()
	}
	fi = s.openedInfo(name, offset, o, resp.Header)
	if fi.Size() < 0 {
		return fail()
	}
	head, _ := br.Peek(int(min(int64(br.Buffered()), resp.ContentLength)))
	_ = conn.SetDeadline(time.Time{})
	p.connGets.Add(1)
	return &connBody{p: p, conn: conn, head: head, left: resp.ContentLength - int64(len(head))}, fi, true
}

// errShortBody is an S3 connection that ended before the response's Content-Length.
var errShortBody = errors.New("s3 connection ended before the end of the object")

// connBody is a GET's body: head (read with the response's header), then left bytes from conn.
type connBody struct {
	p    *Provider
	conn *net.TCPConn
	head []byte
	left int64
}

// Read is the body through user space (ASCII mode, rate limits, TLS data connections); each read waits at most
// opTimeout for the server.
func (b *connBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	_ = b.conn.SetReadDeadline(time.Now().Add(opTimeout))
	n, err := b.conn.Read(p)
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && b.left > 0 {
		err = fmt.Errorf("%w (%d bytes missing)", errShortBody, b.left)
	}
	return n, err
}

// ConnBody implements ftpd.ConnReader.
func (b *connBody) ConnBody() ([]byte, *net.TCPConn, int64) {
	b.p.connSplices.Add(1)
	head, left := b.head, b.left
	b.head, b.left = nil, 0
	return head, b.conn, left
}

// Close closes the connection (never reused: it would have to be read to its end first).
func (b *connBody) Close() error {
	if err := b.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// connHostFor is the endpoint's host (as in its URL, the Host header signed) and host:port to dial for the store's
// own GETs: a plain-http endpoint addressed path-style (as minio-go addresses it) reached through the store's own
// transport. Otherwise "" (every GET goes through minio-go: a caller's Transport must see every request, and TLS
// stays net/http's).
func connHostFor(u *url.URL, cfg Config) (host, dial string) {
	if u.Scheme != "http" || cfg.Transport != nil || (!cfg.ForcePathStyle && s3utils.IsVirtualHostSupported(*u, cfg.Bucket)) {
		return "", ""
	}
	if u.Port() == "" {
		return u.Host, net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host, u.Host
}
