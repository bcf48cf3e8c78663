//go:build unix

package ftpd

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// orderFS records the order of the calls a commit makes on the real RootFS.
type orderFS struct {
	FileSystem
	mu     sync.Mutex
	events []string
	closed chan struct{}
}

func (o *orderFS) note(e string) { o.mu.Lock(); o.events = append(o.events, e); o.mu.Unlock() }

type notedFile struct {
	File
	o *orderFS
}

func (f notedFile) Close() error {
	f.o.note("close old")
	close(f.o.closed)
	return f.File.Close()
}

func (o *orderFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := o.FileSystem.OpenFile(name, flag, perm)
	if err != nil || name != "big.bin" {
		return f, err
	}
	o.note("open old")
	return notedFile{f, o}, nil
}

func (o *orderFS) Rename(a, b string) error {
	o.note("rename")
	return o.FileSystem.Rename(a, b)
}

// TestReplacingUploadHoldsOldFile: a STOR that replaces a file holds the
// replaced file open across the rename and lets it go only afterwards, so the
// kernel's freeing of its pages (about 0.1 s per 256 MiB on ext4) does not
// happen inside rename(2), before the 226 (issue 10 §2).
func TestReplacingUploadHoldsOldFile(t *testing.T) {
	dir, fsys := homeFS(t)
	if err := os.WriteFile(filepath.Join(dir, "u", "big.bin"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &orderFS{FileSystem: fsys, closed: make(chan struct{})}
	up, err := (&fsStorage{fsys: o}).CreateUpload("big.bin", UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("the replaced file was never released; calls: %v", o.events)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if want := []string{"open old", "rename", "close old"}; !slices.Equal(o.events, want) {
		t.Fatalf("calls %v, want %v", o.events, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "u", "big.bin")); string(got) != "new" {
		t.Fatalf("content %q", got)
	}
}

// TestReplacingUploadOverFIFO: the replaced name is opened without blocking,
// so a FIFO put there (between STOR's check and the commit) cannot hang the
// session; the upload still replaces it.
func TestReplacingUploadOverFIFO(t *testing.T) {
	dir, fsys := homeFS(t)
	up, err := (&fsStorage{fsys: fsys}).CreateUpload("p", UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "u", "p"), 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Commit() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("commit hung on a FIFO")
	}
	if fi, err := os.Lstat(filepath.Join(dir, "u", "p")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after commit: %v, %v", fi, err)
	}
}

// homeFS is the RootFS of a user "u" under a fresh directory (the home is dir/u).
func homeFS(t *testing.T) (string, FileSystem) {
	dir := t.TempDir()
	fsys, err := RootFS{Dir: dir}.FileSystem(&User{Name: "u", Home: "u"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return dir, fsys
}
