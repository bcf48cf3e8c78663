// Package s3store is an ftpd.Storage backend on an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph RGW...),
// through minio-go's low-level API.
//
// Each user's home is the key prefix Prefix/Home/ of Bucket; a directory is a key prefix, made visible when empty
// by a zero-byte "dir/" marker object (MKD). Semantics FTP clients see:
//   - STOR streams a multipart upload with at most two parts in flight (memory per upload: three part buffers);
//     nothing is visible until the client's transfer completed (CompleteMultipartUpload, or one PutObject for
//     a file smaller than a part); ABOR, a vanished client or an S3 error aborts the multipart upload;
//   - RETR with REST is a ranged GET; SIZE, MDTM and MLST come from HEAD; listings page through ListObjectsV2
//     with a delimiter (1,000 keys per page), never holding a whole directory;
//   - RNFR/RNTO of a file is a server-side copy then a delete (multipart copy above 5 GiB); renaming a directory,
//     APPE and REST+STOR are refused with a reply that says so;
//   - MFMT rewrites the object's metadata (x-amz-meta-mtime) by a copy onto itself.
package s3store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// Config is where the bucket is and how to reach it.
type Config struct {
	// Endpoint is the S3 URL, http:// or https://host[:port].
	Endpoint string
	Bucket   string
	// Prefix is the key prefix under which users' homes live ("" = the bucket's top).
	Prefix string
	Region string
	// ForcePathStyle addresses the bucket as Endpoint/Bucket instead of Bucket.Endpoint.
	ForcePathStyle bool
	// Credentials sign the requests; see FileCredentials for files that are re-read when they change.
	Credentials *credentials.Credentials
	// RootCAs verifies an https endpoint (nil = the system's roots).
	RootCAs *x509.CertPool
	// PartSize is the multipart part size (default DefaultPartSize, at least 5 MiB). An upload holds at most
	// three parts in memory (two in flight, one filling) and can be at most 10,000 parts long.
	PartSize int64
	// Transport carries the requests (nil = a clone of http.DefaultTransport verifying with RootCAs).
	Transport http.RoundTripper
	// StaleUploadAge is how old an unfinished multipart upload under Prefix must be before SweepUploads aborts
	// it (default DefaultStaleUploadAge). Several engines may share one bucket, so the sweep never touches a
	// recent upload, which may be another engine's transfer in progress.
	StaleUploadAge time.Duration
}

// Defaults (one place for each).
const (
	DefaultPartSize       = 8 << 20
	minPartSize           = 5 << 20
	maxParts              = 10000
	DefaultStaleUploadAge = 24 * time.Hour
	listPage              = 1000
	maxIdleConns          = 256
	markerMeta            = "Mtime" // x-amz-meta-mtime: the client's modification time (MFMT)
)

// Provider is an ftpd.StorageProvider on one bucket.
type Provider struct {
	cfg    Config
	core   *minio.Core
	prefix string // cleaned Prefix, "" or "p/"
	now    func() time.Time
	// parts keeps part buffers (*[]byte of cap PartSize) between uploads: a busy engine reuses them instead of
	// allocating and faulting in fresh memory for every part; the GC empties the pool when it is idle.
	parts sync.Pool
	// connHost is the endpoint's host for GETs on connections of the store's own (see connGet), "" for none;
	// connDial its host:port.
	connHost, connDial string
	// connGets counts the GETs answered on the store's own connections, connSplices those handed to a splice.
	connGets, connSplices atomic.Int64
}

var (
	_ ftpd.StorageProvider = (*Provider)(nil)
	_ ftpd.UploadSweeper   = (*Provider)(nil)
	_ ftpd.Storage         = (*storage)(nil)
	_ ftpd.Upload          = (*upload)(nil)
	_ ftpd.DirLister       = (*lister)(nil)
)

