// Package seaweedfs runs a real S3 server for tests: SeaweedFS's `weed mini` (master, volume server, filer and
// S3 gateway in one process) on free loopback ports, built by hack/seaweedfs.sh (`make seaweedfs`). It has no
// Kubernetes dependency, so engine, integration and end-to-end tests can all use it.
package seaweedfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials of the one identity every server started here knows.
const (
	AccessKey = "ftpd-test-access"
	SecretKey = "ftpd-test-secret-key"
)

// Server is a running `weed mini`.
type Server struct {
	// Endpoint is the S3 URL, http://127.0.0.1:PORT.
	Endpoint string
	// Host is Endpoint without the scheme.
	Host string
	cmd  *exec.Cmd
	stop func()
	log  *bytes.Buffer
	mu   *sync.Mutex
}

// Binary returns the path of the weed binary: $SEAWEEDFS_DIR/weed, else the version hack/seaweedfs.sh pins under
// bin/seaweedfs/. It skips the test, with a message saying how to build it, only when SEAWEEDFS_DIR is unset and
// the binary is absent; a set SEAWEEDFS_DIR without a binary fails the test.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := Find()
	var missing *NotBuiltError
	switch {
	case errors.As(err, &missing):
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	return bin
}

// NotBuiltError is Find's answer when SEAWEEDFS_DIR is unset and the pinned binary is absent.
type NotBuiltError struct{ Path string }

func (e *NotBuiltError) Error() string {
	return fmt.Sprintf("SeaweedFS is not built (%s): run `make seaweedfs` (hack/seaweedfs.sh), or set SEAWEEDFS_DIR", e.Path)
}

// Find is Binary for programs (the benchmark): the path of the weed binary, a *NotBuiltError when it is absent
// and SEAWEEDFS_DIR is unset, or another error.
func Find() (string, error) {
	if dir := os.Getenv("SEAWEEDFS_DIR"); dir != "" {
		bin := filepath.Join(dir, "weed")
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("SEAWEEDFS_DIR=%s: %w", dir, err)
		}
		return bin, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	script, err := os.ReadFile(filepath.Join(root, "hack", "seaweedfs.sh"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`SEAWEEDFS_VERSION:-([^}]+)}`).FindSubmatch(script)
	if m == nil {
		return "", errors.New("hack/seaweedfs.sh names no default SEAWEEDFS_VERSION")
	}
	bin := filepath.Join(root, "bin", "seaweedfs", string(m[1]), "weed")
	if _, err := os.Stat(bin); err != nil {
		return "", &NotBuiltError{bin}
	}
	return bin, nil
}

// moduleRoot is the folder of the main module's go.mod, as the go command sees it from the test's directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("finding the module root with go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// freePorts returns n distinct free loopback ports, each with port+10000 free too (SeaweedFS's gRPC ports
// default to that, and the flags below set them explicitly anyway).
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 200 {
		if len(ports) == n {
			return ports, nil
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p+10000 > 65535 {
			l.Close()
			continue
		}
		g, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			l.Close()
			continue
		}
		held = append(held, l, g)
		ports = append(ports, p)
	}
	return nil, fmt.Errorf("no %d free loopback ports", n)
}

// Start runs `weed mini` on free loopback ports with an identities file, waits (at most 60 s) until its S3
// gateway serves requests, and stops the process by its PID when the test ends. It skips the test when SeaweedFS
// is not built (see Binary).
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := launch(Binary(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("weed mini log (tail):\n%s", s.tail(4000))
		}
	})
	return s
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	sharedDir  string
)

