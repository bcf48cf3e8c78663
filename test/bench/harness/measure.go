package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// curl runs one curl with a time bound and returns its -w output lines.
func curl(timeout time.Duration, args ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	base := []string{"-sS", "--fail", "--max-time", strconv.Itoa(int(timeout.Seconds())), "--connect-timeout", "10"}
	cmd := exec.CommandContext(ctx, "curl", append(base, args...)...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("curl %s: %v %s", strings.Join(args, " "), err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// timed parses "seconds bytes" from one -w line.
func timed(line string) (sec float64, bytes int64, err error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("unexpected curl -w output %q", line)
	}
	sec, err = strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, 0, err
	}
	b, err := strconv.ParseFloat(f[1], 64)
	return sec, int64(b), err
}

const mib = 1 << 20

// curlStall is how long curl's pre-transfer phase (connect, login, EPSV, data connect, command) may take before
// we count it as curl's own stall (see stallNote) rather than work: every server does it in a few ms.
const curlStall = 0.1

const stallNote = `curl before 8.4.0 (Debian 12: 7.88.1) sleeps for its poll timeout (1 s, or 200 ms in a session's first
transfer) between reading the 227/229 reply and opening the data connection when that reply is already readable
in the three checks curl makes right after sending PASV/EPSV: it then ends its DO phase without asking to be run
again, and its DO_MORE phase has no socket to wait on yet (fixed by curl commit 6dd6654, 8.4.0). On one host
this happens when the server answers before the client gets its CPU back; see "curl batches" below.`

// xfer is one curl transfer as curl timed it.
type xfer struct {
	total, pre float64 // seconds: time_total, time_pretransfer
	bytes      int64
}

func (x xfer) dataRate() float64  { return float64(x.bytes) / mib / (x.total - x.pre) }
func (x xfer) totalRate() float64 { return float64(x.bytes) / mib / x.total }
func (x xfer) stalled() bool      { return x.pre > curlStall }

const xferFormat = "%{time_total} %{size_download} %{size_upload} %{time_pretransfer}\n"

func parseXfer(line string, upload bool) (xfer, error) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return xfer{}, fmt.Errorf("unexpected curl -w output %q", line)
	}
	var x xfer
	var err error
	if x.total, err = strconv.ParseFloat(f[0], 64); err != nil {
		return x, err
	}
	if x.pre, err = strconv.ParseFloat(f[3], 64); err != nil {
		return x, err
	}
	b := f[1]
	if upload {
		b = f[2]
	}
	n, err := strconv.ParseFloat(b, 64)
	x.bytes = int64(n)
	if x.total <= x.pre {
		return x, fmt.Errorf("curl timed no data phase: %q", line)
	}
	return x, err
}

// target is something curl downloads from and uploads to: an FTP server, or the raw TCP baseline.
type target interface {
	name() string
	get(path string) string // URL
	put(name string) string // URL of an upload
	uploaded(name string) string
}

type ftpTarget struct {
	s *server
	w *workspace
}

func (t ftpTarget) name() string                { return t.s.Name }
func (t ftpTarget) get(path string) string      { return t.s.url(path) }
func (t ftpTarget) put(name string) string      { return t.s.url(name) }
func (t ftpTarget) uploaded(name string) string { return filepath.Join(t.w.home, name) }

// retr downloads path once.
func retr(t target, path string, want int64, timeout time.Duration) (xfer, error) {
	lines, err := curl(timeout, "-o", "/dev/null", "-w", xferFormat, t.get(path))
	if err != nil {
		return xfer{}, err
	}
	x, err := parseXfer(lines[len(lines)-1], false)
	if err == nil && x.bytes != want {
		err = fmt.Errorf("%s: downloaded %d bytes, want %d", t.name(), x.bytes, want)
	}
	return x, err
}

// stor uploads src once as a fresh name, checks the size landed, removes it.
func stor(t target, src string, want int64, timeout time.Duration) (xfer, error) {
	name := "stor-" + strings.ReplaceAll(t.name(), " ", "-") + ".bin"
	defer os.Remove(t.uploaded(name))
	return upload(t, src, name, want, timeout)
}

