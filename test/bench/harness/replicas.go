package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// Issue 11: the parallel-session aggregate of one engine versus three replicas of it. The three run as the pods of
// a server with spec.replicas 3 do: the same arguments, --passive-ports the slice of ordinal 0 and
// --passive-slice-by-ordinal, each told its ordinal by $POD_NAME, all serving the same directory (the shared
// volume). The sessions are dealt round-robin over the three, as a load balancer spreads control connections. One
// replica gets the whole range (a Deployment's pod, no slicing). Everything is on this one machine: see
// replicaNote.

// replicaSides are the two sides, as the names of their samples.
var replicaSides = map[int]string{1: "1 replica", 3: "3 replicas"}

// spreadTarget is several engines behind one name: each session (one get or put) goes to the next, round-robin.
// They share one home directory.
type spreadTarget struct {
	label, home string
	engines     []*server
	next        atomic.Int64
}

func (t *spreadTarget) pick() *server               { return t.engines[int(t.next.Add(1)-1)%len(t.engines)] }
func (t *spreadTarget) name() string                { return t.label }
func (t *spreadTarget) get(path string) string      { return t.pick().url(path) }
func (t *spreadTarget) put(name string) string      { return t.pick().url(name) }
func (t *spreadTarget) uploaded(name string) string { return filepath.Join(t.home, name) }

// startReplicas starts n engines serving w's root: with n == 1 one engine on the whole range lo..lo+total-1, else
// n engines that each serve their slice by ordinal. fresh gives distinct free loopback ports.
func startReplicas(w *workspace, engine string, n, lo, total int, fresh func() (int, error)) (engines []*server, err error) {
	defer func() {
		if err != nil {
			for _, s := range engines {
				s.stop()
			}
		}
	}()
	per := total / n
	etc := filepath.Join(w.dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return nil, err
	}
	for i := range n {
		port, err := fresh()
		if err != nil {
			return engines, err
		}
		health, err := fresh()
		if err != nil {
			return engines, err
		}
		s := &server{Name: fmt.Sprintf("replicas%d-%d", n, i), Ours: true, Port: port, PasvLo: lo + i*per, PasvHi: lo + (i+1)*per - 1}
		if err := s.configureOurs(engine, etc, w.root, health); err != nil {
			return engines, err
		}
		if n > 1 {
			// The pods' arguments: slice 0 and --passive-slice-by-ordinal, the ordinal from $POD_NAME (env execs
			// the engine, so the PID we stop stays the engine's).
			cfg := engineConfig(&server{Port: port, PasvLo: lo, PasvHi: lo + per - 1}, w.root, filepath.Join(etc, "ours-users.yaml"), health)
			cfg.Passive.SliceByOrdinal = true
			s.argv = append([]string{"env", fmt.Sprintf("%s=bench-%d", engineconfig.PodNameEnv, i), engine, "ftpd"}, cfg.Args()...)
		}
		if err := s.start(w); err != nil {
			return engines, err
		}
		engines = append(engines, s)
	}
	return engines, nil
}