// New checks cfg and builds the client; it does not contact the endpoint (see Check).
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("s3 endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3 bucket is required")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("s3 credentials are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("s3 part size %d: at least %d bytes", cfg.PartSize, minPartSize)
	}
	if cfg.StaleUploadAge <= 0 {
		cfg.StaleUploadAge = DefaultStaleUploadAge
	}
	prefix := strings.Trim(path.Clean("/"+cfg.Prefix), "/")
	if prefix != "" {
		prefix += "/"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every session may hold two part uploads or a GET: keep that many connections to the one host for reuse
	// (as minio-go's own transport does), and never ask for a gzip'd response: Go's transport would inflate an
	// object stored with Content-Encoding: gzip, and RETR must send the object's bytes as stored.
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxIdleConns, maxIdleConns
	tr.DisableCompression = true
	if cfg.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	lookup := minio.BucketLookupAuto
	if cfg.ForcePathStyle {
		lookup = minio.BucketLookupPath
	}
	var rt http.RoundTripper = tr
	if cfg.Transport != nil {
		rt = cfg.Transport
	}
	core, err := minio.NewCore(u.Host, &minio.Options{Creds: cfg.Credentials, Secure: u.Scheme == "https",
		Region: cfg.Region, BucketLookup: lookup, Transport: rt, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", cfg.Endpoint, err)
	}
	p := &Provider{cfg: cfg, core: core, prefix: prefix, now: time.Now}
	p.connHost, p.connDial = connHostFor(u, cfg)
	p.parts.New = func() any { b := make([]byte, 0, cfg.PartSize); return &b }
	return p, nil
}

// Storage implements ftpd.StorageProvider: the user's home is the key prefix Prefix/Home/.
func (p *Provider) Storage(u *ftpd.User) (ftpd.Storage, error) {
	home := strings.Trim(path.Clean("/"+u.Home), "/")
	base := p.prefix
	if home != "" {
		base += home + "/"
	}
	return &storage{p: p, base: base}, nil
}

// Health reasons, named after what a user has to fix.
const (
	ReasonEndpointUnreachable = "EndpointUnreachable"
	ReasonCredentialsRejected = "CredentialsRejected"
	ReasonBucketNotFound      = "BucketNotFound"
	ReasonStorageError        = "StorageError"
)

// HealthError is an unusable storage, with a Reason constant above.
type HealthError struct {
	Reason string
	Err    error
}

func (e *HealthError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *HealthError) Unwrap() error { return e.Err }

// Check reports whether the bucket is reachable with the credentials: nil, or a *HealthError.
func (p *Provider) Check(ctx context.Context) error {
	ok, err := p.core.BucketExists(ctx, p.cfg.Bucket)
	switch {
	case err == nil && ok:
		return nil
	case err == nil:
		return &HealthError{ReasonBucketNotFound, fmt.Errorf("bucket %q does not exist at %s", p.cfg.Bucket, p.cfg.Endpoint)}
	}
	er := minio.ToErrorResponse(err)
	switch {
	case er.StatusCode == http.StatusForbidden || er.StatusCode == http.StatusUnauthorized ||
		er.Code == "InvalidAccessKeyId" || er.Code == "SignatureDoesNotMatch" || er.Code == "AccessDenied":
		return &HealthError{ReasonCredentialsRejected, fmt.Errorf("bucket %q at %s refused the credentials: %w", p.cfg.Bucket, p.cfg.Endpoint, err)}
	case er.Code == "NoSuchBucket":
		return &HealthError{ReasonBucketNotFound, fmt.Errorf("bucket %q does not exist at %s", p.cfg.Bucket, p.cfg.Endpoint)}
	case er.StatusCode == 0:
		return &HealthError{ReasonEndpointUnreachable, fmt.Errorf("reaching %s: %w", p.cfg.Endpoint, err)}
	}
	return &HealthError{ReasonStorageError, fmt.Errorf("bucket %q at %s: %w", p.cfg.Bucket, p.cfg.Endpoint, err)}
}

// SweepUploads implements ftpd.UploadSweeper: it aborts the multipart uploads under Prefix that were started
// before both before and StaleUploadAge ago (an engine killed mid-upload leaves its parts behind), and
// returns how many it aborted and the bytes of their parts.
func (p *Provider) SweepUploads(before time.Time, stop func() bool) (files int, bytes int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if t := p.now().Add(-p.cfg.StaleUploadAge); t.Before(before) {
		before = t
	}
	var errs []error
	keyMarker, idMarker := "", ""
	for range 10000 { // pages of up to 1,000 uploads
		if stop() {
			break
		}
		res, lerr := p.core.ListMultipartUploads(ctx, p.cfg.Bucket, p.prefix, keyMarker, idMarker, "", 1000)
		if lerr != nil {
			errs = append(errs, fmt.Errorf("listing multipart uploads: %w", lerr))
			break
		}
		for _, up := range res.Uploads {
			if !up.Initiated.Before(before) {
				continue
			}
			var size int64
			if parts, perr := p.core.ListObjectParts(ctx, p.cfg.Bucket, up.Key, up.UploadID, 0, 1000); perr == nil {
				for _, part := range parts.ObjectParts {
					size += part.Size
				}
			}
			if aerr := p.core.AbortMultipartUpload(ctx, p.cfg.Bucket, up.Key, up.UploadID); aerr != nil {
				errs = append(errs, fmt.Errorf("aborting upload of %s: %w", up.Key, aerr))
				continue
			}
			files++
			bytes += size
		}
		if !res.IsTruncated {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	return files, bytes, errors.Join(errs...)
}

// storage is one user's view: names map to keys under base.
type storage struct {
	p    *Provider
	base string // "prefix/home/" or ""
}

// opTimeout bounds one metadata request (HEAD, list page, delete, copy start).
const opTimeout = 60 * time.Second

func (s *storage) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// key maps a session name to its object key. Sessions pass cleaned names, but the key must stay under base
// whatever arrives: "..", absolute and empty elements are refused.
func (s *storage) key(name string) (string, error) {
	if name == "." {
		return s.base, nil
	}
	if !fs.ValidPath(name) || strings.ContainsRune(name, 0) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return s.base + name, nil
}

// mapErr turns S3 errors into the fs errors ftpd maps to replies.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	er := minio.ToErrorResponse(err)
	var e error
	switch {
	case er.Code == "NoSuchKey" || er.Code == "NotFound" || (er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"):
		e = fs.ErrNotExist
	case er.Code == "PreconditionFailed" || er.StatusCode == http.StatusPreconditionFailed:
		e = fs.ErrExist
	case er.Code == "AccessDenied":
		e = fs.ErrPermission
	default:
		return fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	return &fs.PathError{Op: op, Path: key, Err: fmt.Errorf("%w (%v)", e, err)}
}

// info is a file or directory.
type info struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) ModTime() time.Time { return i.mtime }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// modTime is the client's time set by MFMT, else the object's.
func modTime(o minio.ObjectInfo) time.Time {
	if v := o.UserMetadata[markerMeta]; v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	if v := o.Metadata.Get("X-Amz-Meta-" + markerMeta); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	return o.LastModified
}

func (s *storage) Lstat(name string) (fs.FileInfo, error) { return s.Stat(name) }

// Stat: the home always exists; a name is a file if its key exists, else a directory if any key (or its
// marker) lies under name/.
func (s *storage) Stat(name string) (fs.FileInfo, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	if name == "." {
		return info{name: ".", dir: true, mtime: time.Unix(0, 0)}, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	o, err := s.p.core.StatObject(ctx, s.p.cfg.Bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return info{name: path.Base(name), size: o.Size, mtime: modTime(o)}, nil
	}
	if err = mapErr("stat", key, err); !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	res, lerr := s.p.core.ListObjectsV2(s.p.cfg.Bucket, key+"/", "", "", "", 1)
	if lerr != nil {
		return nil, mapErr("list", key+"/", lerr)
	}
	if len(res.Contents) == 0 {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	d := info{name: path.Base(name), dir: true, mtime: time.Unix(0, 0)}
	if c := res.Contents[0]; c.Key == key+"/" {
		d.mtime = c.LastModified
	}
	return d, nil
}

// OpenRead is one GET from offset (a ranged GET after REST): the object's size and modification time come from
// that response's headers, not from a HEAD before it. A key that is only a prefix (a directory) answers 404 like
// a missing one; the session asks Stat then. An offset at or beyond the end (416) is the one case that costs a
// second request, a HEAD for the size.
func (s *storage) OpenRead(name string, offset int64) (io.ReadCloser, fs.FileInfo, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, nil, err
	}
	if name == "." {
		return nil, nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if r, fi, ok := s.connGet(name, key, offset); ok {
		return r, fi, nil
	}
	opts := minio.GetObjectOptions{}
	if offset > 0 {
		if err := opts.SetRange(offset, 0); err != nil {
			return nil, nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	body, o, h, err := s.p.core.GetObject(ctx, s.p.cfg.Bucket, key, opts)
	if err != nil {
		cancel()
		if er := minio.ToErrorResponse(err); er.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			fi, err := s.Stat(name) // REST at (or past) the end of the file
			if err != nil {
				return nil, nil, err
			}
			return io.NopCloser(strings.NewReader("")), fi, nil
		}
		return nil, nil, mapErr("get", key, err)
	}
	r := &cancelCloser{ReadCloser: body, cancel: cancel}
	fi := s.openedInfo(name, offset, o, h)
	if fi.Size() < 0 { // a server that sends neither length: ask
		fi, err := s.Stat(name)
		if err != nil {
			r.Close()
			return nil, nil, err
		}
		return r, fi, nil
	}
	return r, fi, nil
}

// openedInfo is the file as a GET from offset found it, from the response's headers (h, parsed into o): its
// size (-1 if they do not tell) and modification time.
func (s *storage) openedInfo(name string, offset int64, o minio.ObjectInfo, h http.Header) fs.FileInfo {
	size := o.Size // Content-Length (-1 without one): the whole object, or only the range after REST
	if offset > 0 {
		size = rangeTotal(h.Get("Content-Range"), o.Size, offset)
	}
	return info{name: path.Base(name), size: size, mtime: modTime(o)}
}

// rangeTotal is the object's size from a ranged GET's Content-Range ("bytes 100-199/1000"), else offset plus the
// range's length (-1 if unknown too).
func rangeTotal(contentRange string, length, offset int64) int64 {
	_, total, ok := strings.Cut(contentRange, "/")
	if n, err := strconv.ParseInt(total, 10, 64); ok && err == nil && n >= 0 {
		return n
	}
	if length < 0 {
		return -1
	}
	return offset + length
}

type cancelCloser struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelCloser) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Mkdir writes the "name/" marker; the parent must be a directory and name must not exist.
func (s *storage) Mkdir(name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	if _, err := s.Stat(name); err == nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.parentDir(name); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	_, err = s.p.core.PutObject(ctx, s.p.cfg.Bucket, key+"/", strings.NewReader(""), 0, "", "", minio.PutObjectOptions{})
	return mapErr("mkdir", key+"/", err)
}

// parentDir checks that name's parent is an existing directory.
func (s *storage) parentDir(name string) error {
	parent := path.Dir(name)
	if parent == "." {
		return nil
	}
	fi, err := s.Stat(parent)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "mkdir", Path: parent, Err: fs.ErrNotExist}
	}
	return nil
}

// Remove deletes a file's object.
func (s *storage) Remove(name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return mapErr("delete", key, s.p.core.RemoveObject(ctx, s.p.cfg.Bucket, key, minio.RemoveObjectOptions{}))
}

// errNotEmpty is what RMD of a directory with keys under it answers.
var errNotEmpty = &ftpd.ReplyError{Code: 550, Msg: "Directory not empty."}

// Rmdir deletes the directory's marker when no other key lies under it.
func (s *storage) Rmdir(name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "rmdir", Path: name, Err: fs.ErrPermission}
	}
	res, err := s.p.core.ListObjectsV2(s.p.cfg.Bucket, key+"/", "", "", "", 2)
	if err != nil {
		return mapErr("list", key+"/", err)
	}
	marker := false
	for _, c := range res.Contents {
		if c.Key != key+"/" {
			return errNotEmpty
		}
		marker = true
	}
	if !marker {
		return &fs.PathError{Op: "rmdir", Path: name, Err: fs.ErrNotExist}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return mapErr("delete", key+"/", s.p.core.RemoveObject(ctx, s.p.cfg.Bucket, key+"/", minio.RemoveObjectOptions{}))
}

// errRenameDir: object storage has no directory to rename, only every key under it.
var errRenameDir = &ftpd.ReplyError{Code: 550,
	Msg: "Renaming a directory is not supported on object storage: create the new directory and move the files."}

// Rename copies a file server-side (a multipart copy above 5 GiB) and deletes the source.
func (s *storage) Rename(oldname, newname string) error {
	from, err := s.key(oldname)
	if err != nil {
		return err
	}
	to, err := s.key(newname)
	if err != nil {
		return err
	}
	fi, err := s.Stat(oldname)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errRenameDir
	}
	if from == to {
		return nil
	}
	if dst, err := s.Stat(newname); err == nil && dst.IsDir() {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	if err := s.parentDir(newname); err != nil {
		return err
	}
	if err := s.copy(from, to, nil); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return mapErr("delete", from, s.p.core.RemoveObject(ctx, s.p.cfg.Bucket, from, minio.RemoveObjectOptions{}))
}

// copy copies from to to server-side; meta, when not nil, replaces the user metadata.
func (s *storage) copy(from, to string, meta map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a multipart copy of a large object
	defer cancel()
	dst := minio.CopyDestOptions{Bucket: s.p.cfg.Bucket, Object: to}
	if meta != nil {
		dst.UserMetadata, dst.ReplaceMetadata = meta, true
	}
	_, err := s.p.core.ComposeObject(ctx, dst, minio.CopySrcOptions{Bucket: s.p.cfg.Bucket, Object: from})
	return mapErr("copy", from, err)
}

// SetModTime records mtime in the object's metadata (a copy onto itself); directories have no object to
// carry it.
func (s *storage) SetModTime(name string, mtime time.Time) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	fi, err := s.Stat(name)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &ftpd.ReplyError{Code: 550, Msg: "Directories on object storage have no modification time to set."}
	}
	return s.copy(key, key, map[string]string{markerMeta: mtime.UTC().Format(time.RFC3339Nano)})
}

