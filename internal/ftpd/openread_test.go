package ftpd

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// RETR through Storage.OpenRead (which both looks at and opens the file) answers as SIZE did: a directory or a
// FIFO is "not a regular file" (and the FIFO is never opened: no hang), a missing name "no such file", REST past
// the end 554, REST at the end an empty transfer.
func TestRetrRefusalsOnLocalDisk(t *testing.T) {
	e := newEnv(t)
	e.write(t, "acme/f.txt", "0123456789")
	e.write(t, "acme/sub/x", "x")
	if err := syscall.Mkfifo(filepath.Join(e.root, "acme", "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	r.must(200, "TYPE I")
	for _, tc := range []struct{ cmd, want string }{
		{"RETR sub", "Not a regular file."},
		{"RETR pipe", "Not a regular file."},
		{"RETR .", "Not a regular file."},
		{"RETR missing", "No such file or directory."},
		{"HASH sub", "Not a regular file."},
	} {
		r.epsv()
		if msg := r.must(550, "%s", tc.cmd); msg != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, msg, tc.want)
		}
	}
	r.epsv()
	r.must(350, "REST 11")
	r.must(554, "RETR f.txt")
	for _, rest := range []struct {
		at   string
		want string
	}{{"10", ""}, {"4", "456789"}} {
		port := r.epsv()
		r.must(350, "REST %s", rest.at)
		dc := dialData(t, port, "")
		r.must(150, "RETR f.txt")
		got, err := io.ReadAll(dc)
		dc.Close()
		r.expect(226)
		if err != nil || string(got) != rest.want {
			t.Errorf("REST %s + RETR: %q, %v; want %q", rest.at, got, err, rest.want)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, "acme", "pipe")); err != nil {
		t.Fatal(err)
	}
}
