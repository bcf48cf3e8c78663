package main

// `bench engine-phases` drives one long-lived engine through the phases that `make bench`'s throughput rounds put
// it through, in the same order and with the same helpers (retr, stor, parallel, uploadRows), and measures the
// peak RSS row the way `make bench` does (watchPeak: VmHWM reset before the parallel RETR, read after the parallel
// STORs), so that row can be reproduced for our engine alone, at small sizes, without the peers:
//
//	go build -o /tmp/b ./test/bench/harness
//	/tmp/b engine-phases --engines old=/tmp/ftpd.old,new=/tmp/ftpd --rounds 3 --lives 3
//
// Per phase it also records the largest resident memory seen (sampled every 10 ms, split into anonymous and
// file-backed from smaps_rollup), the largest thread count, and the Go runtime's view at the phase's end (heap in
// use, heap released, stacks, OS threads, from the engine's /metrics), with -v; --go-every samples those during
// each phase too (a diagnosis only: the scrape itself allocates in the engine), --logs keeps the engine's stderr
// (for GODEBUG=gctrace=1), and the engine's CPU time per life is printed with the medians.

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ftp-operator/ftp-operator/test/support"
)

// procSample is what /proc says about one process, in KiB (threads: a count).
type procSample struct{ rss, anon, file, threads uint64 }

func readProc(pid int) (p procSample) {
	m, _ := readMem(pid)
	p.rss, p.anon, p.file = m.rss, m.anon, m.rss-min(m.anon, m.rss)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Threads:"); ok {
				p.threads, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	return p
}

// phaseSampler keeps, per phase, the largest /proc values seen every 10 ms.
type phaseSampler struct {
	mu    sync.Mutex
	pid   int
	phase string
	peaks map[string]procSample
	order []string
	done  chan struct{}
	ended chan struct{}
}

func startPhaseSampler(pid int) *phaseSampler {
	ps := &phaseSampler{pid: pid, peaks: map[string]procSample{}, done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(ps.ended)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			s := readProc(pid)
			ps.mu.Lock()
			if ps.phase != "" {
				p := ps.peaks[ps.phase]
				p.rss, p.anon, p.file, p.threads = max(p.rss, s.rss), max(p.anon, s.anon), max(p.file, s.file), max(p.threads, s.threads)
				ps.peaks[ps.phase] = p
			}
			ps.mu.Unlock()
			select {
			case <-ps.done:
				return
			case <-t.C:
			}
		}
	}()
	return ps
}

func (ps *phaseSampler) enter(phase string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.phase = phase
	if _, ok := ps.peaks[phase]; !ok {
		ps.order = append(ps.order, phase)
	}
}

func (ps *phaseSampler) stop() {
	close(ps.done)
	<-ps.ended
}

// goMetrics reads a few of the Go collector's gauges from the engine's /metrics, in MiB (threads, goroutines:
// counts).
func goMetrics(health int) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", health))
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	want := map[string]float64{"go_memstats_heap_inuse_bytes": mib, "go_memstats_heap_idle_bytes": mib,
		"go_memstats_heap_released_bytes": mib, "go_memstats_stack_inuse_bytes": mib, "go_memstats_sys_bytes": mib,
		"go_memstats_mspan_inuse_bytes": mib, "go_memstats_other_sys_bytes": mib, "go_threads": 1, "go_goroutines": 1}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if div, wanted := want[name]; ok && wanted {
			x, _ := strconv.ParseFloat(v, 64)
			out[strings.TrimPrefix(strings.TrimPrefix(name, "go_memstats_"), "go_")] = x / div
		}
	}
	return out
}

