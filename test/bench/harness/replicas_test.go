package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// benchWorkspace is a workspace in a temporary directory with par.bin of size bytes in the user's home.
func benchWorkspace(t *testing.T, size int64) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{dir: dir, root: filepath.Join(dir, "root"), home: filepath.Join(dir, "root", "bench")}
	if err := os.MkdirAll(w.home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(w.home, "par.bin"), size); err != nil {
		t.Fatal(err)
	}
	return w
}

// The three replicas of the benchmark are started as the pods are, with slice 0 and --passive-slice-by-ordinal:
// each advertises ports of its own slice only, and the spread target deals sessions to them in turn.
func TestReplicaEnginesServeTheirSlices(t *testing.T) {
	w := benchWorkspace(t, 1)
	pasv := portrangetest.Free(t, 12)
	engines, err := startReplicas(w, support.OperatorBinary(t), 3, int(pasv.Start), 12, support.FreeLoopbackPort)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range engines {
			s.stop()
		}
	}()
	for i, s := range engines {
		lo, hi := int(pasv.Start)+4*i, int(pasv.Start)+4*i+3
		for range 4 { // every port the engine hands out, not just the first
			replies, err := support.ControlDialog(fmt.Sprintf("127.0.0.1:%d", s.Port), "USER "+benchUser, "PASS "+benchPassword, "EPSV")
			if err != nil {
				t.Fatal(err)
			}
			var port int
			if _, err := fmt.Sscanf(replies[2][strings.Index(replies[2], "(|||"):], "(|||%d|)", &port); err != nil || port < lo || port > hi {
				t.Fatalf("replica %d: EPSV reply %q (%v); want a port of its slice %d-%d", i, replies[2], err, lo, hi)
			}
		}
	}
	spread := &spreadTarget{engines: engines}
	for i := range 6 {
		if got, want := spread.get("par.bin"), engines[i%3].url("par.bin"); got != want {
			t.Fatalf("session %d went to %s, want %s (round-robin)", i, got, want)
		}
	}
}

// benchReplicas on small sizes fills both sides' RETR and STOR samples and the report's section. With
// BENCH_SESSIONS, BENCH_PAR_SIZE and BENCH_REPS it is also how the rows are measured outside `make bench`.
func TestBenchReplicasRows(t *testing.T) {
	c := config{sessions: int(envInt("BENCH_SESSIONS", 6)), parSize: envInt("BENCH_PAR_SIZE", 256<<10), reps: int(envInt("BENCH_REPS", 1))}
	w := benchWorkspace(t, c.parSize)
	res := newResults(nil)
	res.config = c
	if err := benchReplicas(c, w, support.OperatorBinary(t), nil, res); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"replicaspar", "replicasparwall", "replicasstorwall"} {
		for _, side := range replicaSides {
			if xs := res.samples[key][side]; len(xs) != c.reps || xs[0] <= 0 {
				t.Errorf("%s, %s: samples %v, want %d positive", key, side, xs, c.reps)
			}
		}
	}
	md := res.replicasMarkdown()
	if !strings.Contains(md, "| RETR, data phases (MiB/s) |") || !strings.Contains(md, "| STOR, wall clock (MiB/s) |") {
		t.Fatalf("report section:\n%s", md)
	}
	if left, _ := filepath.Glob(filepath.Join(w.home, "replicas-stor-*")); len(left) > 0 {
		t.Errorf("uploads left behind: %v", left)
	}
	t.Log(md)
}
