package main

// The rows of issue 10 that the first harness did not have: STOR to a fresh name and replacing an existing file
// (single stream and parallel sessions), each server's peak memory during the parallel load, and a burst of 200
// passive sessions on a small port range; and the issue's goals as pass/fail targets.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ftp-operator/ftp-operator/test/support"
)

func init() {
	// Each row goes next to the row it belongs with in the table.
	after := func(key string, ms ...metric) {
		i := slices.IndexFunc(metrics, func(m metric) bool { return m.key == key })
		metrics = slices.Insert(metrics, i+1, ms...)
	}
	after("stor", metric{"storrepl", "STOR, single stream, replacing an existing file (data phase)", "MiB/s", true, true})
	after("par",
		metric{"parstor", "STOR, parallel sessions, fresh names, aggregate (data phases)", "MiB/s", true, true},
		metric{"parstorrepl", "STOR, parallel sessions, replacing existing files, aggregate (data phases)", "MiB/s", true, true},
		metric{"peakrss", "peak RSS during the parallel RETR and STOR (sum over the server's processes)", "MB", false, false},
		metric{"peakpss", "peak PSS during the parallel RETR and STOR (sum over the server's processes)", "MB", false, false})
	after("idle",
		metric{"burstramp", fmt.Sprintf("%d sessions starting %v apart, %d passive ports: completed", burstSessions, burstRamp, burstRampPorts), "sessions", true, false},
		metric{"burstramp425", fmt.Sprintf("%d sessions starting %v apart, %d passive ports: 425 replies", burstSessions, burstRamp, burstRampPorts), "replies", false, false},
		metric{"burstonce", fmt.Sprintf("%d sessions at once, %d passive ports: completed", burstSessions, burstOncePorts), "sessions", true, false},
		metric{"burstonce425", fmt.Sprintf("%d sessions at once, %d passive ports: 425 replies", burstSessions, burstOncePorts), "replies", false, false})
}

// The burst of issue 10 §4, and the engine's default passive range (api/v1alpha1: 16 ports).
const (
	burstSessions  = 200
	burstRamp      = 5 * time.Millisecond
	burstRampPorts = 100
	burstOncePorts = 16
)

// uploadRows measures, for one target in one repetition, what comes after the parallel RETR: a single-stream
// STOR replacing an existing file, then c.sessions parallel STORs to fresh names and replacing existing files.
// peak watches the server's memory from before the parallel RETR; it is stopped here, after the parallel STORs.
// The replaced files are copies of the source made before the timed upload (owned like the source, on disk
// before the upload starts) and removed after it, so every repetition replaces a file of the same size. Every
// upload is removed after it, so these phases leave no dirty pages for the next server's upload.
func uploadRows(t target, c config, res *results, peak *peakWatch, src, parSrc string, timeout time.Duration) error {
	name := "repl-" + strings.ReplaceAll(t.name(), " ", "-") + ".bin"
	if err := copyOwned(src, t.uploaded(name)); err != nil {
		return err
	}
	x, err := upload(t, src, name, c.size, timeout)
	_ = os.Remove(t.uploaded(name))
	if err != nil {
		return err
	}
	if res.count["storrepl"] == nil {
		res.stalls["storrepl"], res.count["storrepl"] = map[string]int{}, map[string]int{}
	}
	res.addXfer("storrepl", t.name(), x)
	for _, replace := range []bool{false, true} {
		key, prefix := "parstor", "pu-"
		if replace {
			key, prefix = "parstorrepl", "pr-"
		}
		names := make([]string, c.sessions)
		for i := range names {
			names[i] = fmt.Sprintf("%s%s-%02d.bin", prefix, strings.ReplaceAll(t.name(), " ", "-"), i)
			if replace {
				if err := copyOwned(parSrc, t.uploaded(names[i])); err != nil {
					return err
				}
			}
		}
		data, wall, _, err := parallelCurl(t, c.sessions, c.parSize, timeout, true, func(i int) []string {
			return []string{"-H", "Expect:", "-T", parSrc, "-o", "/dev/null", t.put(names[i])}
		})
		for _, n := range names {
			_ = os.Remove(t.uploaded(n))
		}
		if err != nil {
			return err
		}
		res.add(key, t.name(), data)
		res.add(key+"wall", t.name(), wall)
	}
	if peak != nil {
		rss, pss := peak.stop()
		res.add("peakrss", t.name(), float64(rss)/1e6)
		res.add("peakpss", t.name(), float64(pss)/1e6)
	}
	return nil
}

