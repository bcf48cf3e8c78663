package s3store_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/test/support"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// users authenticates from a fixed table (password = name + "-pw").
type users map[string]*ftpd.User

func (u users) Authenticate(_ context.Context, name, password string) (*ftpd.User, error) {
	if usr, ok := u[name]; ok && password == name+"-pw" {
		return usr, nil
	}
	return nil, ftpd.ErrAuthFailed
}

// s3env is a real engine serving from a real S3 server (SeaweedFS).
type s3env struct {
	s3     *seaweedfs.Server
	bucket string
	prov   *s3store.Provider
	addr   string
}

const prefix = "tenant"

func TestMain(m *testing.M) {
	code := m.Run()
	seaweedfs.StopShared()
	os.Exit(code)
}

var buckets atomic.Int32

// newS3Env serves from a bucket of its own on the package's one SeaweedFS.
func newS3Env(t *testing.T, cfg func(*s3store.Config)) *s3env {
	t.Helper()
	s3 := seaweedfs.Shared(t)
	bucket := s3.Bucket(t, fmt.Sprintf("ftpd-test-%d", buckets.Add(1)))
	c := s3store.Config{Endpoint: s3.Endpoint, Bucket: bucket, Prefix: prefix, Region: "us-east-1", ForcePathStyle: true,
		Credentials: credentials.NewStaticV4(seaweedfs.AccessKey, seaweedfs.SecretKey, ""), PartSize: 5 << 20}
	if cfg != nil {
		cfg(&c)
	}
	prov, err := s3store.New(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := &ftpd.Server{
		Auth: users{
			"acme":  {Name: "acme", Home: "acme", Access: ftpd.ReadWrite},
			"other": {Name: "other", Home: "other", Access: ftpd.ReadWrite},
			"drop":  {Name: "drop", Home: "drop", Access: ftpd.WriteOnly},
		},
		Storage:      prov,
		PassivePorts: portrangetest.Free(t, 10),
		PassiveHost:  "127.0.0.1",
		LoginDelay:   -1,
		DataTimeout:  10 * time.Second,
	}
	// The engine's log (why a transfer failed) is shown when the test fails, with the tail of SeaweedFS's.
	logs := &support.SyncBuffer{}
	srv.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine log:\n%s\nweed mini log (tail):\n%s", logs.String(), s3.Log())
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return &s3env{s3: s3, bucket: bucket, prov: prov, addr: l.Addr().String()}
}

func (e *s3env) login(t *testing.T, user string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithDisabledEPSV(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, user+"-pw"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c
}

func (e *s3env) put(t *testing.T, key string, data []byte) {
	t.Helper()
	_, err := e.s3.Client().PutObject(context.Background(), e.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *s3env) object(t *testing.T, key string) ([]byte, bool) {
	t.Helper()
	b, err := e.s3.Object(t, e.bucket, key)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, false
		}
		t.Fatalf("reading %s: %v", key, err)
	}
	return b, true
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// A multipart STOR (four 5 MiB parts and a tail) lands byte-exact under the user's prefix with no upload left
// pending; RETR, REST+RETR (a ranged GET), SIZE, MDTM and MLST read it back.
func TestS3StoreRetrieve(t *testing.T) {
	e := newS3Env(t, nil)
	c := e.login(t, "acme")
	data := randomBytes(21<<20 + 12345)
	if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, ok := e.object(t, prefix+"/acme/big.bin")
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("object: %d bytes (exists %v), want %d byte-exact", len(got), ok, len(data))
	}
	if p := e.s3.PendingUploads(t, e.bucket, ""); len(p) != 0 {
		t.Fatalf("multipart uploads left after a commit: %v", p)
	}
	small := []byte("a small file: one PutObject\n")
	if err := c.Stor("small.txt", bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.object(t, prefix+"/acme/small.txt"); !bytes.Equal(got, small) {
		t.Fatalf("small object %q", got)
	}
	r, err := c.Retr("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("RETR: %d bytes, %v", len(back), err)
	}
	const off = 7<<20 + 3
	r, err = c.RetrFrom("big.bin", off)
	if err != nil {
		t.Fatal(err)
	}
	back, err = io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(back, data[off:]) {
		t.Fatalf("REST %d + RETR: %d bytes, %v; want %d", off, len(back), err, len(data)-off)
	}
	r, err = c.RetrFrom("small.txt", uint64(len(small)))
	if err != nil {
		t.Fatal(err)
	}
	back, _ = io.ReadAll(r)
	r.Close()
	if len(back) != 0 {
		t.Fatalf("REST at the end returned %d bytes", len(back))
	}
	if n, err := c.FileSize("big.bin"); err != nil || n != int64(len(data)) {
		t.Fatalf("SIZE = %d, %v", n, err)
	}
	oi, err := e.s3.Client().StatObject(context.Background(), e.bucket, prefix+"/acme/big.bin", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mt, err := c.GetTime("big.bin"); err != nil || !mt.Equal(oi.LastModified.Truncate(time.Second)) {
		t.Fatalf("MDTM = %v, %v; want the object's %v", mt, err, oi.LastModified)
	}
	entry, err := c.GetEntry("big.bin")
	if err != nil || entry.Type != ftp.EntryTypeFile || entry.Size != uint64(len(data)) {
		t.Fatalf("MLST = %+v, %v", entry, err)
	}
	if _, err := c.FileSize("missing.bin"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("SIZE of a missing file: %v, want 550", err)
	}
}

// rawConn is a control connection driven line by line.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr, user string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	r.expect(220)
	r.cmd(331, "USER "+user)
	r.cmd(230, "PASS "+user+"-pw")
	return r
}

func (r *rawConn) read() (int, string) {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var last string
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading reply: %v", err)
		}
		last = strings.TrimRight(line, "\r\n")
		if len(last) >= 4 && last[3] == ' ' {
			break
		}
	}
	code, _ := strconv.Atoi(last[:3])
	return code, last
}

