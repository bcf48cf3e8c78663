//go:build chaos

package chaos

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestSIGKILLEveryTwoSeconds: the manager is killed with SIGKILL every 2 s (and started again at once, one at a
// time) while 500 FTPServers are created and 100 of them deleted. The pool holds exactly 500 servers' ports. In
// the end every live server is granted and its status, Service and engine arguments agree with no overlap; then
// 100 new servers are created, which fit only if every deleted server's ports were given back.
func TestSIGKILLEveryTwoSeconds(t *testing.T) {
	const n, deleted = 500, 100
	const maxKills = 40
	c := startCluster(t)
	bin := support.OperatorBinary(t)
	pool := portalloc.Range{Start: 20000, End: 20000 + n*portsPerServer - 1}
	// One manager at a time, no standby: leader election is off so that a restarted manager starts at once
	// instead of waiting for the dead one's lease.
	flags := []string{"--leader-elect=false", poolFlag(pool)}

	var created atomic.Int32
	workDone := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(3 * time.Minute)
		if err := c.createAll(t, "k", 0, n, 50*time.Millisecond, deadline, &created); err != nil {
			workDone <- err
			return
		}
		var names []string
		for i := 0; i < n; i += n / deleted {
			names = append(names, fmt.Sprintf("k%04d", i))
		}
		workDone <- c.deleteAll(names, 100*time.Millisecond, deadline)
	}()

	kills := 0
	// A grant, once in status, never moves: every restart replays it before allocating anything.
	seen := map[string]ftpv1.PortRange{}
	var moved []string
	var workErr error
	finished := false
	for kills < maxKills {
		op := support.StartOperatorProcess(t, bin, c.kubeconfig, fmt.Sprintf("operator-%d", kills), flags...)
		select {
		case workErr = <-workDone:
			finished = true
		case <-time.After(2 * time.Second):
		}
		op.Kill()
		kills++
		moved = append(moved, remember(seen, c.grants(t))...)
		// Keep killing for a few rounds after the work is done, so that deletes and their releases are hit too.
		if finished && kills >= 10 {
			break
		}
	}
	if !finished {
		workErr = <-workDone
	}
	if workErr != nil {
		t.Fatal(workErr)
	}
	t.Logf("%d SIGKILLs while %d servers were created and %d deleted", kills, n, deleted)

	support.StartOperatorProcess(t, bin, c.kubeconfig, "operator-final", flags...)
	calm := time.Now()
	if got, _ := c.waitAllGranted(t, n-deleted, 3*time.Minute); got != n-deleted {
		t.Fatalf("%d of %d live servers granted", got, n-deleted)
	}
	converged := time.Since(calm)
	live := c.checkConsistent(t, pool, 60*time.Second)
	if moved = append(moved, remember(seen, c.grants(t))...); len(moved) > 0 {
		t.Fatalf("%d grants moved across restarts, first ones: %v", len(moved), moved[:min(len(moved), 5)])
	}

	// The pool has room for exactly the deleted servers' ports.
	if err := c.createAll(t, "r", 0, deleted, 0, time.Now().Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.waitAllGranted(t, n, 2*time.Minute); got != n {
		t.Fatalf("after refilling: %d of %d servers granted; the deleted servers' ports were not all released", got, n)
	}
	all := c.checkConsistent(t, pool, 60*time.Second)
	t.Logf("RESULT chaos: %d SIGKILLs (every 2 s) during %d creates and %d deletes; the last manager converged in %s; "+
		"%d live servers consistent (status = Service ports = engine args, no overlap); %d new servers took the freed ports, pool full, %d consistent",
		kills, n, deleted, converged.Round(time.Second), live, deleted, all)
}

// remember adds grants to seen and reports every server whose grant differs from the one seen before.
func remember(seen, grants map[string]ftpv1.PortRange) []string {
	var moved []string
	for name, g := range grants {
		if old, ok := seen[name]; ok && old != g {
			moved = append(moved, fmt.Sprintf("%s: %s → %s", name, old, g))
		}
		seen[name] = g
	}
	return moved
}
