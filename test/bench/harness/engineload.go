package main

// `bench engine-load` measures only our engine (one or more builds of it) and raw TCP under issue 10's parallel
// load, with the engine's memory sampled during it: resident memory right after start, its peak (VmHWM) and the
// peak of PSS and of anonymous memory sampled every 10 ms, and 50-session RETR (and STOR) throughput against the
// raw loopback copy of the same run. It is a separate mode (no peers, no report page) for A/B runs of engine
// builds:
//
//	go build -o /tmp/b ./test/bench/harness
//	/tmp/b engine-load --engines old=/tmp/ftp-operator.old,new=/tmp/ftp-operator --reps 5
//
// Each repetition starts every engine afresh (so VmHWM is that repetition's) and visits raw TCP and the engines in
// an order rotated per repetition; medians are printed.

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ftp-operator/ftp-operator/test/support"
)

// The modes of the harness for our engine alone: engine-load (this file) and engine-phases (enginephases.go).
func init() {
	modes := map[string]func([]string) error{"engine-load": engineLoad, "engine-phases": enginePhases}
	if len(os.Args) < 2 || modes[os.Args[1]] == nil {
		return
	}
	if err := modes[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	os.Exit(0)
}

// memSample is a process's memory, in KiB, from /proc.
type memSample struct{ rss, hwm, pss, anon uint64 }

func readMem(pid int) (m memSample, ok bool) {
	rss, hwm, err := support.ProcessMemory(pid)
	if err != nil {
		return m, false
	}
	m.rss, m.hwm = uint64(rss)>>10, uint64(hwm)>>10
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[0] {
			case "Pss:":
				m.pss = v
			case "Anonymous:":
				m.anon = v
			}
		}
	}
	return m, true
}