func (r *rawConn) expect(code int) string {
	r.t.Helper()
	got, line := r.read()
	if got != code {
		r.t.Fatalf("reply %q, want %d", line, code)
	}
	return line
}

func (r *rawConn) cmd(code int, line string) string {
	r.t.Helper()
	if _, err := fmt.Fprintf(r.c, "%s\r\n", line); err != nil {
		r.t.Fatal(err)
	}
	return r.expect(code)
}

// epsv opens a passive data connection.
func (r *rawConn) epsv() net.Conn {
	r.t.Helper()
	line := r.cmd(229, "EPSV")
	i, j := strings.Index(line, "|||"), strings.LastIndex(line, "|")
	port := line[i+3 : j]
	host, _, _ := net.SplitHostPort(r.c.RemoteAddr().String())
	dc, err := net.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { dc.Close() })
	return dc
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An object stored with Content-Encoding: gzip (another tool's upload) is sent as stored: byte-exact, as many
// bytes as SIZE says. Go's HTTP transport inflates such a body by itself unless told not to ask for gzip.
func TestS3RetrSendsObjectAsStored(t *testing.T) {
	e := newS3Env(t, nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte("a compressible line of a web page\n"), 4000))
	_ = zw.Close()
	stored := gz.Bytes()
	_, err := e.s3.Client().PutObject(context.Background(), e.bucket, prefix+"/acme/page.html", bytes.NewReader(stored),
		int64(len(stored)), minio.PutObjectOptions{ContentEncoding: "gzip", ContentType: "text/html"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.login(t, "acme")
	if size, err := c.FileSize("page.html"); err != nil || size != int64(len(stored)) {
		t.Fatalf("SIZE = %d, %v; want %d", size, err, len(stored))
	}
	r, err := c.Retr("page.html")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, stored) {
		t.Fatalf("RETR sent %d bytes (%v), want the %d stored (gzip) bytes", len(got), err, len(stored))
	}
}

// An upload is invisible until its 226; ABOR, a vanished client and an S3 error each abort the multipart
// upload: no object, no parts left.
func TestS3UploadAbortLeavesNothing(t *testing.T) {
	var failParts atomic.Bool
	e := newS3Env(t, func(c *s3store.Config) {
		c.Transport = failingTransport{base: http.DefaultTransport.(*http.Transport).Clone(), fail: &failParts}
	})
	cases := []struct {
		name string
		end  func(t *testing.T, r *rawConn, dc net.Conn)
	}{
		{"ABOR", func(t *testing.T, r *rawConn, dc net.Conn) {
			if _, err := fmt.Fprintf(r.c, "ABOR\r\n"); err != nil {
				t.Fatal(err)
			}
			code, _ := r.read()
			if code == 426 || code == 451 {
				code, _ = r.read()
			}
			if code != 226 {
				t.Fatalf("ABOR answered %d", code)
			}
		}},
		{"client vanished", func(t *testing.T, r *rawConn, dc net.Conn) {
			r.c.Close() // the control connection first, as a killed client's kernel does...
			dc.Close()  // ...and then its data connection, which looks like a complete upload
		}},
		{"S3 error", func(t *testing.T, r *rawConn, dc net.Conn) {
			failParts.Store(true)
			defer failParts.Store(false)
			_, _ = dc.Write(randomBytes(12 << 20)) // more parts, which S3 now refuses
			dc.Close()
			code, line := r.read()
			if code < 400 {
				t.Fatalf("upload with failing parts answered %q", line)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, e.addr, "acme")
			dc := r.epsv()
			name := strings.ReplaceAll(tc.name, " ", "-") + ".bin"
			r.cmd(150, "STOR "+name)
			if _, err := dc.Write(randomBytes(12 << 20)); err != nil { // two full parts: a multipart upload is open
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the multipart upload to start", func() bool {
				return len(e.s3.PendingUploads(t, e.bucket, prefix+"/acme/"+name)) == 1
			})
			if _, ok := e.object(t, prefix+"/acme/"+name); ok {
				t.Fatal("object visible before the upload completed")
			}
			tc.end(t, r, dc)
			waitFor(t, 20*time.Second, "the multipart upload to be aborted", func() bool {
				return len(e.s3.PendingUploads(t, e.bucket, prefix+"/acme/"+name)) == 0
			})
			if _, ok := e.object(t, prefix+"/acme/"+name); ok {
				t.Fatal("object exists after an aborted upload")
			}
		})
	}
}