// parallel runs sessions curls at once, each downloading path in its own session. It returns the aggregate
// MiB/s two ways: over the time during which at least one data transfer was in progress (the union of the
// sessions' data phases, so curl's own stalls while nothing flows are not charged to the server), and over
// the wall time from the first start to the last exit; and how many sessions curl stalled.
func parallel(t target, path string, size int64, sessions int, timeout time.Duration) (data, wall float64, stalls int, err error) {
	return parallelCurl(t, sessions, size, timeout, false, func(int) []string { return []string{"-o", "/dev/null", t.get(path)} })
}

// listing runs one LIST (or another listing command) of dir in its own curl session and checks every entry
// came back. It returns the listing's data phase (from curl's pre-transfer mark — connected, logged in, EPSV
// done, command sent — to the end) in ms, and the whole session's time.
func listing(s *server, dir, command string, entries int, timeout time.Duration) (xfer, error) {
	args := []string{"-w", "\n" + xferFormat}
	if command != "LIST" {
		args = append(args, "-X", command)
	}
	lines, err := curl(timeout, append(args, s.url(dir)+"/")...)
	if err != nil {
		return xfer{}, err
	}
	x, err := parseXfer(lines[len(lines)-1], false)
	if err != nil {
		return x, err
	}
	got := 0
	for _, l := range lines[:len(lines)-1] {
		if strings.Contains(l, "entry-") {
			got++
		}
	}
	if got != entries {
		return x, fmt.Errorf("%s %s: %d entries, want %d", s.Name, command, got, entries)
	}
	return x, nil
}

// smallUploads uploads the client's small files in one curl session (curl reuses the control connection) and
// returns each transfer as curl timed it, and the wall time per file in ms.
func smallUploads(s *server, w *workspace, files int, timeout time.Duration) (per []xfer, wallPerFile float64, err error) {
	dir := filepath.Join(w.home, "up-"+s.Name)
	defer func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}()
	glob := filepath.Join(w.client, "small", fmt.Sprintf("f[00001-%05d]", files))
	start := time.Now()
	lines, err := curl(timeout, "-T", glob, "-w", xferFormat, s.url("up-"+s.Name)+"/")
	if err != nil {
		return nil, 0, err
	}
	wall := time.Since(start)
	for _, l := range lines {
		x, err := parseXfer(l, true)
		if err != nil {
			return nil, 0, err
		}
		per = append(per, x)
	}
	ents, _ := os.ReadDir(dir)
	if len(per) != files || len(ents) != files {
		return nil, 0, fmt.Errorf("%s: %d transfers, %d files landed, want %d", s.Name, len(per), len(ents), files)
	}
	return per, float64(wall.Microseconds()) / 1000 / float64(files), nil
}

// curlBatch sends the client's first files small files up in ONE curl command (-T 'f[00001-N]', curl reuses
// the control connection), then fetches them back in one curl command, with extra curl arguments (for example
// --disable-epsv), and checks every file came back byte for byte. It returns the wall time of each command in
// seconds and how many transfers curl stalled (pre-transfer phase over curlStall).
func curlBatch(s *server, w *workspace, files int, extra []string, timeout time.Duration) (up, down float64, upStalls, downStalls int, err error) {
	dir := "up-" + s.Name
	back := filepath.Join(w.client, "batch-"+s.Name)
	defer func() {
		ents, _ := os.ReadDir(filepath.Join(w.home, dir))
		for _, e := range ents {
			_ = os.Remove(filepath.Join(w.home, dir, e.Name()))
		}
		_ = os.RemoveAll(back)
	}()
	if err := os.MkdirAll(back, 0o755); err != nil {
		return 0, 0, 0, 0, err
	}
	run := func(upload bool, args ...string) (float64, int, error) {
		start := time.Now()
		lines, err := curl(timeout, append(append(append([]string{}, extra...), "-w", xferFormat), args...)...)
		if err != nil {
			return 0, 0, err
		}
		wall := time.Since(start).Seconds()
		if len(lines) != files {
			return 0, 0, fmt.Errorf("%s: curl reported %d transfers, want %d", s.Name, len(lines), files)
		}
		stalls := 0
		for _, l := range lines {
			x, err := parseXfer(l, upload)
			if err != nil {
				return 0, 0, err
			}
			if x.stalled() {
				stalls++
			}
		}
		return wall, stalls, nil
	}
	rng := fmt.Sprintf("f[00001-%05d]", files)
	if up, upStalls, err = run(true, "-T", filepath.Join(w.client, "small", rng), s.url(dir)+"/"); err != nil {
		return
	}
	if down, downStalls, err = run(false, s.url(dir)+"/"+rng, "-o", filepath.Join(back, "f#1")); err != nil {
		return
	}
	for i := 1; i <= files; i++ {
		name := fmt.Sprintf("f%05d", i)
		want, err1 := os.ReadFile(filepath.Join(w.client, "small", name))
		got, err2 := os.ReadFile(filepath.Join(back, name))
		if err1 != nil || err2 != nil || string(got) != string(want) {
			return 0, 0, 0, 0, fmt.Errorf("%s: %s did not come back byte for byte (%v, %v)", s.Name, name, err1, err2)
		}
	}
	return up, down, upStalls, downStalls, nil
}

