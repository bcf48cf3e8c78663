package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ftp-operator/ftp-operator/test/bench/benchresult"
)

// metric describes one row of the table.
type metric struct {
	key, title, unit string
	higherBetter     bool
	raw              bool // has a raw-TCP baseline
}

var metrics = []metric{
	{"retr", "RETR, single stream (data phase)", "MiB/s", true, true},
	{"stor", "STOR, single stream, fresh name (data phase)", "MiB/s", true, true},
	{"par", "RETR, parallel sessions, aggregate (data phases)", "MiB/s", true, true},
	{"retrwall", "RETR, single stream (whole curl run)", "MiB/s", true, true},
	{"storwall", "STOR, single stream, fresh name (whole curl run)", "MiB/s", true, true},
	{"parwall", "RETR, parallel sessions, aggregate (wall clock)", "MiB/s", true, true},
	{"list", "LIST, 5,000 entries (whole curl session, login included)", "ms", false, false},
	{"mlsd", "MLSD, 5,000 entries (whole curl session, login included)", "ms", false, false},
	{"listdata", "LIST, 5,000 entries (after curl's pre-transfer mark)", "ms", false, false},
	{"mlsddata", "MLSD, 5,000 entries (after curl's pre-transfer mark)", "ms", false, false},
	{"small", "small-file upload, curl time_total per file (median)", "ms", false, false},
	{"smallp99", "small-file upload, curl time_total per file (p99)", "ms", false, false},
	{"smallwall", "small-file upload, wall time per file (curl; see note)", "ms", false, false},
	{"gosmall", "small-file upload, latency per file, Go client (median)", "ms", false, false},
	{"gosmallp99", "small-file upload, latency per file, Go client (p99)", "ms", false, false},
	{"batchup", "curl batch: small files up in ONE curl command (EPSV), wall", "s", false, false},
	{"batchdown", "curl batch: the same files down in ONE curl command (EPSV), wall", "s", false, false},
	{"batchpasvup", "curl batch: up in ONE curl command, --disable-epsv (PASV), wall", "s", false, false},
	{"batchpasvdown", "curl batch: down in ONE curl command, --disable-epsv (PASV), wall", "s", false, false},
	{"idle", "idle logged-in session, memory (PSS)", "KiB", false, false},
}

// operatorResult is one line written by test/bench (the operator on envtest).
type operatorResult = benchresult.Row

type results struct {
	samples     map[string]map[string][]float64 // metric → target → samples
	stalls      map[string]map[string]int       // metric → target → curl stalls (pre-transfer > curlStall)
	batchStalls map[string]map[string]int       // "batch"/"batchpasv" → server → stalled transfers, all reps
	count       map[string]map[string]int       // metric → target → transfers
	names       []string                        // servers, ours first
	idleCount   map[string]int
	servers     []*server
	load        loadStats
	busyOther   [2]float64
	elapsed     time.Duration
	config      config
	machine     machine
	operator    []operatorResult
	alloc       string
	notes       string
	relay       relayRow
	sections    []string // markdown of sections.go's measurements
}

func newResults(servers []*server) *results {
	r := &results{samples: map[string]map[string][]float64{}, idleCount: map[string]int{},
		stalls: map[string]map[string]int{}, count: map[string]map[string]int{},
		batchStalls: map[string]map[string]int{"batch": {}, "batchpasv": {}}}
	for _, k := range []string{"retr", "stor", "par", "small", "list", "mlsd"} {
		r.stalls[k], r.count[k] = map[string]int{}, map[string]int{}
	}
	for _, s := range servers {
		r.names = append(r.names, s.Name)
	}
	return r
}

func (r *results) add(key, name string, v float64) {
	if r.samples[key] == nil {
		r.samples[key] = map[string][]float64{}
	}
	r.samples[key][name] = append(r.samples[key][name], v)
}

func (r *results) addXfer(key, name string, x xfer) {
	r.add(key, name, x.dataRate())
	r.add(key+"wall", name, x.totalRate())
	r.count[key][name]++
	if x.stalled() {
		r.stalls[key][name]++
	}
}