// upload uploads src as name once and checks that the size landed.
func upload(t target, src, name string, want int64, timeout time.Duration) (xfer, error) {
	lines, err := curl(timeout, "-H", "Expect:", "-T", src, "-o", "/dev/null", "-w", xferFormat, t.put(name))
	if err != nil {
		return xfer{}, err
	}
	x, err := parseXfer(lines[len(lines)-1], true)
	if err != nil {
		return x, err
	}
	if fi, err := os.Stat(t.uploaded(name)); err != nil || fi.Size() != want || x.bytes != want {
		return x, fmt.Errorf("%s: upload of %d bytes not in place (%v)", t.name(), want, err)
	}
	return x, nil
}

// copyOwned copies src to dst with src's owner (the C servers write as the benchmark user) and writes it to disk
// (fsync), so the file a server replaces is an old delivery, not dirty pages still waiting for writeback.
func copyOwned(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = out.Chown(int(st.Uid), int(st.Gid))
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// parallelCurl runs sessions curls at once, curl i with args(i) (one transfer of size bytes each, in its own
// session). It returns the aggregate MiB/s two ways: over the time during which at least one data transfer was
// in progress (the union of the sessions' data phases, so curl's own stalls while nothing flows are not charged
// to the server), and over the wall time from the first start to the last exit; and how many sessions curl
// stalled.
func parallelCurl(t target, sessions int, size int64, timeout time.Duration, upload bool, args func(i int) []string) (data, wall float64, stalls int, err error) {
	spans := make([]span, sessions)
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			launched := time.Since(start)
			lines, err := curl(timeout, append([]string{"-w", xferFormat}, args(i)...)...)
			if err != nil {
				errs <- err
				return
			}
			x, err := parseXfer(lines[len(lines)-1], upload)
			if err != nil || x.bytes != size {
				errs <- fmt.Errorf("%s: parallel session moved %d bytes (%v)", t.name(), x.bytes, err)
				return
			}
			sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
			mu.Lock()
			spans[i] = span{start.Add(launched + sec(x.pre)), start.Add(launched + sec(x.total))}
			if x.stalled() {
				stalls++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, 0, err
	}
	total := float64(size) * float64(sessions) / mib
	return total / unionSeconds(spans), total / d.Seconds(), stalls, nil
}

// peakWatch samples the memory of a server and every process below it (a process-per-session server's
// sessions) every 50 ms, keeping the largest sums of RSS and of PSS seen.
type peakWatch struct {
	pid      int
	ours     bool
	done     chan struct{}
	finished chan struct{}
	rss, pss uint64
}

// watchPeak starts watching t's server; nil for the raw-TCP baseline. For our single process the kernel's own
// high-water mark (VmHWM, reset here through /proc/PID/clear_refs) is used too, so no peak falls between samples.
func watchPeak(t target) *peakWatch {
	ft, ok := t.(ftpTarget)
	if !ok || ft.s.cmd == nil {
		return nil
	}
	p := &peakWatch{pid: ft.s.cmd.Process.Pid, ours: !ft.s.Forking, done: make(chan struct{}), finished: make(chan struct{})}
	if p.ours {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid), []byte("5"), 0)
	}
	go func() {
		defer close(p.finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, pss := treeMemory(p.pid)
			p.rss, p.pss = max(p.rss, rss), max(p.pss, pss)
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// stop ends the sampling and returns the peaks in bytes.
func (p *peakWatch) stop() (rss, pss uint64) {
	close(p.done)
	<-p.finished
	if p.ours {
		if _, hwm, err := support.ProcessMemory(p.pid); err == nil && uint64(hwm) > p.rss {
			p.rss = uint64(hwm)
		}
	}
	return p.rss, p.pss
}

// treeMemory sums Rss and Pss (bytes) of pid and every process below it, from smaps_rollup.
func treeMemory(pid int) (rss, pss uint64) {
	for _, p := range append([]int{pid}, descendants(pid)...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				rss += kb << 10
			case "Pss:":
				pss += kb << 10
			}
		}
	}
	return rss, pss
}

// burstOutcome counts one burst's sessions.
type burstOutcome struct {
	ok, refused425, other int
	firstOther            string
}