// rawServer is the physical limit: a plain TCP copy over loopback of the same bytes, read and written by the
// same curl. It speaks just enough HTTP/1.0 for curl (a one-line header each way), then copies: downloads with
// sendfile from the same file, uploads straight into a file in the same directory.
type rawServer struct {
	l   net.Listener
	dir string
}

func startRaw(dir string) (*rawServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &rawServer{l: l, dir: dir}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r, nil
}

func (r *rawServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	var length int64 = -1
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if h == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "content-length") {
			length, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	name := filepath.Join(r.dir, filepath.Base(f[1]))
	switch f[0] {
	case "GET":
		src, err := os.Open(name)
		if err != nil {
			_, _ = io.WriteString(c, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer src.Close()
		fi, _ := src.Stat()
		_, _ = fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", fi.Size())
		_, _ = io.Copy(c, src) // sendfile
	case "PUT":
		dst, err := os.Create(name)
		if err != nil || length < 0 {
			return
		}
		// Bytes already buffered first, then the socket straight into the file (splice).
		n, _ := io.CopyN(dst, br, int64(br.Buffered()))
		_, _ = io.CopyN(dst, c, length-n)
		dst.Close()
		_, _ = io.WriteString(c, "HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n")
	}
}

type rawTarget struct {
	r *rawServer
}

func (t rawTarget) name() string { return "raw TCP" }
func (t rawTarget) get(path string) string {
	return fmt.Sprintf("http://%s/%s", t.r.l.Addr(), path)
}
func (t rawTarget) put(name string) string      { return fmt.Sprintf("http://%s/%s", t.r.l.Addr(), name) }
func (t rawTarget) uploaded(name string) string { return filepath.Join(t.r.dir, name) }

// parallelStor runs sessions curls at once, each uploading src under its own name in its own session, checks that
// every upload landed whole, removes them, and returns the aggregate MiB/s over the wall time from the first start
// to the last exit.
func parallelStor(t target, src string, size int64, sessions int, timeout time.Duration) (float64, error) {
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	start := time.Now()
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("par-stor-%02d.bin", i)
			defer os.Remove(t.uploaded(name))
			lines, err := curl(timeout, "-H", "Expect:", "-T", src, "-o", "/dev/null", "-w", xferFormat, t.put(name))
			if err != nil {
				errs <- err
				return
			}
			x, err := parseXfer(lines[len(lines)-1], true)
			if fi, serr := os.Stat(t.uploaded(name)); err == nil && (serr != nil || fi.Size() != size || x.bytes != size) {
				err = fmt.Errorf("%s: upload %s sent %d bytes, landed %v (%v), want %d", t.name(), name, x.bytes, fi, serr, size)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(size) * float64(sessions) / mib / d.Seconds(), nil
}

// span is one timed transfer: the time during which its data moved (curl's data phase, or an SDK call).
type span struct{ from, to time.Time }

// unionSeconds is the length of the union of the spans (the time during which at least one transfer moved data);
// it sorts spans in place.
func unionSeconds(spans []span) float64 {
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	var busy time.Duration
	cur := spans[0]
	for _, s := range spans[1:] {
		if s.from.After(cur.to) {
			busy += cur.to.Sub(cur.from)
			cur = s
		} else if s.to.After(cur.to) {
			cur.to = s.to
		}
	}
	return (busy + cur.to.Sub(cur.from)).Seconds()
}