func (r *results) addListing(key, name string, x xfer) {
	// The whole session is the primary figure: a server may build the listing before or after its 150 reply,
	// so the part after curl's pre-transfer mark is not comparable across servers.
	r.add(key, name, x.total*1000)
	r.add(key+"data", name, (x.total-x.pre)*1000)
	r.count[key][name]++
	if x.stalled() {
		r.stalls[key][name]++
	}
}

func (r *results) value(key, name string) (float64, bool) {
	if base, ok := strings.CutSuffix(key, "p99"); ok {
		s := r.samples[base][name]
		return percentile(s, 0.99), len(s) > 0
	}
	s := r.samples[key][name]
	return median(s), len(s) > 0
}

// spread is (max-min)/median of the samples, a plain measure of how noisy the repetitions were.
func (r *results) spread(key, name string) string {
	if strings.HasSuffix(key, "p99") || strings.HasSuffix(key, "small") {
		return "" // per-file samples: the p99 row shows the tail
	}
	s := r.samples[key][name]
	if len(s) < 2 {
		return ""
	}
	m := median(s)
	if m == 0 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", 50*(percentile(s, 1)-percentile(s, 0))/m)
}

func fmtVal(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// table is the main table: one row per metric, a column per server (median and spread), then ratios.
func (r *results) table() string {
	var b strings.Builder
	ours := r.names[0]
	peers := r.names[1:]
	b.WriteString("| measure | unit |")
	for _, n := range r.names {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString(" raw TCP |")
	for _, p := range peers {
		fmt.Fprintf(&b, " ours / %s |", p)
	}
	b.WriteString(" ours / raw TCP |\n|---|---|")
	b.WriteString(strings.Repeat("---:|", len(r.names)+1+len(peers)+1))
	b.WriteString("\n")
	for _, m := range metrics {
		if _, ok := r.samples[strings.TrimSuffix(m.key, "p99")]; !ok {
			continue
		}
		better := "lower is better"
		if m.higherBetter {
			better = "higher is better"
		}
		fmt.Fprintf(&b, "| %s | %s (%s) |", m.title, m.unit, better)
		for _, n := range append(append([]string{}, r.names...), "raw TCP") {
			if v, ok := r.value(m.key, n); ok {
				fmt.Fprintf(&b, " %s%s |", fmtVal(v), r.spread(m.key, n))
			} else {
				b.WriteString(" — |")
			}
		}
		o, _ := r.value(m.key, ours)
		for _, p := range append(append([]string{}, peers...), "raw TCP") {
			if v, ok := r.value(m.key, p); ok && v > 0 {
				fmt.Fprintf(&b, " %.2f× |", o/v)
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

type target6 struct {
	what   string
	pass   bool
	detail string
	known  bool
}

// targets checks issue 6's targets against the medians of this run.
func (r *results) targets() []target6 {
	var out []target6
	ours := r.names[0]
	ratio := r.ratio
	withWall := func(key, peer string, x float64) string {
		if w, ok := ratio(key+"wall", peer); ok {
			return fmt.Sprintf("%.2f× (whole curl run: %.2f×)", x, w)
		}
		return fmt.Sprintf("%.2f×", x)
	}
	for _, k := range []struct{ key, name string }{{"retr", "RETR"}, {"stor", "STOR"}} {
		if x, ok := ratio(k.key, "vsftpd"); ok {
			out = append(out, target6{k.name + " ≥ 1.0× vsftpd", x >= 1.0, withWall(k.key, "vsftpd", x), true})
		}
		if x, ok := ratio(k.key, "raw TCP"); ok {
			out = append(out, target6{k.name + " ≥ 0.9× raw loopback TCP", x >= 0.9, withWall(k.key, "raw TCP", x), true})
		}
	}
	if x, ok := ratio("par", "vsftpd"); ok {
		out = append(out, target6{fmt.Sprintf("%d-session aggregate ≥ 1.0× vsftpd", r.config.sessions), x >= 1.0, withWall("par", "vsftpd", x), true})
	}
	if x, ok := ratio("list", "vsftpd"); ok {
		out = append(out, target6{"LIST time ≤ vsftpd's", x <= 1.0, fmt.Sprintf("%.2f× vsftpd's time", x), true})
	}
	if o, ok := r.value("mlsd", ours); ok {
		if v, ok := r.value("list", "vsftpd"); ok {
			out = append(out, target6{"MLSD time ≤ vsftpd's listing (vsftpd has no MLSD: its LIST)", o <= v, fmt.Sprintf("%.2f× vsftpd's LIST time", o/v), true})
		}
	}
	if o, ok := r.value("idle", ours); ok {
		out = append(out, target6{"idle session < 64 KiB", o < 64, fmt.Sprintf("%.1f KiB (PSS, %d sessions)", o, r.idleCount[ours]), true})
	}
	seen := map[string]bool{}
	for _, op := range r.operator {
		if strings.Contains(op.Target, "FTPServers") {
			seen["scale"] = true
		}
		if strings.Contains(op.Target, "address") {
			seen["address"] = true
		}
		if op.Target != "" {
			t := target6{what: op.Target, detail: fmt.Sprintf("%s %s", fmtVal(op.Value), op.Unit)}
			if op.Pass != nil {
				t.pass, t.known = *op.Pass, true
			}
			out = append(out, t)
		}
	}
	if !seen["scale"] {
		out = append(out, target6{what: "1,000 FTPServers allocated, a Service each, in under 15 s", detail: "operator benchmark did not report (see bin/bench-results/operator.txt)"})
	}
	if !seen["address"] {
		out = append(out, target6{what: "address change visible in under 1 s", detail: "operator benchmark did not report (see bin/bench-results/operator.txt)"})
	}
	return out
}

func (r *results) markdown(png string) string {
	var b strings.Builder
	m := r.machine
	c := r.config
	mode := "full"
	if c.quick {
		mode = "quick (BENCH_QUICK=1; smaller sizes, fewer repetitions — a smoke run, not the reference numbers)"
	}
	fmt.Fprintf(&b, `# Benchmarks

Generated by `+"`make bench`"+` (test/bench) on %s; do not edit by hand — run it again.
Mode: %s. The whole run took %s.

## Machine

| | |
|---|---|
| CPUs (nproc) | %d |
| CPU model | %s |
| kernel | %s |
| memory | %s |
| client | %s |
| Go | %s |
| load average before the run | %s |
| load1 during the run (min / median / max of %d samples every 5 s) | %.2f / %.2f / %.2f |
| CPU busy from other work while the benchmark was idle (before, after) | %s, %s |

The machine is shared: other engineers' builds run at the same time, so absolute numbers move from run to run.
The method is built for that: every repetition visits every server (and the raw-TCP baseline) in an order
rotated by one each round, so a burst of outside load hits all of them alike; the table shows **medians**, the
spread (±half the min–max range, relative to the median) and **ratios computed from medians of the same run**.
Compare ratios across runs, not absolute MiB/s.

`, time.Now().UTC().Format("2006-01-02 15:04 UTC"), mode, r.elapsed.Round(time.Second),
		m.CPUs, m.CPUModel, m.Kernel, m.MemTotal, m.Curl, m.Go, m.LoadBefore,
		r.load.Samples, r.load.Min, r.load.Median, r.load.Max, pct(r.busyOther[0]), pct(r.busyOther[1]))

	b.WriteString("## Servers\n\n| server | version | model | control | passive ports |\n|---|---|---|---|---|\n")
	for _, s := range r.servers {
		model := "one process, goroutine per session"
		if s.Forking {
			model = "process per session"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | 127.0.0.1:%d | %d-%d (%d) |\n", s.Name, s.Version, model, s.Port, s.PasvLo, s.PasvHi, s.PasvHi-s.PasvLo+1)
	}
	fmt.Fprintf(&b, `
All four run as foreground processes started by the benchmark and stopped by PID, bound to 127.0.0.1 only,
serving the same directory to the same user (`+"`ftpbench`"+`, password login; the C servers through the system
account, ours through its users file), chrooted to it. No TLS, no transfer logs. vsftpd has no MLSD.

## Results

Sizes: RETR/STOR %s (BENCH_SIZE), %d parallel sessions × %s each (BENCH_SESSIONS, BENCH_PAR_SIZE),
%d repetitions (BENCH_REPS); listings of %d entries × %d repetitions; %d uploads of %d bytes, %d times from the Go
client, and the first %d of them once in one curl session (BENCH_CURL_SMALL; curl's stalls make more too slow);
curl batches of %d files each way in one curl command × %d repetitions (BENCH_CURL_BATCH, BENCH_CURL_BATCH_REPS);
idle sessions: %d for ours, %d for each process-per-session server.

%s
Ratios are ours / peer of the median, so for *lower is better* rows a ratio below 1 means we are faster or
smaller.

![chart](%s)

### Targets (issue 6)

| target | result | this run |
|---|---|---|
`, human(c.size), c.sessions, human(c.parSize), c.reps, c.listEntries, c.listReps, c.smallFiles, c.smallSize, c.smallReps, c.curlSmall,
		c.curlBatch, c.batchReps,
		r.idleCount[r.names[0]], c.idleForking, r.table(), png)
	for _, t := range r.targets() {
		verdict := "FAIL"
		if !t.known {
			verdict = "not measured"
		} else if t.pass {
			verdict = "pass"
		}
		fmt.Fprintf(&b, "| %s | **%s** | %s |\n", t.what, verdict, t.detail)
	}
	b.WriteString(r.issue10Markdown())

	b.WriteString("\n### curl's own stalls\n\n" + stallNote + "\n\nThe primary throughput rows " +
		"therefore time the data phase (curl's time_total − time_pretransfer; for the parallel run, the time during " +
		"which at least one session was transferring); the *whole curl run* rows keep the stalls in. Listings are timed as whole sessions (medians of many). Transfers " +
		"whose pre-transfer phase took over 100 ms, out of all transfers (in the parallel run this mostly counts all " +
		"sessions logging in at once on this machine — a fork and a PAM conversation each for the C servers — not only curl's stall):\n\n| target | RETR | STOR | parallel sessions | LIST | MLSD | small uploads (curl) |\n|---|---|---|---|---|---|---|\n")
	for _, n := range append(append([]string{}, r.names...), "raw TCP") {
		fmt.Fprintf(&b, "| %s |", n)
		for _, k := range []string{"retr", "stor", "par", "list", "mlsd", "small"} {
			if c := r.count[k][n]; c > 0 {
				fmt.Fprintf(&b, " %d / %d |", r.stalls[k][n], c)
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}

	if len(r.batchStalls["batch"]) > 0 {
		fmt.Fprintf(&b, "\nIn the curl batches (%d files each way, %d repetitions), transfers curl stalled: ", c.curlBatch, c.batchReps)
		for i, n := range r.names {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d (EPSV) / %d (PASV)", n, r.batchStalls["batch"][n], r.batchStalls["batchpasv"][n])
		}
		fmt.Fprintf(&b, " of %d each.\n", 2*c.curlBatch*c.batchReps)
	}

	if len(r.operator) > 0 {
		b.WriteString("\n## Operator (envtest: a real kube-apiserver and etcd)\n\n| measure | value | note |\n|---|---|---|\n")
		for _, o := range r.operator {
			fmt.Fprintf(&b, "| %s | %s %s | %s |\n", o.Name, fmtVal(o.Value), o.Unit, o.Note)
		}
	}
	if r.alloc != "" {
		b.WriteString("\n## Allocator micro-benchmark (`go test -bench AllocateAsPoolFills ./internal/portalloc`)\n\n```\n")
		b.WriteString(strings.TrimSpace(r.alloc))
		b.WriteString("\n```\n")
	}
	b.WriteString(r.replicasMarkdown()) // issue 11 (replicas.go)
	b.WriteString(r.relay.markdown())
	for _, s := range r.sections {
		b.WriteString(s)
	}
	if r.notes != "" {
		b.WriteString("\n" + strings.TrimSpace(r.notes) + "\n")
	}
	b.WriteString(methodText)
	b.WriteString("\n## Raw samples (MiB/s, in run order)\n\n")
	for _, k := range []string{"retr", "stor", "par", "retrwall", "storwall", "parwall"} {
		for _, n := range append(append([]string{}, r.names...), "raw TCP") {
			if xs := r.samples[k][n]; len(xs) > 0 {
				fmt.Fprintf(&b, "- %s, %s:", k, n)
				for _, x := range xs {
					fmt.Fprintf(&b, " %s", fmtVal(x))
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func pct(f float64) string {
	if f < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

const methodText = `
## Method

- **Where it lives.** Everything ` + "`make bench`" + ` runs is under test/bench: the harness that starts the four
  servers, measures and writes this page and its chart (test/bench/harness, a Go command; install-servers.sh
  fetches the peers), the operator benchmarks on envtest (test/bench/*_test.go, build tag ` + "`bench`" + `, handing
  their rows over as JSON of test/bench/benchresult) and the hand-written notes above (test/bench/notes.md).
  hack/mk/bench.mk only runs them in order. Our engine is started with the arguments of an
  ` + "`engineconfig.Config`" + ` (its ` + "`Args()`" + `), the contract the operator writes into the pod. Go benchmarks of
  one package stay next to their code, where ` + "`go test -bench`" + ` looks: the allocator's (internal/portalloc, run
  here) and the engine's own (internal/ftpd/bench_test.go: RETR against a bare sendfile copy, PROT P data
  connections; for profiles, see the notes).
- **Client.** Every transfer is one ` + "`curl`" + ` process (passive mode, EPSV), the same binary for every server; its
  ` + "`-w '%{time_total}'`" + ` is the time. Throughput = bytes / time_total of that curl (connect and login included:
  negligible at these sizes). RETR writes to /dev/null; STOR uploads the same file from the page cache.
- **Raw TCP** is the physical limit of this machine for the same client: a minimal server in the harness that
  answers curl with a one-line HTTP/1.0 header and then copies the same file with sendfile (download), or the
  socket straight into a file in the same directory (upload). Same bytes, same curl, no FTP.
- **Parallel**: N curls started at once, each downloading the same file in its own session; aggregate =
  all bytes / wall time from the first start to the last exit.
- **Listings**: one curl session per listing (connect, login, EPSV, LIST or MLSD); the time includes the login,
  the same for every server. Every entry is checked to have arrived.
- **Small uploads**: curl uploads the files in one session (` + "`-T 'f[00001-01000]'`" + `, connection reused);
  the per-file latency is curl's time_total of each transfer (EPSV + STOR + data + 226).
- **curl batches**: the first BENCH_CURL_BATCH small files (default 100) uploaded in ONE curl command
  (` + "`curl -T 'f[00001-00100]' ftp://…/dir/`" + `) and downloaded back in one (` + "`curl 'ftp://…/dir/f[00001-00100]' -o 'f#1'`" + `),
  with EPSV and with ` + "`--disable-epsv`" + `, checked byte for byte; the figure is the wall time of each command,
  stalls included, since they are what a pipeline waits for. Servers alternate; the median of the repetitions.
- **Idle sessions**: a Go client (curl cannot hold sessions open) logs in N sessions and leaves them idle; the
  cost is the growth of the server's **PSS** summed over all its processes (proportional set size: a library
  page shared by 1,000 forked sessions is charged 1/1,000 to each), divided by N. For our single process PSS
  and RSS coincide. Process-per-session servers are held to fewer sessions (BENCH_IDLE_FORKING, also bounded
  by the free PIDs) so the benchmark never exhausts the machine's process table; their cost per session is
  linear. The benchmark raises RLIMIT_NOFILE (as root to 65,536, else to the hard limit), which the servers
  inherit, and bounds N by it: each idle session holds one descriptor in the client and two in our engine
  (the socket and the user's ` + "`os.Root`" + `).
- **Writeback**: before each STOR the benchmark waits (up to 30 s, only reading /proc/meminfo) until the
  kernel's dirty pages are below 64 MiB, so one server's upload is not throttled by the previous one's.
- **Bounds**: every curl has --max-time; every loop is bounded in count; only 127.0.0.1 is used; the
  benchmark stops only the processes it started, by PID (and their own process group), removes
  /tmp/ftp-operator-bench, and deletes the system user ` + "`ftpbench`" + ` if it created it.
- **Peers** come from Debian's packages: their shared libraries are installed with apt-get; the three server
  packages conflict with one another (each provides ` + "`ftp-server`" + `), so their .debs are fetched with
  ` + "`apt-get download`" + ` and unpacked into bin/bench-peers — no maintainer script runs, no service starts.
`