// failingTransport answers 500 to part uploads while fail is set.
type failingTransport struct {
	base http.RoundTripper
	fail *atomic.Bool
}

func (f failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.fail.Load() && req.Method == http.MethodPut && req.URL.Query().Has("partNumber") {
		return nil, errors.New("injected: part upload failed")
	}
	return f.base.RoundTrip(req)
}

// Listings page through ListObjectsV2 (2,500 keys: three pages) and show directories from markers and from
// deeper keys.
func TestS3Listing(t *testing.T) {
	e := newS3Env(t, nil)
	var want []string
	for i := range 2500 {
		name := fmt.Sprintf("f%05d.txt", i)
		want = append(want, name)
		e.put(t, prefix+"/acme/many/"+name, nil)
	}
	e.put(t, prefix+"/acme/many/sub/deep.txt", []byte("x"))
	e.put(t, prefix+"/acme/many/marker/", nil)
	want = append(want, "marker", "sub")
	slices.Sort(want)
	c := e.login(t, "acme")
	names, err := c.NameList("many")
	if err != nil {
		t.Fatal(err)
	}
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], "many/")
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("NLST: %d names, want %d (first %v)", len(names), len(want), names[:min(3, len(names))])
	}
	entries, err := c.List("many")
	if err != nil {
		t.Fatal(err)
	}
	dirs := 0
	for _, en := range entries {
		if en.Type == ftp.EntryTypeFolder {
			dirs++
		}
	}
	if len(entries) != len(want) || dirs != 2 {
		t.Fatalf("MLSD: %d entries with %d directories, want %d with 2", len(entries), dirs, len(want))
	}
	if err := c.ChangeDir("many/sub"); err != nil {
		t.Fatalf("CWD into a directory made only of deeper keys: %v", err)
	}
	if err := c.ChangeDir("/nope"); err == nil {
		t.Fatal("CWD into a missing directory succeeded")
	}
}

// MKD writes a marker, RMD removes only an empty directory, a file renames by copy and delete, a directory
// rename is refused with a clear text, DELE removes.
func TestS3DirectoriesAndRename(t *testing.T) {
	e := newS3Env(t, nil)
	c := e.login(t, "acme")
	if err := c.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.object(t, prefix+"/acme/d/"); !ok {
		t.Fatal("MKD wrote no marker")
	}
	if err := c.MakeDir("d"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("MKD of an existing directory: %v", err)
	}
	if err := c.MakeDir("no/such/parent"); err == nil {
		t.Fatal("MKD without a parent succeeded")
	}
	if err := c.Stor("d/f.txt", strings.NewReader("content")); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir("d"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("RMD of a non-empty directory: %v", err)
	}
	if err := c.Rename("d/f.txt", "g.txt"); err != nil {
		t.Fatal(err)
	}
	if got, ok := e.object(t, prefix+"/acme/g.txt"); !ok || string(got) != "content" {
		t.Fatalf("renamed object %q %v", got, ok)
	}
	if _, ok := e.object(t, prefix+"/acme/d/f.txt"); ok {
		t.Fatal("rename left the source")
	}
	err := c.Rename("d", "e")
	if err == nil || !strings.HasPrefix(err.Error(), "550") || !strings.Contains(err.Error(), "Renaming a directory is not supported on object storage") {
		t.Fatalf("directory rename: %v", err)
	}
	if err := c.RemoveDir("d"); err != nil {
		t.Fatalf("RMD of the empty directory: %v", err)
	}
	if _, ok := e.object(t, prefix+"/acme/d/"); ok {
		t.Fatal("RMD left the marker")
	}
	if err := c.Delete("g.txt"); err != nil {
		t.Fatal(err)
	}
	if keys := e.s3.Keys(t, e.bucket, prefix+"/acme/"); len(keys) != 0 {
		t.Fatalf("keys left: %v", keys)
	}
	if err := c.Delete("g.txt"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("DELE of a missing file: %v", err)
	}
}

