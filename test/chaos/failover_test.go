//go:build chaos

package chaos

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/portalloc"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// TestFailoverDuringCreates: two managers with leader election; the leader is killed with SIGKILL (it releases
// nothing) while 200 FTPServers are being created. The standby must take over within 15 s, keep every grant the
// old leader wrote (it replays them before allocating), lose no server and hand out no port twice.
func TestFailoverDuringCreates(t *testing.T) {
	const n = 200
	c := startCluster(t)
	bin := support.OperatorBinary(t)
	pool := portalloc.Range{Start: 20000, End: 20000 + n*portsPerServer + 99}
	a := support.StartOperatorProcess(t, bin, c.kubeconfig, "leader", append(shortLease, poolFlag(pool))...)
	var first string
	waitFor(t, 60*time.Second, "the first manager to lead", func() bool { first = c.leaseHolder(); return first != "" })
	support.StartOperatorProcess(t, bin, c.kubeconfig, "standby", append(shortLease, poolFlag(pool))...)

	var created atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- c.createAll(t, "f", 0, n, 50*time.Millisecond, time.Now().Add(2*time.Minute), &created)
	}()
	// Kill the leader once it has granted some servers and creates are still coming.
	waitFor(t, 2*time.Minute, "60 servers created, 20 granted", func() bool { return created.Load() >= 60 && len(c.grants(t)) >= 20 })
	before := c.grants(t)
	a.Kill()
	killed := time.Now()
	t.Logf("leader killed (SIGKILL, pid %d) with %d servers created and %d granted", a.PID(), created.Load(), len(before))
	var second string
	takeover := waitFor(t, 30*time.Second, "the standby to take the lease", func() bool {
		second = c.leaseHolder()
		return second != "" && second != first
	})
	// The first grant the new leader writes.
	firstGrant := waitFor(t, 60*time.Second, "the new leader's first grant", func() bool { return len(c.grants(t)) > len(before) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := c.waitAllGranted(t, n, 3*time.Minute)
	if got != n {
		t.Fatalf("%d of %d servers granted %s after the kill", got, n, time.Since(killed).Round(time.Second))
	}
	servers := c.checkConsistent(t, pool, 30*time.Second)
	after := c.grants(t)
	for name, g := range before {
		if after[name] != g {
			t.Fatalf("%s held %s under the old leader and %s under the new one", name, g, after[name])
		}
	}
	t.Logf("RESULT failover: lease taken over %s after SIGKILL (lease 4 s), first new grant after %s, all %d granted %s after the kill; "+
		"%d grants of the old leader kept; %d servers consistent", takeover.Round(time.Millisecond), (takeover + firstGrant).Round(time.Millisecond),
		n, time.Since(killed).Round(time.Second), len(before), servers)
	if takeover > 15*time.Second {
		t.Fatalf("takeover took %s, want < 15 s", takeover)
	}
}
