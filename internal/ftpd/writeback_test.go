package ftpd

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestReplacingUploadStartsWritebackBeforeRename: a STOR over an existing file submits its temporary file's
// writeback after all its data is written and before the rename makes it visible (so ext4's allocation at the
// rename overlaps the close grace instead of delaying the 226; issue 10 §2); a STOR to a new name does not
// (its rename allocates nothing). The old content stays visible until the commit, and the new content after.
func TestReplacingUploadStartsWritebackBeforeRename(t *testing.T) {
	type call struct {
		size    int64
		visible string
	}
	var mu sync.Mutex
	var calls []call
	e := newEnv(t)
	prev := startWriteback
	t.Cleanup(func() { startWriteback = prev })
	startWriteback = func(f *os.File) <-chan struct{} {
		fi, _ := f.Stat()
		visible, _ := e.read(t, "acme/up.bin")
		mu.Lock()
		calls = append(calls, call{fi.Size(), visible})
		mu.Unlock()
		return prev(f)
	}
	e.write(t, "acme/up.bin", "previous content")
	c := e.dial(t, "acme", "secret")
	data := bytes.Repeat([]byte("new content "), 100000)
	if err := c.Stor("fresh.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(calls) != 0 {
		t.Errorf("an upload to a new name submitted writeback: %+v", calls)
	}
	mu.Unlock()
	if err := c.Stor("up.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("writeback submitted %d times for one replacing upload, want 1", len(calls))
	}
	if calls[0].size != int64(len(data)) || calls[0].visible != "previous content" {
		t.Errorf("writeback submitted with %d of %d bytes written and %.20q visible; want all of them, before the rename",
			calls[0].size, len(data), calls[0].visible)
	}
	if got, _ := e.read(t, "acme/up.bin"); !strings.HasPrefix(got, "new content") || len(got) != len(data) {
		t.Errorf("after the 226: %d bytes", len(got))
	}
}
