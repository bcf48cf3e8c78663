// Command bench is `make bench`: it runs the engine (bin/ftp-operator ftpd) next to vsftpd, pure-ftpd and
// proftpd on loopback, drives them with the same client (curl) in one run, alternating servers, and writes
// docs/benchmarks.md and its chart. See docs/benchmarks.md for the method.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	quick                     bool
	size, parSize             int64
	sessions                  int
	reps, listReps, smallReps int
	listEntries               int
	smallFiles, smallSize     int
	curlSmall                 int // uploads in the curl session (curl's stalls make it slow)
	curlBatch, batchReps      int // files per one-command curl batch (each way), and how often
	idle, idleForking         int
	pasvSize                  int
}

func envInt(name string, def int64) int64 {
	if v := os.Getenv(name); v != "" {
		if n, err := parseSize(v); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "bench: ignoring %s=%q\n", name, v)
	}
	return def
}

// parseSize reads 123, 64K, 64M, 1G (binary units).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func loadConfig() config {
	c := config{size: 1 << 30, parSize: 20 << 20, sessions: 50, reps: 5, listReps: 11, smallReps: 3,
		listEntries: 5000, smallFiles: 1000, smallSize: 1024, curlSmall: 200, idle: 10000, idleForking: 1000, pasvSize: 100,
		curlBatch: 100, batchReps: 3}
	if os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0" {
		c.quick = true
		c.size, c.parSize, c.reps, c.listReps, c.smallReps = 128<<20, 4<<20, 3, 5, 2
		c.smallFiles, c.curlSmall, c.idle, c.idleForking, c.batchReps = 200, 50, 1000, 200, 1
	}
	c.size = envInt("BENCH_SIZE", c.size)
	c.parSize = envInt("BENCH_PAR_SIZE", c.parSize)
	c.sessions = int(envInt("BENCH_SESSIONS", int64(c.sessions)))
	c.reps = int(envInt("BENCH_REPS", int64(c.reps)))
	c.idle = int(envInt("BENCH_IDLE", int64(c.idle)))
	c.idleForking = int(envInt("BENCH_IDLE_FORKING", int64(c.idleForking)))
	c.curlSmall = min(int(envInt("BENCH_CURL_SMALL", int64(c.curlSmall))), c.smallFiles)
	c.curlBatch = min(int(envInt("BENCH_CURL_BATCH", int64(c.curlBatch))), c.smallFiles)
	c.batchReps = max(int(envInt("BENCH_CURL_BATCH_REPS", int64(c.batchReps))), 1)
	return c
}