// benchReplicas measures c.sessions parallel RETRs of par.bin, then as many parallel STORs of it, against one
// engine and against three, c.reps times, alternating which side goes first, into res. The passive range is looked
// for above the other servers' ranges; without one free, the rows are left out.
func benchReplicas(c config, w *workspace, engine string, servers []*server, res *results) error {
	from := 20000
	for _, s := range servers {
		from = max(from, s.PasvHi+1)
	}
	perPod := c.sessions // a port per session on each of the three; the one replica gets all three slices
	lo, err := freeRange(from, 3*perPod, map[int]bool{})
	if err != nil {
		logf("replicas: no passive range (%v); rows left out", err)
		return nil
	}
	used := map[int]bool{}
	fresh := func() (int, error) {
		for range 100 {
			p, err := support.FreeLoopbackPort()
			if err != nil || !used[p] {
				used[p] = true
				return p, err
			}
		}
		return 0, fmt.Errorf("no distinct free port")
	}
	sides := map[int]*spreadTarget{}
	for n, label := range replicaSides {
		engines, err := startReplicas(w, engine, n, lo, 3*perPod, fresh)
		if err != nil {
			return err
		}
		defer func() {
			for _, s := range engines {
				s.stop()
			}
		}()
		sides[n] = &spreadTarget{label: label, home: w.home, engines: engines}
	}
	timeout := time.Duration(max(120, c.parSize*int64(c.sessions)/(10<<20))) * time.Second
	src := filepath.Join(w.home, "par.bin")
	for rep := range c.reps {
		for _, n := range rotate([]int{1, 3}, rep) {
			data, wall, _, err := parallel(sides[n], "par.bin", c.parSize, c.sessions, timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", replicaSides[n], err)
			}
			res.add("replicaspar", replicaSides[n], data)
			res.add("replicasparwall", replicaSides[n], wall)
			if c.parSize*int64(c.sessions) >= 64<<20 {
				waitDirty(30 * time.Second) // the uploads' writeback must not land on the next side's run
			}
			up, err := parallelStor(sides[n], src, c.parSize, c.sessions, timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", replicaSides[n], err)
			}
			res.add("replicasstorwall", replicaSides[n], up)
		}
	}
	logf("replicas: RETR %s vs %s MiB/s, STOR %s vs %s MiB/s (1 vs 3, medians)",
		fmtVal(median(res.samples["replicaspar"][replicaSides[1]])), fmtVal(median(res.samples["replicaspar"][replicaSides[3]])),
		fmtVal(median(res.samples["replicasstorwall"][replicaSides[1]])), fmtVal(median(res.samples["replicasstorwall"][replicaSides[3]])))
	return nil
}

// replicasMarkdown is the section of the report for benchReplicas's samples ("" when they were not measured).
func (r *results) replicasMarkdown() string {
	if len(r.samples["replicaspar"]) == 0 {
		return ""
	}
	one, three := replicaSides[1], replicaSides[3]
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Replicas (issue 11): one engine versus three, on this one machine\n\n"+
		"%d parallel sessions, each downloading (then uploading) %s, %d repetitions alternating which side goes first; "+
		"medians (spread), ratio three / one of the medians of this run.\n\n| aggregate | %s | %s | ratio |\n|---|---|---|---|\n",
		r.config.sessions, human(r.config.parSize), len(r.samples["replicaspar"][one]), one, three)
	for _, row := range []struct{ key, what string }{
		{"replicaspar", "RETR, data phases (MiB/s)"}, {"replicasparwall", "RETR, wall clock (MiB/s)"}, {"replicasstorwall", "STOR, wall clock (MiB/s)"},
	} {
		m1, _ := r.value(row.key, one)
		m3, _ := r.value(row.key, three)
		ratio := 0.0
		if m1 > 0 {
			ratio = m3 / m1
		}
		fmt.Fprintf(&b, "| %s | %s%s | %s%s | **%.2f** |\n", row.what, fmtVal(m1), r.spread(row.key, one), fmtVal(m3), r.spread(row.key, three), ratio)
	}
	b.WriteString("\n" + replicaNote + "\n")
	return b.String()
}

const replicaNote = `What one machine can show: the three replicas are three engine processes on the same CPUs, the same
loopback and the same page cache (par.bin is read from memory by all of them, uploads land in memory first), each
serving its own slice of one passive range by ordinal exactly as the pods do, with the sessions dealt round-robin
over them as a load balancer would. So the ratio says what splitting a server into three costs or gains on one
node (one process's scheduler and locks versus three sharing the same cores), not what replicas buy in a cluster:
there each pod brings its own node's CPU, disk path and network interface, and the aggregate can grow with the
nodes until the load balancer, the shared storage or the clients' network is the limit. Neither kube-proxy's hop
nor a load balancer is in this path.`