// APPE and REST+STOR are refused with a reply that says why, before a data connection is used; MFMT sets the
// time MDTM reports.
func TestS3RefusedAndMFMT(t *testing.T) {
	e := newS3Env(t, nil)
	e.put(t, prefix+"/acme/f.txt", []byte("0123456789"))
	r := dialRaw(t, e.addr, "acme")
	r.epsv()
	if line := r.cmd(502, "APPE f.txt"); !strings.Contains(line, "not supported on object storage") {
		t.Fatalf("APPE: %q", line)
	}
	r.epsv()
	r.cmd(350, "REST 5")
	if line := r.cmd(504, "STOR f.txt"); !strings.Contains(line, "not supported on object storage") {
		t.Fatalf("REST+STOR: %q", line)
	}
	if got, _ := e.object(t, prefix+"/acme/f.txt"); string(got) != "0123456789" {
		t.Fatalf("file changed to %q", got)
	}
	r.cmd(213, "MFMT 20200102030405 f.txt")
	if line := r.cmd(213, "MDTM f.txt"); line != "213 20200102030405" {
		t.Fatalf("MDTM after MFMT: %q", line)
	}
	if got, _ := e.object(t, prefix+"/acme/f.txt"); string(got) != "0123456789" {
		t.Fatalf("MFMT changed the content to %q", got)
	}
}

// No key outside the user's prefix is reachable: "..", absolute paths and encoded forms stay inside it.
func TestS3Confinement(t *testing.T) {
	e := newS3Env(t, nil)
	secret := []byte("other user's secret")
	e.put(t, prefix+"/other/secret.txt", secret)
	e.put(t, "outside.txt", secret)
	e.put(t, prefix+"/acmex/secret.txt", secret) // shares the home's name as a string prefix
	c := e.login(t, "acme")
	for _, p := range []string{
		"../other/secret.txt", "/../other/secret.txt", "../../outside.txt", "/../../../outside.txt",
		"%2e%2e/other/secret.txt", "..%2fother%2fsecret.txt", `..\other\secret.txt`, "....//other/secret.txt",
		"../acmex/secret.txt", "//other/secret.txt",
	} {
		if r, err := c.Retr(p); err == nil {
			b, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("RETR %q succeeded (%d bytes)", p, len(b))
		}
		if _, err := c.FileSize(p); err == nil {
			t.Errorf("SIZE %q succeeded", p)
		}
	}
	if err := c.ChangeDir("../.."); err != nil {
		t.Fatalf("CWD ../..: %v", err)
	}
	if dir, _ := c.CurrentDir(); dir != "/" {
		t.Fatalf("CWD ../.. went to %q", dir)
	}
	names, err := c.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Fatalf("the empty home lists %v", names)
	}
	if err := c.Stor("../../escape.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("../other/secret.txt"); err == nil {
		t.Error("DELE ../other/secret.txt succeeded")
	}
	keys := e.s3.Keys(t, e.bucket, "")
	slices.Sort(keys)
	want := []string{"outside.txt", prefix + "/acme/escape.txt", prefix + "/acmex/secret.txt", prefix + "/other/secret.txt"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if got, _ := e.object(t, prefix+"/other/secret.txt"); !bytes.Equal(got, secret) {
		t.Fatal("another user's object changed")
	}
}

