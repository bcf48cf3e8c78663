package main

// Issue 12's performance rows: STOR and RETR through our engine with its files in an S3 bucket (SeaweedFS from
// bin/seaweedfs, started here on loopback), beside the same through our engine on local disk, and beside the
// limit: the S3 server's own PutObject/GetObject through the same SDK (minio-go) with a plain client's defaults.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/test/support"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

func init() { sections = append(sections, section{"s3", s3Section}) }

const (
	s3Bucket = "bench"
	s3Prefix = "ftpd" // the engine's --s3-prefix; the user's home /bench is the key prefix ftpd/bench/
)

// s3Target is one way of moving the bytes: FTP through one of our engines, or the SDK straight to S3.
type s3Target struct {
	name      string
	clientPID int     // the process doing the S3 (or disk) side: the engine, or this harness for the SDK
	idleRSS   float64 // its resident MiB before the first transfer
	get       func(key string, size int64) (span, error)
	put       func(src, key string, size int64) (span, error)
}

// s3Measures are the section's rows of throughput, in order.
var s3Measures = []struct{ key, title string }{
	{"retr", "RETR, single stream"},
	{"stor", "STOR, single stream"},
	{"parretr", "RETR, parallel sessions, aggregate"},
	{"parstor", "STOR, parallel sessions, aggregate"},
}