// pasvBursts is issue 10 §4 for every server: burstSessions sessions, each logging in, asking PASV and
// downloading a 1 KiB file, first starting burstRamp apart on burstRampPorts passive ports, then all at once
// on burstOncePorts. Each server is started again with that range (the main instances are stopped first: this
// is the last phase) and stopped after its burst.
func pasvBursts(w *workspace, engine, peers string, servers []*server, res *results) error {
	for _, s := range servers {
		s.stop()
	}
	file := filepath.Join(w.home, "burst.bin")
	if err := os.WriteFile(file, []byte(strings.Repeat("b", 1024)), 0o644); err != nil {
		return err
	}
	defer os.Remove(file)
	if err := w.chown(file); err != nil {
		return err
	}
	for _, sc := range []struct {
		key   string
		ports int
		ramp  time.Duration
	}{{"burstramp", burstRampPorts, burstRamp}, {"burstonce", burstOncePorts, 0}} {
		sub := *w
		sub.dir = filepath.Join(w.dir, sc.key)
		if err := os.MkdirAll(sub.dir, 0o755); err != nil {
			return err
		}
		again, err := configure(&sub, engine, peers, sc.ports)
		if err != nil {
			return err
		}
		for _, s := range again {
			if err := s.start(&sub); err != nil {
				return err
			}
			o := burst(s, burstSessions, sc.ramp, 2*time.Minute)
			s.stop()
			res.add(sc.key, s.Name, float64(o.ok))
			res.add(sc.key+"425", s.Name, float64(o.refused425))
			bursts[sc.key+"/"+s.Name] = o
			logf("%s: %s on %d ports: %d completed, %d × 425, %d other failures %s", s.Name, sc.key, sc.ports, o.ok, o.refused425, o.other, o.firstOther)
		}
	}
	return nil
}

// bursts keeps each burst's outcome ("key/server") for the targets.
var bursts = map[string]burstOutcome{}

// burst runs n sessions against s, session i starting i×ramp after the first (ramp 0: all released at once).
func burst(s *server, n int, ramp, timeout time.Duration) burstOutcome {
	var o burstOutcome
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			time.Sleep(time.Duration(i) * ramp)
			code, err := burstSession(s, timeout)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				o.ok++
			case code == 425:
				o.refused425++
			default:
				o.other++
				if o.firstOther == "" {
					o.firstOther = fmt.Sprintf("(first: %v)", err)
				}
			}
		}()
	}
	close(gate)
	wg.Wait()
	return o
}

// burstSession logs in, asks PASV, downloads burst.bin and quits. It returns the failing reply's code, if any.
func burstSession(s *server, timeout time.Duration) (int, error) {
	c, err := login(s.Port)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	cmd := func(line string) (int, string, error) {
		if _, err := fmt.Fprintf(c, "%s\r\n", line); err != nil {
			return 0, "", err
		}
		return readReply(r)
	}
	if code, msg, err := cmd("TYPE I"); err != nil || code != 200 {
		return code, fmt.Errorf("TYPE I: %s %v", msg, err)
	}
	code, msg, err := cmd("PASV")
	if err != nil || code != 227 {
		return code, fmt.Errorf("PASV: %s %v", msg, err)
	}
	addr, err := pasvAddr(msg)
	if err != nil {
		return 0, err
	}
	dc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("data connection: %w", err)
	}
	defer dc.Close()
	_ = dc.SetDeadline(time.Now().Add(timeout))
	if code, msg, err := cmd("RETR burst.bin"); err != nil || (code != 150 && code != 125) {
		return code, fmt.Errorf("RETR: %s %v", msg, err)
	}
	n, err := io.Copy(io.Discard, dc)
	if err != nil || n != 1024 {
		return 0, fmt.Errorf("data: %d bytes, %v", n, err)
	}
	if code, msg, err := readReply(r); err != nil || code != 226 {
		return code, fmt.Errorf("after RETR: %s %v", msg, err)
	}
	_, _, _ = cmd("QUIT")
	return 0, nil
}

func readReply(r *bufio.Reader) (int, string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, "", err
		}
		if len(line) >= 4 && line[3] == ' ' {
			code, err := strconv.Atoi(line[:3])
			return code, strings.TrimSpace(line), err
		}
	}
}

// pasvAddr reads h1,h2,h3,h4,p1,p2 from a 227 reply.
func pasvAddr(msg string) (string, error) {
	open, end := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
	if open < 0 || end < open {
		return "", fmt.Errorf("PASV reply %q", msg)
	}
	f := strings.Split(msg[open+1:end], ",")
	if len(f) != 6 {
		return "", fmt.Errorf("PASV reply %q", msg)
	}
	p1, err1 := strconv.Atoi(f[4])
	p2, err2 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("PASV reply %q", msg)
	}
	return fmt.Sprintf("%s:%d", strings.Join(f[:4], "."), p1*256+p2), nil
}

// ratio is ours / peer of the medians of key.
func (r *results) ratio(key, peer string) (float64, bool) {
	o, ok1 := r.value(key, r.names[0])
	p, ok2 := r.value(key, peer)
	if !ok1 || !ok2 || p == 0 {
		return 0, false
	}
	return o / p, true
}

