package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An engine started while the API server is unreachable serves at once (it
// does not wait for the first list of its FTPServer): login and EPSV work,
// PASV gives a client on a private network (here loopback) the pod's own
// address until the public one is known (public clients get 425, see
// TestProxyProtocolAndUnknownAddress in internal/ftpd), and it stops cleanly.
func TestFTPDServesWhileAPIServerUnreachable(t *testing.T) {
	dir, root, users := rootAndUsers(t)
	// A kubeconfig pointing at a loopback port nobody listens on.
	closed := freeAddr(t)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://`+closed+`
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: t
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	ctl := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runFTPD(ctx, []string{"--listen", ctl, "--health-listen", "", "--root", root, "--users", users,
			"--passive-ports", "21010-21019", "--passive-host", "127.0.0.1", "--kubernetes-ftpserver", "ns/srv",
			"--log-level", "error"})
	}()
	var c net.Conn
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if c, err = net.DialTimeout("tcp", ctl, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("control port never opened while the API server is unreachable: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	for _, step := range []struct{ cmd, want string }{
		{"", "220"}, {"USER acme", "331"}, {"PASS p4ss", "230"}, {"PASV", "227 Entering Passive Mode (127,0,0,1,"}, {"EPSV", "229"},
	} {
		if got := ftpCmd(t, c, r, step.cmd); !strings.HasPrefix(got, step.want) {
			t.Fatalf("%q: got %q, want %s", step.cmd, got, step.want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runFTPD: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runFTPD did not return after cancel")
	}
}