func s3Section(c config, engine string) (string, error) {
	bin, err := seaweedfs.Find()
	var missing *seaweedfs.NotBuiltError
	if errors.As(err, &missing) {
		return "\n## Object storage (issue 12)\n\nNot measured: " + err.Error() + "\n", nil
	}
	if err != nil {
		return "", err
	}
	reps := int(envInt("BENCH_S3_REPS", 3))
	if c.quick {
		reps = int(envInt("BENCH_S3_REPS", 1))
	}
	dir, err := os.MkdirTemp("", "ftp-operator-bench-s3-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	w := &workspace{dir: dir, root: filepath.Join(dir, "root"), home: filepath.Join(dir, "root", "bench"), client: filepath.Join(dir, "client")}
	for _, d := range []string{w.home, w.client, filepath.Join(dir, "weed"), filepath.Join(dir, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	logf("s3: starting SeaweedFS (%s)", bin)
	weed, err := seaweedfs.Launch(bin, filepath.Join(dir, "weed"))
	if err != nil {
		return "", err
	}
	defer weed.Stop()
	cl := weed.Client()
	ctx := context.Background()
	if err := cl.MakeBucket(ctx, s3Bucket, minio.MakeBucketOptions{}); err != nil {
		return "", fmt.Errorf("creating bucket: %w", err)
	}

	// Sources: the client's files (STOR), the same bytes in the local engine's home and in the bucket (RETR).
	logf("s3: writing %s + %s of data", human(c.size), human(c.parSize))
	files := map[string]int64{"big.bin": c.size, "par.bin": c.parSize}
	for name, size := range files {
		src := filepath.Join(w.client, name)
		if err := writeRandom(src, size); err != nil {
			return "", err
		}
		if err := os.Link(src, filepath.Join(w.home, name)); err != nil {
			return "", err
		}
		if _, err := cl.FPutObject(ctx, s3Bucket, s3Prefix+"/bench/"+name, src, minio.PutObjectOptions{}); err != nil {
			return "", fmt.Errorf("uploading %s: %w", name, err)
		}
	}

	// Our engine twice: on local disk and on the bucket, with the benchmark's configuration otherwise.
	creds := [2]string{filepath.Join(dir, "etc", "access"), filepath.Join(dir, "etc", "secret")}
	for i, v := range []string{seaweedfs.AccessKey, seaweedfs.SecretKey} {
		if err := os.WriteFile(creds[i], []byte(v), 0o600); err != nil {
			return "", err
		}
	}
	pasv := max(100, 2*c.sessions)
	next := 20000 + 4*max(c.pasvSize, 100) // after the four servers' ranges of a full run
	taken, used := map[int]bool{}, map[int]bool{}
	port := func() (int, error) {
		for range 100 {
			if p, err := support.FreeLoopbackPort(); err != nil || !used[p] {
				used[p] = true
				return p, err
			}
		}
		return 0, errors.New("no distinct free port")
	}
	var engines []*server
	defer func() {
		for _, s := range engines {
			s.stop()
		}
	}()
	for _, onS3 := range []bool{false, true} {
		s := &server{Name: "ours on local disk", Ours: true}
		if onS3 {
			s.Name = "ours on S3"
		}
		var health int
		if s.Port, err = port(); err == nil {
			health, err = port()
		}
		if err == nil {
			s.PasvLo, err = freeRange(next, pasv, taken)
		}
		if err != nil {
			return "", err
		}
		s.PasvHi, next = s.PasvLo+pasv-1, s.PasvLo+pasv
		if err := s.configureOurs(engine, filepath.Join(dir, "etc"), w.root, health); err != nil {
			return "", err
		}
		if onS3 {
			ec := engineConfig(s, "", filepath.Join(dir, "etc", "ours-users.yaml"), health)
			ec.S3 = engineconfig.S3{Endpoint: weed.Endpoint, Bucket: s3Bucket, Prefix: s3Prefix, Region: "us-east-1",
				ForcePathStyle: true, AccessKeyIDFile: creds[0], SecretAccessKeyFile: creds[1]}
			s.argv = append([]string{engine, "ftpd"}, ec.Args()...)
		}
		if err := s.start(w); err != nil {
			return "", err
		}
		engines = append(engines, s)
	}

	timeout := time.Duration(max(120, c.size/(5<<20))) * time.Second // never slower than 5 MiB/s
	ftp := func(s *server, landed func(name string, size int64) error) s3Target {
		return s3Target{name: s.Name, clientPID: s.cmd.Process.Pid, idleRSS: rssMiB(s.cmd.Process.Pid),
			get: func(key string, size int64) (span, error) {
				start := time.Now()
				lines, err := curl(timeout, "-o", "/dev/null", "-w", xferFormat, s.url(key))
				if err != nil {
					return span{}, err
				}
				return curlOp(start, lines, false, size)
			},
			put: func(src, key string, size int64) (span, error) {
				start := time.Now()
				lines, err := curl(timeout, "-H", "Expect:", "-T", src, "-o", "/dev/null", "-w", xferFormat, s.url(key))
				if err != nil {
					return span{}, err
				}
				op, err := curlOp(start, lines, true, size)
				if err == nil {
					err = landed(key, size)
				}
				return op, err
			}}
	}
	inBucket := func(name string, size int64) error {
		key := s3Prefix + "/bench/" + name
		st, err := cl.StatObject(ctx, s3Bucket, key, minio.StatObjectOptions{})
		if err == nil && st.Size != size {
			err = fmt.Errorf("object %s has %d bytes, want %d", key, st.Size, size)
		}
		if err == nil {
			err = cl.RemoveObject(ctx, s3Bucket, key, minio.RemoveObjectOptions{})
		}
		return err
	}
	onDisk := func(name string, size int64) error {
		p := filepath.Join(w.home, name)
		fi, err := os.Stat(p)
		if err == nil && fi.Size() != size {
			err = fmt.Errorf("%s has %d bytes, want %d", p, fi.Size(), size)
		}
		if err == nil {
			err = os.Remove(p)
		}
		return err
	}
	sdk := s3Target{name: "raw SDK (minio-go)", clientPID: os.Getpid(), idleRSS: rssMiB(os.Getpid()),
		get: func(key string, size int64) (span, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			from := time.Now()
			o, err := cl.GetObject(ctx, s3Bucket, s3Prefix+"/bench/"+key, minio.GetObjectOptions{})
			if err != nil {
				return span{}, err
			}
			n, err := io.Copy(io.Discard, o)
			o.Close()
			if err == nil && n != size {
				err = fmt.Errorf("GetObject: %d bytes, want %d", n, size)
			}
			return span{from, time.Now()}, err
		},
		put: func(src, key string, size int64) (span, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			f, err := os.Open(src)
			if err != nil {
				return span{}, err
			}
			defer f.Close()
			from := time.Now()
			_, err = cl.PutObject(ctx, s3Bucket, "raw/"+key, f, size, minio.PutObjectOptions{})
			op := span{from, time.Now()}
			if err == nil {
				err = cl.RemoveObject(ctx, s3Bucket, "raw/"+key, minio.RemoveObjectOptions{})
			}
			return op, err
		}}
	targets := []s3Target{ftp(engines[1], inBucket), sdk, ftp(engines[0], onDisk)}

	res := &results{samples: map[string]map[string][]float64{}}
	// BENCH_S3_MEASURES (comma-separated keys of s3Measures) measures only those rows, to study one of them.
	want := map[string]bool{}
	for _, m := range s3Measures {
		want[m.key] = os.Getenv("BENCH_S3_MEASURES") == ""
	}
	for _, k := range strings.Split(os.Getenv("BENCH_S3_MEASURES"), ",") {
		want[k] = want[k] || k != ""
	}
	load := startLoadSampler()
	big, par := filepath.Join(w.client, "big.bin"), filepath.Join(w.client, "par.bin")
	for rep := range reps {
		for _, t := range rotate(targets, rep) {
			run := func(key string, sessions int, size int64, op func(i int) (span, error)) error {
				if !want[key] {
					return nil
				}
				u, rate, err := usageDuring(weed.PID(), t.clientPID, t.idleRSS, sessions, size, op)
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, key, err)
				}
				gib := float64(size) * float64(sessions) / (1 << 30)
				res.add(key, t.name, rate)
				res.add(key+"-weedcpu", t.name, u.weedCPU/gib)
				res.add(key+"-clientcpu", t.name, u.clientCPU/gib)
				res.add(key+"-curlcpu", t.name, u.curlCPU/gib)
				res.add(key+"-rss", t.name, u.rssGrowth/float64(sessions))
				return nil
			}
			if err := run("retr", 1, c.size, func(int) (span, error) { return t.get("big.bin", c.size) }); err != nil {
				return "", err
			}
			waitDirty(10 * time.Second) // the previous uploads' writeback (S3 server or disk) must not land on this one
			if err := run("stor", 1, c.size, func(int) (span, error) { return t.put(big, "stor.bin", c.size) }); err != nil {
				return "", err
			}
			if err := run("parretr", c.sessions, c.parSize, func(int) (span, error) { return t.get("par.bin", c.parSize) }); err != nil {
				return "", err
			}
			waitDirty(10 * time.Second)
			if err := run("parstor", c.sessions, c.parSize, func(i int) (span, error) {
				return t.put(par, fmt.Sprintf("par-%03d.bin", i), c.parSize)
			}); err != nil {
				return "", err
			}
		}
		logf("s3: round %d/%d done", rep+1, reps)
	}
	return res.s3Markdown(c, reps, bin, load.stop()), nil
}

// curlOp is curl's data phase (after its pre-transfer mark) as an absolute span, checking the byte count.
func curlOp(start time.Time, lines []string, upload bool, want int64) (span, error) {
	x, err := parseXfer(lines[len(lines)-1], upload)
	if err == nil && x.bytes != want {
		err = fmt.Errorf("curl moved %d bytes, want %d", x.bytes, want)
	}
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	return span{start.Add(sec(x.pre)), start.Add(sec(x.total))}, err
}

// s3Usage is what one measurement cost: CPU seconds of the S3 server, of the S3 client (our engine, or this
// harness for the SDK) and of the curl processes that ended meanwhile, and the client's peak resident memory
// above its idle size, in MiB.
type s3Usage struct{ weedCPU, clientCPU, curlCPU, rssGrowth float64 }

// usageDuring runs op sessions times at once and returns its cost and the aggregate MiB/s over the union of the
// ops' spans (the time during which at least one transfer was moving data).
func usageDuring(weedPID, clientPID int, idleRSS float64, sessions int, size int64, op func(i int) (span, error)) (s3Usage, float64, error) {
	w0, c0, k0 := cpuSeconds(weedPID), cpuSeconds(clientPID), childrenCPU()
	peak := rssMiB(clientPID)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peak = max(peak, rssMiB(clientPID))
			}
		}
	}()
	ops := make([]span, sessions)
	errs := make([]error, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops[i], errs[i] = op(i)
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	u := s3Usage{cpuSeconds(weedPID) - w0, cpuSeconds(clientPID) - c0, childrenCPU() - k0, peak - idleRSS}
	if err := errors.Join(errs...); err != nil {
		return u, 0, err
	}
	spans := make([]span, len(ops))
	copy(spans, ops)
	busy := unionSeconds(spans)
	return u, float64(size) * float64(sessions) / mib / busy, nil
}