func enginePhases(args []string) error {
	fs := flag.NewFlagSet("engine-phases", flag.ContinueOnError)
	engines := fs.String("engines", "bin/ftp-operator-ftpd", "NAME=[VAR=VALUE ...] BINARY[,...] (or BINARY): engine builds to compare")
	lives := fs.Int("lives", 3, "engine lives per build (a fresh engine each, builds alternating)")
	rounds := fs.Int("rounds", 3, "throughput rounds per life (make bench: BENCH_REPS, 5)")
	sessions := fs.Int("sessions", 50, "parallel sessions")
	bigArg := fs.String("size", "128M", "single-stream RETR/STOR size (make bench: 1G)")
	parArg := fs.String("par-size", "20M", "bytes per parallel session")
	verbose := fs.Bool("v", false, "print every phase of every round")
	goEvery := fs.Duration("go-every", 0, "also sample the Go runtime's gauges (/metrics) this often and print their per-phase maxima with -v (perturbs: ReadMemStats stops the world)")
	logs := fs.String("logs", "", "DIR: keep each engine's stderr there (NAME-LIFE.stderr; for GODEBUG=gctrace=1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := config{sessions: *sessions}
	var err error
	if c.size, err = parseSize(*bigArg); err != nil {
		return err
	}
	if c.parSize, err = parseSize(*parArg); err != nil {
		return err
	}
	raiseNofile()
	dir := "/tmp/ftp-operator-enginephases"
	w, err := scratchWorkspace(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	big, par := filepath.Join(w.home, "big.bin"), filepath.Join(w.home, "par.bin")
	if err := writeFile(big, c.size); err != nil {
		return err
	}
	if err := writeFile(par, c.parSize); err != nil {
		return err
	}
	builds := parseBuilds(*engines)
	timeout := time.Duration(max(120, c.size/(10<<20))) * time.Second
	load := startLoadSampler()
	peaks, cpu := map[string][]float64{}, map[string][]float64{}
	rates := map[string]map[string][]float64{}
	for life := 0; life < *lives; life++ {
		for _, b := range rotate(builds, life) {
			s, health, err := startEngine(w, b, c.sessions)
			if err != nil {
				return err
			}
			t := ftpTarget{s, w}
			pid := s.cmd.Process.Pid
			ps := startPhaseSampler(pid)
			goPeaks := map[string]map[string]float64{}
			var goMu sync.Mutex
			goStop := make(chan struct{})
			goDone := make(chan struct{})
			go func() {
				defer close(goDone)
				if *goEvery <= 0 {
					return
				}
				for {
					ps.mu.Lock()
					phase := ps.phase
					ps.mu.Unlock()
					m := goMetrics(health)
					m["unreleased_bytes"] = m["heap_idle_bytes"] - m["heap_released_bytes"]
					goMu.Lock()
					if goPeaks[phase] == nil {
						goPeaks[phase] = map[string]float64{}
					}
					for k, v := range m {
						goPeaks[phase][k] = max(goPeaks[phase][k], v)
					}
					goMu.Unlock()
					select {
					case <-goStop:
						return
					case <-time.After(*goEvery):
					}
				}
			}()
			res := newResults(nil)
			step := func(phase string, f func() error) error {
				ps.enter(phase)
				err := f()
				if *verbose {
					ps.mu.Lock()
					p := ps.peaks[phase]
					ps.mu.Unlock()
					_, hwm, _ := support.ProcessMemory(pid)
					now := readProc(pid)
					m := goMetrics(health)
					fmt.Printf("%s life %d %-22s peak rss %5.1f anon %4.1f file %4.1f thr %3d | end rss %5.1f anon %4.1f hwm %5.1f | heap inuse %4.1f idle %4.1f released %4.1f stack %4.2f sys %5.1f threads %3.0f goroutines %3.0f\n",
						b.name, life, phase, kib(p.rss), kib(p.anon), kib(p.file), p.threads, kib(now.rss), kib(now.anon), float64(hwm)/mib,
						m["heap_inuse_bytes"], m["heap_idle_bytes"], m["heap_released_bytes"], m["stack_inuse_bytes"], m["sys_bytes"], m["threads"], m["goroutines"])
					goMu.Lock()
					if g := goPeaks[phase]; g != nil {
						fmt.Printf("    max during phase: heap inuse %4.1f stack %4.2f unreleased %4.1f sys %5.1f mspan %4.2f other %4.2f goroutines %3.0f\n",
							g["heap_inuse_bytes"], g["stack_inuse_bytes"], g["unreleased_bytes"], g["sys_bytes"], g["mspan_inuse_bytes"], g["other_sys_bytes"], g["goroutines"])
					}
					goMu.Unlock()
				}
				return err
			}
			for round := 0; round < *rounds && err == nil; round++ {
				r := strconv.Itoa(round)
				err = step("retr-"+r, func() error { _, err := retr(t, "big.bin", c.size, timeout); return err })
				if err == nil {
					waitDirty(30 * time.Second)
					err = step("stor-"+r, func() error { _, err := stor(t, big, c.size, timeout); return err })
				}
				if err != nil {
					break
				}
				peak := watchPeak(t)
				err = step("par-retr-"+r, func() error {
					data, _, _, err := parallel(t, "par.bin", c.parSize, c.sessions, timeout)
					res.add("par", t.name(), data)
					return err
				})
				if err == nil {
					// uploadRows in steps: its three phases, as make bench runs them.
					err = step("uploads-"+r, func() error { return uploadRows(t, c, res, peak, big, par, timeout) })
				}
				if err == nil {
					v := res.samples["peakrss"][t.name()]
					peaks[b.name] = append(peaks[b.name], v[len(v)-1])
					if *verbose {
						fmt.Printf("%s life %d round %d: make-bench peak RSS %.1f MB\n", b.name, life, round, v[len(v)-1])
					}
				}
			}
			close(goStop)
			<-goDone
			cpu[b.name] = append(cpu[b.name], cpuSeconds(pid))
			ps.stop()
			s.stop()
			if *logs != "" {
				if log, rerr := os.ReadFile(filepath.Join(w.dir, s.Name+".stderr")); rerr == nil {
					_ = os.WriteFile(filepath.Join(*logs, fmt.Sprintf("%s-%d.stderr", b.name, life)), log, 0o644)
				}
			}
			if err != nil {
				return err
			}
			if rates[b.name] == nil {
				rates[b.name] = map[string][]float64{}
			}
			for _, k := range []string{"par", "storrepl", "parstor", "parstorrepl"} {
				rates[b.name][k] = append(rates[b.name][k], res.samples[k][t.name()]...)
			}
		}
		logf("engine-phases life %d/%d done", life+1, *lives)
	}
	ls := load.stop()
	fmt.Printf("engine-phases: %d rounds × %d lives; single %s, %d × %s parallel (load average %.1f–%.1f, median %.1f)\n",
		*rounds, *lives, human(c.size), c.sessions, human(c.parSize), ls.Min, ls.Max, ls.Median)
	fmt.Println("| build | make-bench peak RSS (MB, median) | all | engine CPU s per life | par RETR MiB/s | STOR replacing MiB/s | par STOR fresh | par STOR replacing |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, b := range builds {
		r := rates[b.name]
		fmt.Printf("| %s | %.1f | %s | %.2f (%s) | %.0f | %.0f | %.0f | %.0f |\n", b.name, median(peaks[b.name]), fmtAll1(peaks[b.name]),
			median(cpu[b.name]), fmtAll1(cpu[b.name]), median(r["par"]), median(r["storrepl"]), median(r["parstor"]), median(r["parstorrepl"]))
	}
	return nil
}

func kib(v uint64) float64 { return float64(v) / 1024 }

func fmtAll1(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(s, " ")
}