func (s *storage) Close() error { return nil }

// OpenList fetches the first page (so errors come before any data moves).
func (s *storage) OpenList(name string) (ftpd.DirLister, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	prefix := key
	if name != "." {
		prefix += "/"
	}
	l := &lister{s: s, prefix: prefix}
	if err := l.fetch(); err != nil {
		return nil, err
	}
	return l, nil
}

// lister pages through ListObjectsV2 with the "/" delimiter.
type lister struct {
	s       *storage
	prefix  string
	token   string
	page    []fs.FileInfo
	more    bool
	started bool
}

func (l *lister) fetch() error {
	res, err := l.s.p.core.ListObjectsV2(l.s.p.cfg.Bucket, l.prefix, "", l.token, "/", listPage)
	if err != nil {
		return mapErr("list", l.prefix, err)
	}
	page := make([]fs.FileInfo, 0, len(res.Contents)+len(res.CommonPrefixes))
	for _, c := range res.Contents {
		base := strings.TrimPrefix(c.Key, l.prefix)
		if base == "" || strings.Contains(base, "/") {
			continue // the directory's own marker
		}
		page = append(page, info{name: base, size: c.Size, mtime: modTime(c)})
	}
	for _, cp := range res.CommonPrefixes {
		base := strings.TrimSuffix(strings.TrimPrefix(cp.Prefix, l.prefix), "/")
		if base == "" {
			continue
		}
		page = append(page, info{name: base, dir: true, mtime: time.Unix(0, 0)})
	}
	sortInfos(page)
	l.page, l.token, l.more, l.started = page, res.NextContinuationToken, res.IsTruncated && res.NextContinuationToken != "", true
	return nil
}