// Shared is one server for every test of a package that calls it (each test then uses its own buckets); the
// package's TestMain must call StopShared after m.Run. It skips the test when SeaweedFS is not built.
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	sharedOnce.Do(func() {
		if sharedDir, sharedErr = os.MkdirTemp("", "seaweedfs-"); sharedErr == nil {
			shared, sharedErr = launch(bin, sharedDir)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// StopShared stops the server Shared started, if any, by its PID, and removes its files.
func StopShared() {
	if shared != nil {
		shared.stop()
	}
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
}

// Launch is Start for programs (the benchmark): weed mini from bin with its files under dir; the caller stops
// it with Stop.
func Launch(bin, dir string) (*Server, error) { return launch(bin, dir) }

// Stop stops the server by its PID (SIGTERM, SIGKILL after 5 s) and waits for it to exit.
func (s *Server) Stop() { s.stop() }

// PID is the weed process's ID (to read its CPU time and memory from /proc).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// maxVolumes is how many volumes a server may create, whatever the disk's free space (see launch).
const maxVolumes = 1000

// launch starts weed mini with its files under dir and waits until it serves S3; a port taken between choosing
// and binding is retried with other ports, three times.
func launch(bin, dir string) (*Server, error) {
	ids := filepath.Join(dir, "identities.json")
	if err := os.WriteFile(ids, []byte(Identities()), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		p, err := freePorts(5) // master, volume, filer, s3, admin
		if err != nil {
			return nil, err
		}
		// Every listener on a port chosen here, or off: WebDAV, the Iceberg and Lance catalogs and the admin
		// server's legacy port are not needed.
		args := []string{"mini", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.config=" + ids,
			"-admin.ui=false", "-admin.port=" + strconv.Itoa(p[4]), "-admin.port.grpc=" + strconv.Itoa(p[4]+10000),
			"-admin.port.legacy=0", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
			"-master.port=" + strconv.Itoa(p[0]), "-master.port.grpc=" + strconv.Itoa(p[0]+10000),
			"-volume.port=" + strconv.Itoa(p[1]), "-volume.port.grpc=" + strconv.Itoa(p[1]+10000),
			"-filer.port=" + strconv.Itoa(p[2]), "-filer.port.grpc=" + strconv.Itoa(p[2]+10000),
			"-s3.port=" + strconv.Itoa(p[3]), "-s3.port.grpc=" + strconv.Itoa(p[3]+10000),
			// The sockets that have flags live in dir (the gRPC ones are /tmp/seaweedfs-*-grpc-PORT.sock, which
			// weed removes when it stops).
			"-filer.localSocket=" + filepath.Join(dir, "filer.sock"), "-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
			// Left at 0, the volume count is the disk's free space over the volume size (1 GiB on a disk of
			// 100 GiB or more): 22 volumes with 26 GB free, and every bucket is a collection of its own that
			// takes volumes. A package's shared server, a bucket a test, then ran out of volumes after 20–30
			// tests ("No writable volumes and no free volumes left", a 500 to the upload) depending on the
			// machine's free disk. Volumes are sparse files; the volume server's minimum free space (1 %) still
			// stops writes on a full disk.
			"-volume.max=" + strconv.Itoa(maxVolumes),
		}
		s := &Server{Host: "127.0.0.1:" + strconv.Itoa(p[3]), log: &bytes.Buffer{}, mu: &sync.Mutex{}}
		s.Endpoint = "http://" + s.Host
		s.cmd = exec.Command(bin, args...)
		s.cmd.Stdout, s.cmd.Stderr = lockedWriter{s.log, s.mu}, lockedWriter{s.log, s.mu}
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting %s: %w", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(exited) }()
		s.stop = func() {
			_ = s.cmd.Process.Signal(syscall.SIGTERM) // the process we started, by its PID
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-exited
			}
		}
		err = s.waitReady(60*time.Second, exited)
		if err == nil {
			return s, nil
		}
		s.stop()
		if attempt == 3 {
			return nil, fmt.Errorf("SeaweedFS did not serve S3 on %s: %v\nlog (tail):\n%s", s.Endpoint, err, s.tail(4000))
		}
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (s *Server) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.log.String()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b
}

// At is a SeaweedFS started elsewhere (the e2e suite's pod) at host:port, serving S3 over plain HTTP to the
// identity AccessKey/SecretKey; its Client, Bucket, Keys, PendingUploads and Object work as on one Start ran.
func At(host string) *Server {
	return &Server{Endpoint: "http://" + host, Host: host, log: &bytes.Buffer{}, mu: &sync.Mutex{}}
}

// Identities is the identities file (weed -s3.config) that grants AccessKey/SecretKey every action.
func Identities() string {
	return fmt.Sprintf(`{"identities":[{"name":"ftpd","credentials":[{"accessKey":%q,"secretKey":%q}],`+
		`"actions":["Admin","Read","Write","List","Tagging"]}]}`, AccessKey, SecretKey)
}

// Client is a minio-go client for this server (path-style, the test identity).
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.Host, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		panic(err) // only a malformed endpoint, which Start never builds
	}
	return c
}

// WaitReady polls (every 200 ms, at most timeout) until a signed ListBuckets succeeds: for a server from At.
func (s *Server) WaitReady(timeout time.Duration) error { return s.waitReady(timeout, nil) }

// waitReady polls until a signed ListBuckets succeeds (every 200 ms, bounded by timeout), or the process exits.
func (s *Server) waitReady(timeout time.Duration, exited <-chan struct{}) error {
	c := s.Client()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("weed exited: %v", s.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, last = c.ListBuckets(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

// Bucket creates a bucket (3-63 characters) and returns its name.
func (s *Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Keys lists every key under prefix in bucket.
func (s *Server) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for o := range s.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("listing %s/%s: %v", bucket, prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// PendingUploads lists the unfinished multipart uploads under prefix in bucket ("key uploadID").
func (s *Server) PendingUploads(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	core := minio.Core{Client: s.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := core.ListMultipartUploads(ctx, bucket, prefix, "", "", "", 1000)
	if err != nil {
		t.Fatalf("listing multipart uploads in %s: %v", bucket, err)
	}
	var out []string
	for _, u := range res.Uploads {
		out = append(out, u.Key+" "+u.UploadID)
	}
	return out
}

// Object returns the content of bucket/key.
func (s *Server) Object(t testing.TB, bucket, key string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o, err := s.Client().GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(o); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Log returns the tail of the server's output.
func (s *Server) Log() string { return strings.TrimSpace(s.tail(8000)) }
