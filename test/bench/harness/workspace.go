package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// workspace is the benchmark's scratch tree. The system user's home must be a fixed path, so it lives at
// /tmp/ftp-operator-bench and is removed at the end.
//
//	dir/root/bench      the user's home on every server (ours: --root dir/root, home /bench)
//	  big.bin           BENCH_SIZE bytes, RETR source
//	  par.bin           the file each parallel session downloads
//	  list/             5,000 entries
//	  up-NAME/          small-file uploads land here
//	dir/client/small    the 1,000 local files curl uploads
type workspace struct {
	dir, root, home, client string
	createdUser             bool
	uid, gid                int
}

const workDir = "/tmp/ftp-operator-bench"

func newWorkspace() (*workspace, error) {
	if err := os.RemoveAll(workDir); err != nil {
		return nil, err
	}
	w := &workspace{dir: workDir, root: filepath.Join(workDir, "root"), home: filepath.Join(workDir, "root", "bench"),
		client: filepath.Join(workDir, "client")}
	for _, d := range []string{w.home, w.client} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(workDir, 0o755); err != nil {
		return nil, err
	}
	return w, nil
}

// ensureUser creates the system user the C servers authenticate (pam_unix / shadow), with the benchmark's
// password and home; it is removed at the end if we created it.
func (w *workspace) ensureUser() error {
	if _, err := user.Lookup(benchUser); err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", w.home,
			"--shell", "/usr/sbin/nologin", "--comment", "ftp-operator make bench", benchUser).CombinedOutput()
		if err != nil {
			return fmt.Errorf("useradd: %v: %s", err, out)
		}
		w.createdUser = true
	} else if out, err := exec.Command("usermod", "--home", w.home, benchUser).CombinedOutput(); err != nil {
		return fmt.Errorf("usermod: %v: %s", err, out)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(benchUser + ":" + benchPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chpasswd: %v: %s", err, out)
	}
	u, err := user.Lookup(benchUser)
	if err != nil {
		return err
	}
	w.uid, _ = strconv.Atoi(u.Uid)
	w.gid, _ = strconv.Atoi(u.Gid)
	return nil
}

func (w *workspace) chown(path string) error {
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, w.uid, w.gid)
	})
}

// writeFile writes size pseudo-random bytes (a 1 MiB random block repeated, so nothing is sparse or zero).
func writeFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	block := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	for left := size; left > 0; {
		n := min(left, int64(len(block)))
		if _, err := f.Write(block[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	return f.Close()
}

func (w *workspace) populate(c config, servers []*server) error {
	if err := writeFile(filepath.Join(w.home, "big.bin"), c.size); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(w.home, "par.bin"), c.parSize); err != nil {
		return err
	}
	list := filepath.Join(w.home, "list")
	if err := os.MkdirAll(list, 0o755); err != nil {
		return err
	}
	line := bytes.Repeat([]byte("x"), 100)
	for i := 0; i < c.listEntries; i++ {
		if err := os.WriteFile(filepath.Join(list, fmt.Sprintf("entry-%05d.txt", i)), line, 0o644); err != nil {
			return err
		}
	}
	small := filepath.Join(w.client, "small")
	if err := os.MkdirAll(small, 0o755); err != nil {
		return err
	}
	body := bytes.Repeat([]byte("s"), c.smallSize)
	for i := 1; i <= c.smallFiles; i++ {
		if err := os.WriteFile(filepath.Join(small, fmt.Sprintf("f%05d", i)), body, 0o644); err != nil {
			return err
		}
	}
	for _, s := range servers {
		if err := os.MkdirAll(filepath.Join(w.home, "up-"+s.Name), 0o755); err != nil {
			return err
		}
	}
	return w.chown(w.root)
}

func (w *workspace) cleanup() {
	_ = os.RemoveAll(w.dir)
	if w.createdUser {
		_ = exec.Command("userdel", benchUser).Run()
	}
}