// A user who may not replace files (WriteOnly) cannot overwrite an object, even one that appears during the
// upload: the commit is a conditional write (If-None-Match: *).
func TestS3NoClobber(t *testing.T) {
	e := newS3Env(t, nil)
	e.put(t, prefix+"/drop/old.txt", []byte("old"))
	c := e.login(t, "drop")
	if err := c.Stor("old.txt", strings.NewReader("new")); err == nil {
		t.Fatal("WriteOnly user replaced a file")
	}
	st, err := e.prov.Storage(&ftpd.User{Name: "drop", Home: "drop"})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{3, 6 << 20} { // one PutObject, and a multipart upload
		up, err := st.CreateUpload("race.txt", ftpd.UploadOptions{NoClobber: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := up.Write(randomBytes(size)); err != nil {
			t.Fatal(err)
		}
		e.put(t, prefix+"/drop/race.txt", []byte("first"))
		if err := up.Commit(); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("%d bytes: commit over a name that appeared = %v, want fs.ErrExist", size, err)
		}
		if got, _ := e.object(t, prefix+"/drop/race.txt"); string(got) != "first" {
			t.Fatalf("%d bytes: object replaced (%d bytes)", size, len(got))
		}
		if p := e.s3.PendingUploads(t, e.bucket, prefix+"/drop/"); len(p) != 0 {
			t.Fatalf("refused commit left uploads: %v", p)
		}
		_ = e.s3.Client().RemoveObject(context.Background(), e.bucket, prefix+"/drop/race.txt", minio.RemoveObjectOptions{})
	}
}

// Check names the cause of an unusable storage.
func TestS3Health(t *testing.T) {
	e := newS3Env(t, nil)
	if err := e.prov.Check(context.Background()); err != nil {
		t.Fatalf("healthy storage: %v", err)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	for _, tc := range []struct {
		name   string
		cfg    s3store.Config
		reason string
	}{
		{"wrong secret", s3store.Config{Endpoint: e.s3.Endpoint, Bucket: e.bucket,
			Credentials: credentials.NewStaticV4(seaweedfs.AccessKey, "wrong", "")}, s3store.ReasonCredentialsRejected},
		{"unknown key", s3store.Config{Endpoint: e.s3.Endpoint, Bucket: e.bucket,
			Credentials: credentials.NewStaticV4("nobody", "wrong", "")}, s3store.ReasonCredentialsRejected},
		{"missing bucket", s3store.Config{Endpoint: e.s3.Endpoint, Bucket: "no-such-bucket",
			Credentials: credentials.NewStaticV4(seaweedfs.AccessKey, seaweedfs.SecretKey, "")}, s3store.ReasonBucketNotFound},
		{"unreachable", s3store.Config{Endpoint: "http://" + deadAddr, Bucket: e.bucket,
			Credentials: credentials.NewStaticV4(seaweedfs.AccessKey, seaweedfs.SecretKey, "")}, s3store.ReasonEndpointUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.ForcePathStyle, tc.cfg.Region = true, "us-east-1"
			p, err := s3store.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = p.Check(ctx)
			var he *s3store.HealthError
			if !errors.As(err, &he) || he.Reason != tc.reason {
				t.Fatalf("Check = %v, want reason %s", err, tc.reason)
			}
		})
	}
}

// At start the sweep aborts stale multipart uploads under the prefix (an engine killed mid-upload), never
// recent ones nor others outside the prefix.
func TestS3SweepStaleUploads(t *testing.T) {
	e := newS3Env(t, func(c *s3store.Config) { c.StaleUploadAge = time.Millisecond })
	core := minio.Core{Client: e.s3.Client()}
	ctx := context.Background()
	stale, err := core.NewMultipartUpload(ctx, e.bucket, prefix+"/acme/killed.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, e.bucket, prefix+"/acme/killed.bin", stale, 1, bytes.NewReader(randomBytes(1000)), 1000, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.NewMultipartUpload(ctx, e.bucket, "elsewhere/x.bin", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // S3 times have a one-second resolution
	if _, err := core.NewMultipartUpload(ctx, e.bucket, prefix+"/acme/recent.bin", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	files, size, err := e.prov.SweepUploads(time.Now().Add(-1500*time.Millisecond), func() bool { return false })
	if err != nil || files != 1 || size != 1000 {
		t.Fatalf("SweepUploads = %d uploads, %d bytes, %v; want 1, 1000, nil", files, size, err)
	}
	left := e.s3.PendingUploads(t, e.bucket, "")
	if len(left) != 2 || strings.Contains(strings.Join(left, ","), stale) {
		t.Fatalf("uploads left: %v", left)
	}
}