// issue10Targets are issue 10's goals, from the medians of this run.
func (r *results) issue10Targets() []target6 {
	var out []target6
	ours := r.names[0]
	ratio := r.ratio
	for _, k := range []struct{ key, name string }{
		{"batchup", "uploads"}, {"batchdown", "downloads"}, {"batchpasvup", "uploads, PASV"}, {"batchpasvdown", "downloads, PASV"},
	} {
		if x, ok := ratio(k.key, "vsftpd"); ok {
			out = append(out, target6{fmt.Sprintf("curl batch of %d %s ≤ 1.5× vsftpd's time", r.config.curlBatch, k.name),
				x <= 1.5, fmt.Sprintf("%.2f× vsftpd's time", x), true})
		}
	}
	for _, k := range []struct{ key, name string }{
		{"stor", "STOR single stream, fresh name"}, {"storrepl", "STOR single stream, replacing a file"},
		{"parstor", fmt.Sprintf("%d-session STOR, fresh names", r.config.sessions)},
		{"parstorrepl", fmt.Sprintf("%d-session STOR, replacing files", r.config.sessions)},
	} {
		if x, ok := ratio(k.key, "pure-ftpd"); ok {
			out = append(out, target6{k.name + " ≥ 1.0× pure-ftpd", x >= 1.0, fmt.Sprintf("%.2f×", x), true})
		}
	}
	if x, ok := ratio("par", "raw TCP"); ok {
		out = append(out, target6{fmt.Sprintf("%d-session RETR ≥ 0.6× raw loopback TCP (stretch 0.8×)", r.config.sessions), x >= 0.6, fmt.Sprintf("%.2f×", x), true})
	}
	if v, ok := r.value("peakrss", ours); ok {
		out = append(out, target6{"peak RSS under the parallel load ≤ 16 MB", v <= 16, fmt.Sprintf("%.1f MB", v), true})
	}
	for _, k := range []struct {
		key   string
		ports int
		how   string
	}{{"burstramp", burstRampPorts, fmt.Sprintf("starting %v apart", burstRamp)}, {"burstonce", burstOncePorts, "at once"}} {
		if o, ok := bursts[k.key+"/"+ours]; ok {
			out = append(out, target6{fmt.Sprintf("%d sessions %s on %d passive ports: all complete, no 425", burstSessions, k.how, k.ports),
				o.ok == burstSessions && o.refused425 == 0,
				fmt.Sprintf("%d completed, %d × 425, %d other failures", o.ok, o.refused425, o.other), true})
		}
	}
	return out
}

// issue10Markdown is the "Targets (issue 10)" block of the page.
func (r *results) issue10Markdown() string {
	var b strings.Builder
	b.WriteString("\n### Targets (issue 10)\n\n| target | result | this run |\n|---|---|---|\n")
	for _, t := range r.issue10Targets() {
		verdict := "FAIL"
		if t.pass {
			verdict = "pass"
		}
		fmt.Fprintf(&b, "| %s | **%s** | %s |\n", t.what, verdict, t.detail)
	}
	b.WriteString(`
How the issue-10 rows are measured: *STOR, fresh name* uploads to a name that does not exist (the pipeline case:
deliveries are new files), the file is removed after each repetition; *replacing* first copies the source to the
target name (owned like the source, fsync'd before the timed upload), so the server overwrites a file of
the same size: pure-ftpd opens it and truncates it in place (` + "`ftruncate(fd, 0)`" + `, then writes — a reader sees the
file shrink and grow), our engine writes a temporary file and renames it over the old one (a reader sees the
old or the new file, never a partial one). The parallel STORs are ` + "`BENCH_SESSIONS`" + ` curls at once, each
uploading ` + "`BENCH_PAR_SIZE`" + ` bytes to its own name. *Peak RSS/PSS* is sampled every 50 ms from the start of
the parallel RETR to the end of the parallel STORs, summed over the server's process and every process below it
(the C servers fork per session; RSS counts their shared library pages once per process, PSS divides them); for
our single process the kernel's high-water mark (VmHWM, reset before the load) is used too. The *bursts* run
each server again with a passive range of that size, as the last phase: every session logs in, sends PASV,
downloads a 1 KiB file and quits; "other failures" are refused logins or connections (pure-ftpd admits at most
half its passive range in clients).
`)
	for _, k := range []struct{ key, what string }{
		{"burstramp", fmt.Sprintf("%d sessions starting %v apart on %d passive ports", burstSessions, burstRamp, burstRampPorts)},
		{"burstonce", fmt.Sprintf("%d sessions at once on %d passive ports", burstSessions, burstOncePorts)},
	} {
		var parts []string
		for _, n := range r.names {
			if o, ok := bursts[k.key+"/"+n]; ok {
				parts = append(parts, fmt.Sprintf("%s %d / %d / %d", n, o.ok, o.refused425, o.other))
				if o.firstOther != "" {
					parts[len(parts)-1] += " " + o.firstOther
				}
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "\n%s, completed / 425 / other failures: %s.\n", k.what, strings.Join(parts, "; "))
		}
	}
	return b.String()
}
