package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// startS3FTPD runs the ftpd subcommand on S3 storage and returns its control and health addresses.
func startS3FTPD(t *testing.T, extra ...string) (ctl, health string) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - name: acme\n    password: p4ss\n    home: /acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl, health = freeAddr(t), freeAddr(t)
	startFTPD(t, append([]string{"--listen", ctl, "--health-listen", health, "--users", users,
		"--passive-ports", "21100-21109", "--passive-host", "127.0.0.1", "--log-level", "error"}, extra...)...)
	return ctl, health
}

// startFTPD runs the ftpd subcommand with args until stop or the end of the test. stop cancels it, waits (at most
// 10 s) for it to return and returns its error; calling it again returns the same. At the end of the test an error
// from it is reported.
func startFTPD(t *testing.T, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runFTPD(ctx, args) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("runFTPD did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("runFTPD: %v", err)
		}
	})
	return stop
}

// readyz polls /readyz until it answers want (bounded), and returns the body.
func readyz(t *testing.T, health string, want int) string {
	t.Helper()
	var last string
	for range 100 {
		resp, err := http.Get("http://" + health + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == want {
				return last
			}
			last = resp.Status + " " + last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/readyz never answered %d (last: %s)", want, last)
	return ""
}

// The engine keeps files in a bucket when --s3-endpoint is given (credentials from files, no --root), and its
// /readyz names what makes the storage unusable.
func TestRunFTPDOnS3(t *testing.T) {
	s3 := seaweedfs.Start(t)
	bucket := s3.Bucket(t, "engine-files")
	dir := t.TempDir()
	ak, sk, wrong := filepath.Join(dir, "accessKeyID"), filepath.Join(dir, "secretAccessKey"), filepath.Join(dir, "wrong")
	for f, v := range map[string]string{ak: seaweedfs.AccessKey + "\n", sk: seaweedfs.SecretKey + "\n", wrong: "not-the-secret"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s3Flags := func(bucket, secretFile string) []string {
		return []string{"--s3-endpoint", s3.Endpoint, "--s3-bucket", bucket, "--s3-prefix", "tenants", "--s3-region", "us-east-1",
			"--s3-force-path-style", "--s3-access-key-id-file", ak, "--s3-secret-access-key-file", secretFile}
	}
	ctl, health := startS3FTPD(t, s3Flags(bucket, sk)...)
	readyz(t, health, http.StatusOK)
	c, err := ftp.Dial(ctl, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("acme", "p4ss"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("report.csv", strings.NewReader("a,b\n1,2\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := s3.Object(t, bucket, "tenants/acme/report.csv"); err != nil || !bytes.Equal(got, []byte("a,b\n1,2\n")) {
		t.Fatalf("object: %q, %v", got, err)
	}

	for _, tc := range []struct {
		name   string
		flags  []string
		reason string
	}{
		{"wrong secret", s3Flags(bucket, wrong), "CredentialsRejected"},
		{"missing bucket", s3Flags("no-such-bucket", sk), "BucketNotFound"},
		{"unreachable", append(s3Flags(bucket, sk), "--s3-endpoint", "http://"+freeAddr(t)), "EndpointUnreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, health := startS3FTPD(t, tc.flags...)
			if body := readyz(t, health, http.StatusServiceUnavailable); !strings.Contains(body, tc.reason) {
				t.Fatalf("/readyz: %q, want the reason %s", body, tc.reason)
			}
		})
	}
}

// Without credentials the engine refuses to start and says where they come from; none is ever an argument.
func TestRunFTPDOnS3NeedsCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runFTPD(context.Background(), []string{"--users", users, "--s3-endpoint", "http://127.0.0.1:1", "--s3-bucket", "b"})
	if err == nil || !strings.Contains(err.Error(), "--s3-access-key-id-file") || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("runFTPD without credentials: %v", err)
	}
}
