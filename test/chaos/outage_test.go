//go:build chaos

package chaos

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestAPIServerOutageDuringCreates: the API server process is stopped for 30 s (etcd keeps running) in the
// middle of 300 creates, then started again on the same port with the same certificates. The operator runs as it
// is deployed, with leader election; a manager that loses its lease during the outage exits, and the test
// restarts it as the kubelet would. The operator must recover by itself: every server granted, no overlap,
// nothing left terminating, and the ports of 20 servers deleted just before the outage handed out again.
func TestAPIServerOutageDuringCreates(t *testing.T) {
	const n, deleted = 300, 20
	c := startCluster(t)
	bin := support.OperatorBinary(t)
	pool := portalloc.Range{Start: 20000, End: 20000 + (n-deleted)*portsPerServer - 1}
	flags := append(shortLease, poolFlag(pool))

	// A supervisor like the kubelet's restartPolicy Always: a manager that exits is started again after 1 s.
	stopSupervisor := make(chan struct{})
	supervised := make(chan struct{})
	var restarts atomic.Int32
	go func() {
		defer close(supervised)
		op := support.StartOperatorProcess(t, bin, c.kubeconfig, "operator", flags...)
		for range 100 {
			for !op.Exited() {
				select {
				case <-stopSupervisor:
					op.Kill()
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
			if restarts.Add(1) <= 2 {
				log := strings.TrimSpace(op.Log())
				t.Logf("manager exited: %s", log[strings.LastIndexByte(log, '\n')+1:])
			}
			time.Sleep(time.Second)
			op = support.StartOperatorProcess(t, bin, c.kubeconfig, "operator", flags...)
		}
	}()
	defer func() { close(stopSupervisor); <-supervised }()

	var created atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- c.createAll(t, "o", 0, n, 100*time.Millisecond, time.Now().Add(3*time.Minute), &created)
	}()
	waitFor(t, 2*time.Minute, "100 servers created", func() bool { return created.Load() >= 100 })
	api := c.env.ControlPlane.GetAPIServer()
	waitFor(t, time.Minute, "the operator to catch up", func() bool { return len(c.grants(t)) >= 100 })
	// 20 servers are deleted just before the outage: their ports must come back (the pool has room for exactly
	// the servers that remain), and none may be left terminating.
	var gone []string
	for i := range deleted {
		gone = append(gone, fmt.Sprintf("o%04d", i))
	}
	if err := c.deleteAll(gone, 0, time.Now().Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	granted := len(c.grants(t))
	if err := api.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server stopped with %d servers created and %d granted", created.Load(), granted)
	time.Sleep(30 * time.Second)
	if err := api.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	granted = len(c.grants(t)) // writes that reached etcd while the API server was stopping
	firstGrant := waitFor(t, 2*time.Minute, "the first grant after the outage", func() bool { return len(c.grants(t)) > granted })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, took := c.waitAllGranted(t, n-deleted, 3*time.Minute)
	if got != n-deleted {
		t.Fatalf("%d of %d servers granted %s after the API server came back", got, n-deleted, took.Round(time.Second))
	}
	servers := c.checkConsistent(t, pool, 30*time.Second)
	t.Logf("RESULT outage: 30 s without an API server during %d creates (%d deleted just before it); pool full; first new grant %s and all granted %s after it came back "+
		"(the last creates arrive 100 ms apart); manager exited and was restarted %d times; %d servers consistent",
		n, deleted, firstGrant.Round(time.Millisecond), time.Since(back).Round(time.Second), restarts.Load(), servers)
}