// cpuSeconds is a process's user+system CPU time from /proc (0 if it is gone).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest) // from field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

// childrenCPU is the CPU time of this process's children that have ended (the curls).
func childrenCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// rssMiB is a process's resident set from /proc/PID/status.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// writeRandom writes size pseudo-random (incompressible) bytes to path.
func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.LimitReader(rand.NewChaCha8([32]byte{12}), size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *results) s3Markdown(c config, reps int, weedBin string, load loadStats) string {
	const ours, sdk, disk = "ours on S3", "raw SDK (minio-go)", "ours on local disk"
	var b strings.Builder
	fmt.Fprintf(&b, `
## Object storage (issue 12): our engine on S3, on local disk, and the SDK's own limit

SeaweedFS %s (`+"`weed mini`"+`, one process, on loopback; started by the benchmark), one bucket. **ours on S3**: our
engine with `+"`--s3-*`"+` (its defaults: 8 MiB parts, at most two in flight per upload) driven by curl as above;
**ours on local disk**: the same engine and client on this machine's disk; **raw SDK**: the limit — minio-go %s
straight to SeaweedFS with a plain client's defaults, in the benchmark's process: `+"`PutObject`"+` of the same file with
its size (parts of 16 MiB, up to 4 in parallel, streaming SHA-256 signature over http, like the engine's parts) and
`+"`GetObject`"+` read with `+"`io.Copy`"+`. Single stream %s; %d parallel sessions × %s each (BENCH_SIZE, BENCH_SESSIONS,
BENCH_PAR_SIZE); %d repetitions, the three rotated each round (BENCH_S3_REPS); medians (± half the range).
FTP rates are curl's data phase (STOR until the 226, so CompleteMultipartUpload is included); the SDK's the whole
call. load1 during this section: %.2f / %.2f / %.2f (min / median / max). SeaweedFS and the engine share the
machine's CPUs: the CPU rows show what each side spent per GiB moved.

| measure | unit | %s | %s | %s | ours on S3 / raw SDK | ours on S3 / local disk |
|---|---|---:|---:|---:|---:|---:|
`, strings.TrimPrefix(filepath.Base(filepath.Dir(weedBin)), "v"), minioVersion(), human(c.size), c.sessions, human(c.parSize), reps,
		load.Min, load.Median, load.Max, ours, sdk, disk)
	row := func(key, title, unit string) {
		fmt.Fprintf(&b, "| %s | %s |", title, unit)
		for _, n := range []string{ours, sdk, disk} {
			v, _ := r.value(key, n)
			fmt.Fprintf(&b, " %s%s |", fmtVal(v), r.spread(key, n))
		}
		o, _ := r.value(key, ours)
		for _, n := range []string{sdk, disk} {
			if v, ok := r.value(key, n); ok && v > 0 && strings.HasSuffix(unit, "MiB/s") {
				fmt.Fprintf(&b, " %.2f× |", o/v)
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	for _, m := range s3Measures {
		row(m.key, m.title, "MiB/s")
	}
	for _, m := range s3Measures {
		row(m.key+"-weedcpu", m.title+": SeaweedFS CPU per GiB", "s")
	}
	for _, m := range s3Measures {
		row(m.key+"-clientcpu", m.title+": engine's (SDK: benchmark process's) CPU per GiB", "s")
	}
	for _, m := range s3Measures {
		row(m.key+"-curlcpu", m.title+": FTP client's (curl) CPU per GiB", "s")
	}
	// Per concurrent upload from the parallel STOR: the engine's peak resident size above its size before the
	// first transfer, divided by the sessions (a single stream's peak would include what the engine's heap kept
	// from the previous round's parallel uploads).
	row("parstor-rss", "STOR, parallel sessions: peak RSS above idle per concurrent upload (SDK: benchmark process)", "MiB")
	b.WriteString("\nGoal (issue 12): ours on S3 ≥ 0.8× the raw SDK —")
	for i, m := range s3Measures {
		o, _ := r.value(m.key, ours)
		v, _ := r.value(m.key, sdk)
		verdict := "FAIL"
		if v > 0 && o/v >= 0.8 {
			verdict = "pass"
		}
		sep := ","
		if i == len(s3Measures)-1 {
			sep = "."
		}
		if v > 0 {
			fmt.Fprintf(&b, " %s %.2f× **%s**%s", m.title, o/v, verdict, sep)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// minioVersion is the minio-go module this binary was built with.
func minioVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/minio/minio-go/v7" {
				return d.Version
			}
		}
	}
	return "?"
}
