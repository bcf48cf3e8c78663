package ftpd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/promtext"
)

// slowRemoveFS makes removing a temporary upload file slow, as on a busy
// volume, so that a Shutdown returning before its sessions ended is seen.
type slowRemoveFS struct{ FileSystem }

func (f slowRemoveFS) Remove(name string) error {
	if strings.HasPrefix(filepath.Base(name), tmpPrefix) {
		time.Sleep(300 * time.Millisecond)
	}
	return f.FileSystem.Remove(name)
}

type slowRemoveProvider struct{ RootFS }

func (p slowRemoveProvider) FileSystem(u *User) (FileSystem, error) {
	fsys, err := p.RootFS.FileSystem(u)
	if err != nil {
		return nil, err
	}
	return slowRemoveFS{fsys}, nil
}

// A Shutdown whose drain times out closes the sessions and waits for them:
// when it returns, no temporary upload file is left behind.
func TestShutdownTimeoutLeavesNoUploadFiles(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.FileSystems = slowRemoveProvider{s.FileSystems.(RootFS)}
	})
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	dc := dialData(t, r.epsv(), "")
	defer dc.Close()
	r.must(150, "STOR big.bin")
	if _, err := dc.Write(make([]byte, 64<<10)); err != nil { // and then nothing: the upload stalls
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "temporary upload file", func() bool { return len(tempFiles(t, e)) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the drain to time out", err)
	}
	if left := tempFiles(t, e); len(left) != 0 {
		t.Fatalf("Shutdown returned with %d temporary upload files left: %v", len(left), left)
	}
	if n := e.sessions(); n != 0 {
		t.Fatalf("Shutdown returned with %d sessions", n)
	}
}

// At start the engine removes the temporary upload files a crash left (its
// own name pattern only, older than the start) and counts them.
func TestStaleUploadFilesSweptAtStart(t *testing.T) {
	reg := promtext.NewRegistry()
	old := time.Now().Add(-time.Hour)
	stale := []string{
		"acme/" + tmpPrefix + "0123456789abcdef" + tmpSuffix,
		"acme/deep/er/" + tmpPrefix + "fedcba9876543210" + tmpSuffix,
	}
	keep := []string{
		"acme/" + tmpPrefix + "notours.txt",           // not the engine's pattern
		"acme/report.part",                            // a user's file
		"acme/" + tmpPrefix + "0123456789ABCDEF.part", // not lower-case hex
	}
	var root string
	var fresh string
	e := newEnv(t, func(s *Server) {
		root = s.FileSystems.(RootFS).Dir
		s.Metrics = NewMetrics(reg)
		for _, p := range append(append([]string{}, stale...), keep...) {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte("leftover"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(full, old, old); err != nil {
				t.Fatal(err)
			}
		}
		// Matching the pattern but written just before the start (within
		// the margin for coarse file-system clocks): kept.
		fresh = filepath.Join(root, "acme", tmpPrefix+"00000000000000ff"+tmpSuffix)
		recent := time.Now().Add(-500 * time.Millisecond)
		_ = os.WriteFile(fresh, []byte("in progress"), 0o644)
		_ = os.Chtimes(fresh, recent, recent)
	})
	waitFor(t, 5*time.Second, "sweep", func() bool {
		return metricValue(t, reg, "ftpd_stale_uploads_removed_total", "") == float64(len(stale))
	})
	for _, p := range stale {
		if _, err := os.Stat(filepath.Join(e.root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", p, err)
		}
	}
	for _, p := range append(keep, strings.TrimPrefix(fresh, root+"/")) {
		if _, err := os.Stat(filepath.Join(e.root, p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