func main() {
	engine := flag.String("engine", "bin/ftp-operator", "the engine binary")
	peers := flag.String("peers", "bin/bench-peers/root", "unpacked Debian packages (test/bench/harness/install-servers.sh)")
	out := flag.String("out", "docs/benchmarks.md", "markdown report")
	png := flag.String("png", "docs/benchmarks.png", "chart")
	opJSON := flag.String("operator", "", "JSON results of the operator benchmarks (test/bench), optional")
	allocTxt := flag.String("alloc", "", "go test -bench output of the allocator, optional")
	notes := flag.String("notes", "", "markdown appended as hand-written notes (profiles, findings), optional")
	flag.Parse()
	if only := os.Getenv("BENCH_ONLY"); only != "" { // one section of sections.go alone
		if err := runOnly(only, *engine); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*engine, *peers, *out, *png, *opJSON, *allocTxt, *notes); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(engine, peers, out, png, opJSON, allocTxt, notes string) error {
	c := loadConfig()
	begin := time.Now()
	engine, _ = filepath.Abs(engine)
	peers, _ = filepath.Abs(peers)
	raiseNofile()
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	// Each idle session costs the client one descriptor and our engine two (the socket and the user's os.Root);
	// both have this limit. Keep 500 spare.
	if maxIdle := (int(lim.Cur) - 500) / 2; c.idle > maxIdle {
		logf("RLIMIT_NOFILE is %d: idle sessions bounded to %d", lim.Cur, maxIdle)
		c.idle = maxIdle
	}
	c.idleForking = min(c.idleForking, c.idle, forkBound())
	// Every server gets the same passive range. pure-ftpd admits at most half its passive range in clients, so
	// the range is sized for the idle-session count too (ranges are carved below 30000, under the kernel's
	// ephemeral ports and outside Kubernetes' NodePort range).
	c.pasvSize = max(c.pasvSize, 2*c.sessions, 2*c.idleForking)
	if c.pasvSize*4 > 29999-20000 {
		c.pasvSize = (29999 - 20000) / 4
		c.idleForking = min(c.idleForking, c.pasvSize/2)
	}

	w, err := newWorkspace()
	if err != nil {
		return err
	}
	servers, err := configure(w, engine, peers, c.pasvSize)
	if err != nil {
		return err
	}
	started := []*server{}
	done := func() {
		for _, s := range started {
			s.stop()
		}
		w.cleanup()
	}
	defer done()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; logf("interrupted; stopping the servers we started"); done(); os.Exit(130) }()

	if err := w.ensureUser(); err != nil {
		return err
	}
	logf("writing %d MiB + %d MiB of data, %d listing entries, %d small files", c.size>>20, c.parSize>>20, c.listEntries, c.smallFiles)
	if err := w.populate(c, servers); err != nil {
		return err
	}
	for _, s := range servers {
		if err := s.start(w); err != nil {
			return err
		}
		started = append(started, s)
		logf("%s %s on 127.0.0.1:%d, passive %d-%d", s.Name, s.Version, s.Port, s.PasvLo, s.PasvHi)
	}
	raw, err := startRaw(w.home)
	if err != nil {
		return err
	}
	defer raw.l.Close()

	mach := describeMachine()
	load := startLoadSampler()
	res := newResults(servers)
	res.busyOther[0] = cpuBusy(3 * time.Second)

	targets := []target{rawTarget{raw}}
	for _, s := range servers {
		targets = append(targets, ftpTarget{s, w})
	}
	bigTimeout := time.Duration(max(120, c.size/(10<<20))) * time.Second // never slower than 10 MiB/s
	big := filepath.Join(w.home, "big.bin")

	// Throughput: every repetition visits every target, in an order rotated each time.
	for rep := 0; rep < c.reps; rep++ {
		for _, t := range rotate(targets, rep) {
			x, err := retr(t, "big.bin", c.size, bigTimeout)
			if err != nil {
				return err
			}
			res.addXfer("retr", t.name(), x)
			waitDirty(30 * time.Second) // the previous uploads' writeback must not land on this one
			x, err = withClientCost(res, t.name(), c.size, func() (xfer, error) { return stor(t, big, c.size, bigTimeout) })
			if err != nil {
				return err
			}
			res.addXfer("stor", t.name(), x)
			peak := watchPeak(t) // issue 10: memory from the parallel RETR to the end of the parallel STORs
			data, wall, stalls, err := parallel(t, "par.bin", c.parSize, c.sessions, bigTimeout)
			if err != nil {
				return err
			}
			res.add("par", t.name(), data)
			res.add("parwall", t.name(), wall)
			res.stalls["par"][t.name()] += stalls
			res.count["par"][t.name()] += c.sessions
			if err := uploadRows(t, c, res, peak, big, filepath.Join(w.home, "par.bin"), bigTimeout); err != nil {
				return err
			}
		}
		logf("throughput round %d/%d done (%s)", rep+1, c.reps, time.Since(begin).Round(time.Second))
	}
	if err := benchReplicas(c, w, engine, servers, res); err != nil { // issue 11 (replicas.go)
		return err
	}
	if res.relay, err = relayBench(c); err != nil {
		return err
	}
	logf("relay row: relayed / direct RETR %.2f (%s)", res.relay.ratio(), time.Since(begin).Round(time.Second))
	res.sections, _ = runSections(c, engine, "") // failures are logged and written into the page
	for rep := 0; rep < c.listReps; rep++ {
		for _, s := range rotate(servers, rep) {
			x, err := listing(s, "list", "LIST", c.listEntries, time.Minute)
			if err != nil {
				return err
			}
			res.addListing("list", s.Name, x)
			if s.MLSD {
				x, err := listing(s, "list", "MLSD", c.listEntries, time.Minute)
				if err != nil {
					return err
				}
				res.addListing("mlsd", s.Name, x)
			}
		}
	}
	logf("listings done (%s)", time.Since(begin).Round(time.Second))
	// Small files: curl in one session (connection reused), once per server — curl 7.88 stalls 1 s on a
	// transfer whose 229 reply it finds before it waits (see stallNote), so this phase is not repeated; then the
	// same workload from a minimal Go client, c.smallReps times, alternating.
	for _, s := range servers {
		per, wall, err := smallUploads(s, w, c.curlSmall, 5*time.Minute)
		if err != nil {
			return err
		}
		for _, x := range per {
			res.add("small", s.Name, x.total*1000)
			res.count["small"][s.Name]++
			if x.stalled() {
				res.stalls["small"][s.Name]++
			}
		}
		res.add("smallwall", s.Name, wall)
		logf("%s: %d curl uploads, %.2f ms wall per file", s.Name, c.curlSmall, wall)
	}
	// curl batches (issue 10): c.curlBatch files up and back down, each way in ONE curl command, EPSV and PASV,
	// alternating servers. The wall time of the command is the figure: curl 7.88's stalls are the point here.
	for rep := 0; rep < c.batchReps; rep++ {
		for _, s := range rotate(servers, rep) {
			for _, mode := range []struct {
				key   string
				extra []string
			}{{"batch", nil}, {"batchpasv", []string{"--disable-epsv"}}} {
				up, down, us, ds, err := curlBatch(s, w, c.curlBatch, mode.extra, 5*time.Minute)
				if err != nil {
					return err
				}
				res.add(mode.key+"up", s.Name, up)
				res.add(mode.key+"down", s.Name, down)
				res.batchStalls[mode.key][s.Name] += us + ds
				logf("%s: curl batch of %d (%s): up %.2f s, down %.2f s, %d+%d stalled transfers", s.Name, c.curlBatch, mode.key, up, down, us, ds)
			}
		}
	}
	for rep := 0; rep < c.smallReps; rep++ {
		for _, s := range rotate(servers, rep) {
			gs, err := goSmallUploads(s, w, c.smallFiles, c.smallSize, 5*time.Minute)
			if err != nil {
				return err
			}
			for _, v := range gs {
				res.add("gosmall", s.Name, v)
			}
		}
	}
	logf("small uploads done (%s)", time.Since(begin).Round(time.Second))
	for _, s := range servers {
		n := c.idle
		if s.Forking {
			n = c.idleForking
		}
		per, opened, err := idleSessions(s, n, 3*time.Minute)
		if err != nil {
			logf("idle sessions: %v", err)
		}
		if !alive(s.cmd.Process.Pid) {
			b, _ := os.ReadFile(filepath.Join(w.dir, s.Name+".stderr"))
			return fmt.Errorf("%s exited during the idle-session test; no figure recorded; its log ends:\n%s", s.Name, tail(string(b), 2000))
		}
		if opened > 0 {
			res.add("idle", s.Name, per/1024)
			res.idleCount[s.Name] = opened
		}
		logf("%s: %d idle sessions, %.1f KiB each (%s)", s.Name, opened, per/1024, time.Since(begin).Round(time.Second))
	}
	if err := pasvBursts(w, engine, peers, servers, res); err != nil { // issue 10 §4; stops the servers
		return err
	}
	res.busyOther[1] = cpuBusy(3 * time.Second)
	res.load = load.stop()
	res.elapsed = time.Since(begin)
	res.config = c
	res.machine = mach
	res.servers = servers

	if opJSON != "" {
		if b, err := os.ReadFile(opJSON); err == nil {
			if err := json.Unmarshal(b, &res.operator); err != nil {
				logf("operator results: %v", err)
			}
		} else {
			logf("operator results: %v", err)
		}
	}
	if allocTxt != "" {
		if b, err := os.ReadFile(allocTxt); err == nil {
			res.alloc = string(b)
		}
	}
	if notes != "" {
		if b, err := os.ReadFile(notes); err == nil {
			res.notes = string(b)
		}
	}
	report := res.markdown(filepath.Base(png))
	fmt.Println(res.table())
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		return err
	}
	if err := res.chart(png); err != nil {
		return err
	}
	logf("wrote %s and %s in %s", out, png, time.Since(begin).Round(time.Second))
	return nil
}

// waitDirty waits (at most max) until the kernel has written back most dirty pages, so that one upload's
// writeback does not throttle the next server's upload. It only reads /proc/meminfo.
func waitDirty(max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Dirty:" {
				if kb, _ := strconv.Atoi(f[1]); kb < 64<<10 {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func rotate[T any](xs []T, k int) []T {
	k %= len(xs)
	return append(append([]T{}, xs[k:]...), xs[:k]...)
}

// raiseNofile raises this process's RLIMIT_NOFILE (inherited by the servers we start): as root up to 65,536
// (bounded by fs.nr_open), otherwise to the hard limit.
func raiseNofile() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	want := uint64(65536)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want = min(want, n)
		}
	}
	if want > lim.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
		return
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// forkBound bounds the idle sessions of process-per-session servers (vsftpd uses two processes per session)
// to a fifth of the free PIDs, so the benchmark never starves the machine's other users.
func forkBound() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 500
	}
	pidMax, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	ents, _ := os.ReadDir("/proc")
	used := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			used++
		}
	}
	return max(100, (pidMax-used*4)/10)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}