func sortInfos(p []fs.FileInfo) {
	for i := 1; i < len(p); i++ { // pages are nearly sorted: insertion sort
		for j := i; j > 0 && p[j].Name() < p[j-1].Name(); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func (l *lister) Next() ([]fs.FileInfo, error) {
	if l.page != nil {
		p := l.page
		l.page = nil
		return p, nil
	}
	if !l.more {
		return nil, io.EOF
	}
	if err := l.fetch(); err != nil {
		return nil, err
	}
	p := l.page
	l.page = nil
	return p, nil
}

func (l *lister) Close() error { return nil }

// Replies for what an object cannot do.
var (
	errAppend = &ftpd.ReplyError{Code: 502, Msg: "APPE is not supported on object storage: upload the whole file with STOR."}
	errResume = &ftpd.ReplyError{Code: 504, Msg: "REST before STOR is not supported on object storage: upload the whole file."}
)

// CreateUpload starts an upload; nothing is sent before the first full part.
func (s *storage) CreateUpload(name string, opts ftpd.UploadOptions) (ftpd.Upload, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	switch {
	case name == ".":
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrPermission}
	case opts.Offset < 0:
		return nil, errAppend
	case opts.Offset > 0:
		return nil, errResume
	}
	if err := s.parentDir(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &upload{s: s, key: key, noClobber: opts.NoClobber, partSize: int(s.p.cfg.PartSize),
		ctx: ctx, cancel: cancel, sem: make(chan struct{}, 2)}, nil
}

// upload streams parts: the buffer being filled, and at most two parts in flight.
type upload struct {
	s         *storage
	key       string
	noClobber bool
	partSize  int
	ctx       context.Context
	cancel    context.CancelFunc

	buf      []byte        // filling
	free     []*[]byte     // buffers of finished parts, reused for the next ones, back to the pool at the end
	sem      chan struct{} // parts in flight
	wg       sync.WaitGroup
	uploadID string
	next     int // next part number - 1

	mu    sync.Mutex
	parts []minio.CompletePart
	err   error // the first part that failed

	done bool
}

func (u *upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *upload) Write(p []byte) (int, error) {
	if err := u.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if u.buf == nil {
			u.buf = u.getBuf()
		}
		c := copy(u.buf[len(u.buf):cap(u.buf)], p)
		u.buf = u.buf[:len(u.buf)+c]
		n += c
		p = p[c:]
		if len(u.buf) == cap(u.buf) {
			if err := u.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (u *upload) getBuf() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	if k := len(u.free); k > 0 {
		b := u.free[k-1]
		u.free = u.free[:k-1]
		return (*b)[:0]
	}
	return (*u.s.p.parts.Get().(*[]byte))[:0]
}

// release hands the upload's idle buffers back to the provider's pool, once no part is in flight. A buffer
// whose part failed is never pooled: the HTTP transport may still be reading it.
func (u *upload) release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if b := u.buf; b != nil {
		u.free = append(u.free, &b)
		u.buf = nil
	}
	for _, b := range u.free {
		u.s.p.parts.Put(b)
	}
	u.free = nil
}

// flush sends the filled buffer as the next part, waiting while two parts are in flight.
func (u *upload) flush() error {
	if u.uploadID == "" {
		id, err := u.s.p.core.NewMultipartUpload(u.ctx, u.s.p.cfg.Bucket, u.key, minio.PutObjectOptions{})
		if err != nil {
			return mapErr("create multipart upload", u.key, err)
		}
		u.uploadID = id
	}
	if u.next >= maxParts {
		return &ftpd.ReplyError{Code: 552, Msg: fmt.Sprintf("File too large for object storage (%d parts of %d bytes).", maxParts, u.partSize)}
	}
	select {
	case u.sem <- struct{}{}:
	case <-u.ctx.Done():
		return u.ctx.Err()
	}
	if err := u.failed(); err != nil {
		<-u.sem
		return err
	}
	u.next++
	num, buf := u.next, u.buf
	u.buf = nil
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		part, err := u.s.p.core.PutObjectPart(u.ctx, u.s.p.cfg.Bucket, u.key, u.uploadID, num,
			bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{})
		u.mu.Lock()
		if err != nil && u.err == nil {
			u.err = mapErr("upload part", u.key, err)
		}
		if err == nil {
			u.parts = append(u.parts, minio.CompletePart{PartNumber: num, ETag: part.ETag})
			u.free = append(u.free, &buf)
		}
		u.mu.Unlock()
		<-u.sem
	}()
	return nil
}

// Commit completes the upload: one PutObject for a file smaller than a part, else the last part and
// CompleteMultipartUpload. With NoClobber the write is conditional (If-None-Match: *).
func (u *upload) Commit() error {
	if u.done {
		return errors.New("upload already finished")
	}
	opts := minio.PutObjectOptions{}
	if u.noClobber {
		opts.SetMatchETagExcept("*")
	}
	if u.uploadID == "" {
		u.done = true
		defer u.cancel()
		_, err := u.s.p.core.PutObject(u.ctx, u.s.p.cfg.Bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), "", "", opts)
		if err == nil {
			u.release()
		}
		return mapErr("put", u.key, err)
	}
	var err error
	if len(u.buf) > 0 {
		err = u.flush()
	}
	u.wg.Wait()
	if err == nil {
		err = u.failed()
	}
	if err == nil {
		u.mu.Lock()
		parts := append([]minio.CompletePart(nil), u.parts...)
		u.mu.Unlock()
		sortParts(parts)
		_, err = u.s.p.core.CompleteMultipartUpload(u.ctx, u.s.p.cfg.Bucket, u.key, u.uploadID, parts, opts)
		err = mapErr("complete multipart upload", u.key, err)
	}
	if err != nil {
		_ = u.Abort()
		return err
	}
	u.done = true
	u.cancel()
	u.release()
	return nil
}

