package support

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// ServeUsersSecret mounts the operator's users Secret s in dir as the kubelet does (MountUsersSecret) and starts a
// real engine (StartEngineWith) that authenticates against it, until the test ends. It returns the engine's control
// address. Mount a newer Secret into dir with MountUsersSecret and the engine sees it at the next login.
func ServeUsersSecret(t testing.TB, dir string, s *corev1.Secret) string {
	t.Helper()
	usersFile, err := MountUsersSecret(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := ftpd.NewFileAuthenticator(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := StartEngineWith(t, func(e *ftpd.Server) { e.Auth = auth })
	return addr
}

// MountUsersSecret writes the operator's users Secret into dir the way the kubelet updates a Secret volume: every
// key is a symlink into ..data, and ..data is swapped atomically to a fresh timestamped folder, so a running engine
// sees a new users file exactly as it would in a pod. The users file's paths name the pod's mount (render.UsersDir);
// they are moved into dir. It returns the path of the users file. Call it again with a newer Secret to update.
func MountUsersSecret(dir string, s *corev1.Secret) (string, error) {
	ts := filepath.Join(dir, fmt.Sprintf("..%d", time.Now().UnixNano()))
	if err := os.MkdirAll(ts, 0o750); err != nil {
		return "", err
	}
	for k, v := range s.Data {
		if k == render.UsersFileName {
			v = bytes.ReplaceAll(v, []byte(render.UsersDir+"/"), []byte(dir+"/"))
		}
		if err := os.WriteFile(filepath.Join(ts, k), v, 0o440); err != nil {
			return "", err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries { // keys that are gone
		if _, ok := s.Data[e.Name()]; !ok && !strings.HasPrefix(e.Name(), "..") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	for k := range s.Data {
		if _, err := os.Lstat(filepath.Join(dir, k)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
				return "", err
			}
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return filepath.Join(dir, render.UsersFileName), nil
}