// sampleMem samples pid every 10 ms until stop is closed and returns the maxima.
func sampleMem(pid int, stop <-chan struct{}) <-chan memSample {
	out := make(chan memSample, 1)
	go func() {
		var peak memSample
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if m, ok := readMem(pid); ok {
				peak.rss, peak.hwm = max(peak.rss, m.rss), max(peak.hwm, m.hwm)
				peak.pss, peak.anon = max(peak.pss, m.pss), max(peak.anon, m.anon)
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func engineLoad(args []string) error {
	fs := flag.NewFlagSet("engine-load", flag.ContinueOnError)
	engines := fs.String("engines", "bin/ftp-operator", "NAME=[VAR=VALUE ...] BINARY[,...] (or BINARY): engine builds (and environments) to compare")
	reps := fs.Int("reps", 5, "repetitions")
	sessions := fs.Int("sessions", 50, "parallel sessions")
	sizeArg := fs.String("size", "20M", "bytes per session (K/M/G)")
	doStor := fs.Bool("stor", true, "also measure parallel STOR (after the RETR phase)")
	perfOut := fs.String("perf", "", "PREFIX: record the engine with perf (call graphs) during each RETR phase into PREFIX-NAME-REP.data")
	perfAll := fs.Bool("perf-all", false, "with --perf: record the whole machine (perf -a), raw TCP's phases too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	size, err := parseSize(*sizeArg)
	if err != nil {
		return err
	}
	raiseNofile()
	dir := "/tmp/ftp-operator-engineload"
	w, err := scratchWorkspace(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeFile(filepath.Join(w.home, "par.bin"), size); err != nil {
		return err
	}
	builds := parseBuilds(*engines)
	raw, err := startRaw(w.home)
	if err != nil {
		return err
	}
	defer raw.l.Close()
	type stats struct{ start, startPss, hwm, rss, pss, anon, retr, retrWall, stor, switches []float64 }
	res := map[string]*stats{"raw TCP": {}}
	for _, b := range builds {
		res[b.name] = &stats{}
	}
	timeout := 5 * time.Minute
	load := startLoadSampler()
	names := []string{"raw TCP"}
	for _, b := range builds {
		names = append(names, b.name)
	}
	for rep := 0; rep < *reps; rep++ {
		for _, name := range rotate(names, rep) {
			st := res[name]
			if name == "raw TCP" {
				var perf *exec.Cmd
				if *perfOut != "" && *perfAll {
					if perf, err = startPerf(fmt.Sprintf("%s-raw-%d.data", *perfOut, rep), 0); err != nil {
						return err
					}
				}
				data, wall, _, err := parallel(rawTarget{raw}, "par.bin", size, *sessions, timeout)
				stopPerf(perf)
				if err != nil {
					return err
				}
				st.retr, st.retrWall = append(st.retr, data), append(st.retrWall, wall)
				continue
			}
			var b build
			for _, x := range builds {
				if x.name == name {
					b = x
				}
			}
			s, _, err := startEngine(w, b, *sessions)
			if err != nil {
				return err
			}
			pid := s.cmd.Process.Pid
			time.Sleep(time.Second)
			m0, _ := readMem(pid)
			st.start, st.startPss = append(st.start, float64(m0.rss)/1024), append(st.startPss, float64(m0.pss)/1024)
			stop := make(chan struct{})
			peak := sampleMem(pid, stop)
			var perf *exec.Cmd
			if *perfOut != "" {
				target := pid
				if *perfAll {
					target = 0
				}
				if perf, err = startPerf(fmt.Sprintf("%s-%s-%d.data", *perfOut, name, rep), target); err != nil {
					return err
				}
			}
			sw0 := ctxSwitches(pid)
			data, wall, _, err := parallel(ftpTarget{s, w}, "par.bin", size, *sessions, timeout)
			st.switches = append(st.switches, float64(ctxSwitches(pid)-sw0)/(float64(size)*float64(*sessions)/(1<<30)))
			stopPerf(perf)
			if err == nil && *doStor {
				var rate float64
				rate, err = parallelStor(ftpTarget{s, w}, filepath.Join(w.home, "par.bin"), size, *sessions, timeout)
				st.stor = append(st.stor, rate)
			}
			close(stop)
			p := <-peak
			s.stop()
			if err != nil {
				return err
			}
			st.retr, st.retrWall = append(st.retr, data), append(st.retrWall, wall)
			st.hwm, st.rss = append(st.hwm, float64(p.hwm)/1024), append(st.rss, float64(p.rss)/1024)
			st.pss, st.anon = append(st.pss, float64(p.pss)/1024), append(st.anon, float64(p.anon)/1024)
		}
		logf("engine-load round %d/%d done", rep+1, *reps)
	}
	ls := load.stop()
	fmt.Printf("engine-load: %d × %s, %d repetitions, medians (load average %.1f–%.1f, median %.1f)\n", *sessions, human(size), *reps, ls.Min, ls.Max, ls.Median)
	fmt.Println("| build | RSS at start (MiB) | PSS at start | peak RSS (VmHWM) | peak PSS (sampled) | peak anon | RETR MiB/s (data) | RETR / raw | RETR MiB/s (wall) | STOR MiB/s (wall) | engine context switches per GiB of RETR |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	rawRetr := median(res["raw TCP"].retr)
	for _, name := range names {
		st := res[name]
		f := func(xs []float64) string {
			if len(xs) == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f", median(xs))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %.2f× | %s | %s | %s |\n", name, f(st.start), f(st.startPss), f(st.hwm), f(st.pss),
			f(st.anon), f(st.retr), median(st.retr)/rawRetr, f(st.retrWall), f(st.stor), f(st.switches))
		fmt.Printf("  %s RETR all: %v  peak RSS all: %v\n", name, fmtAll(st.retr), fmtAll(st.hwm))
	}
	return nil
}

// build is one engine binary under test, with the environment it runs in.
type build struct {
	name, bin string
	env       []string
}

// parseBuilds reads "NAME=[VAR=VALUE ...] BINARY[,...]" (or BINARY alone, named after its file).
func parseBuilds(arg string) []build {
	var builds []build
	for _, e := range strings.Split(arg, ",") {
		name, bin, ok := strings.Cut(e, "=")
		if !ok {
			name, bin = filepath.Base(e), e
		}
		f := strings.Fields(bin)
		bin, _ = filepath.Abs(f[len(f)-1])
		builds = append(builds, build{name, bin, f[:len(f)-1]})
	}
	return builds
}

// scratchWorkspace makes an empty workspace in dir (root/bench for the engine, client) for a mode without peers.
func scratchWorkspace(dir string) (*workspace, error) {
	_ = os.RemoveAll(dir)
	w := &workspace{dir: dir, root: filepath.Join(dir, "root"), home: filepath.Join(dir, "root", "bench"), client: filepath.Join(dir, "client")}
	for _, d := range []string{w.home, w.client} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// startEngine starts build b of our engine on loopback with room for sessions parallel sessions, and returns it
// and its health (/metrics) port.
func startEngine(w *workspace, b build, sessions int) (*server, int, error) {
	port, err := support.FreeLoopbackPort()
	if err != nil {
		return nil, 0, err
	}
	health, err := support.FreeLoopbackPort()
	if err != nil {
		return nil, 0, err
	}
	s := &server{Name: "engine-" + b.name, Ours: true, Port: port, PasvLo: 24000, PasvHi: 24000 + 2*sessions - 1}
	if err := s.configureOurs(b.bin, w.dir, w.root, health); err != nil {
		return nil, 0, err
	}
	if len(b.env) > 0 {
		s.argv = append(append([]string{"/usr/bin/env"}, b.env...), s.argv...)
	}
	return s, health, s.start(w)
}

// startPerf records pid (0: every CPU) with call graphs into out until stopPerf.
func startPerf(out string, pid int) (*exec.Cmd, error) {
	args := []string{"record", "-q", "-g", "-o", out}
	if pid == 0 {
		args = append(args, "-a")
	} else {
		args = append(args, "-p", strconv.Itoa(pid))
	}
	perf := exec.Command("perf", args...)
	if err := perf.Start(); err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	return perf, nil
}

func stopPerf(perf *exec.Cmd) {
	if perf != nil {
		_ = perf.Process.Signal(os.Interrupt)
		_ = perf.Wait()
	}
}

// ctxSwitches is the sum of voluntary and involuntary context switches of all of pid's threads.
func ctxSwitches(pid int) uint64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				x, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}

func fmtAll(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, " ")
}