func sortParts(p []minio.CompletePart) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].PartNumber < p[j-1].PartNumber; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// Abort stops the parts in flight and aborts the multipart upload, so no part is left stored.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.cancel()
	u.wg.Wait()
	u.release()
	if u.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return mapErr("abort multipart upload", u.key, u.s.p.core.AbortMultipartUpload(ctx, u.s.p.cfg.Bucket, u.key, u.uploadID))
}

// FileCredentials signs with an access key and a secret key read from two files (mounted Secret keys), re-read
// at most every refresh so that a rotated Secret is picked up without a restart.
func FileCredentials(accessKeyFile, secretKeyFile string, refresh time.Duration) *credentials.Credentials {
	return credentials.New(&fileProvider{akFile: accessKeyFile, skFile: secretKeyFile, refresh: refresh})
}

type fileProvider struct {
	akFile, skFile string
	refresh        time.Duration
	read           time.Time
}

func (f *fileProvider) Retrieve() (credentials.Value, error) {
	ak, err := os.ReadFile(f.akFile)
	if err != nil {
		return credentials.Value{}, fmt.Errorf("reading the S3 access key: %w", err)
	}
	sk, err := os.ReadFile(f.skFile)
	if err != nil {
		return credentials.Value{}, fmt.Errorf("reading the S3 secret key: %w", err)
	}
	f.read = time.Now()
	return credentials.Value{AccessKeyID: strings.TrimSpace(string(ak)), SecretAccessKey: strings.TrimSpace(string(sk)),
		SignerType: credentials.SignatureV4}, nil
}

func (f *fileProvider) RetrieveWithCredContext(*credentials.CredContext) (credentials.Value, error) {
	return f.Retrieve()
}

func (f *fileProvider) IsExpired() bool { return time.Since(f.read) > f.refresh }
