package ftpd

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const benchSize = 64 << 20

// BenchmarkRETR downloads a 64 MiB file over loopback and reports MiB/s and
// the ratio to a baseline measured in the same run: a bare io.Copy from the
// same file to a TCP connection (sendfile), without FTP.
func BenchmarkRETR(b *testing.B) {
	e := newEnv(b)
	p := filepath.Join(e.root, "acme", "bench.bin")
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, make([]byte, benchSize), 0o644); err != nil {
		b.Fatal(err)
	}
	baseline := baselineCopy(b, p)

	t := b
	r := dialRaw(t, e.addr, "")
	r.login("acme", "secret")
	b.SetBytes(benchSize)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		dc := dialData(t, r.epsv(), "")
		if code, msg := r.cmd("RETR bench.bin"); code != 150 {
			b.Fatalf("RETR: %d %s", code, msg)
		}
		n, err := io.Copy(io.Discard, dc)
		dc.Close()
		if err != nil || n != benchSize {
			b.Fatalf("got %d bytes, %v", n, err)
		}
		r.expect(226)
	}
	d := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(benchSize)/(1<<20)/d.Seconds(), "MiB/s")
	b.ReportMetric(baseline.Seconds()/d.Seconds(), "x-baseline")
}

// BenchmarkSTOR uploads 64 MiB over loopback, each time replacing the file
// of the previous iteration (as a pipeline re-uploading an artefact does), and
// reports MiB/s up to the 226 and the ratio to a baseline measured in the same
// run: a bare splice of the same bytes from a TCP connection into a new file,
// without FTP (no temporary file, no rename, no 226).
func BenchmarkSTOR(b *testing.B) {
	e := newEnv(b)
	baseline := baselineUpload(b, filepath.Join(b.TempDir(), "raw.bin"), benchSize)
	r := dialRaw(b, e.addr, "")
	r.login("acme", "secret")
	chunk := make([]byte, 256<<10)
	upload := func() {
		dc := dialData(b, r.epsv(), "")
		if code, msg := r.cmd("STOR bench.bin"); code != 150 {
			b.Fatalf("STOR: %d %s", code, msg)
		}
		for sent := 0; sent < benchSize; sent += len(chunk) {
			if _, err := dc.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		dc.Close()
		r.expect(226)
	}
	upload() // the first upload replaces nothing
	b.SetBytes(benchSize)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		upload()
	}
	d := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(benchSize)/(1<<20)/d.Seconds(), "MiB/s")
	b.ReportMetric(baseline.Seconds()/d.Seconds(), "x-baseline")
}

// BenchmarkSTORFresh uploads to a NEW name each time (as a pipeline delivering
// dated artefacts does), 1, 16 and 256 MiB, and reports MiB/s up to the 226,
// the ratio to a bare splice of the same size into a new file, and where the
// client's time goes: ms until its last byte is written and the data
// connection closed (eof-ms), and ms from there to the 226 (226-ms: the close
// grace and the commit). Files are removed off the clock.
func BenchmarkSTORFresh(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			e := newEnv(b)
			baseline := baselineUpload(b, filepath.Join(b.TempDir(), "raw.bin"), size)
			r := dialRaw(b, e.addr, "")
			r.login("acme", "secret")
			chunk := make([]byte, 256<<10)
			var toEOF, to226 time.Duration
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				dc := dialData(b, r.epsv(), "")
				if code, msg := r.cmd("STOR fresh%d.bin", i); code != 150 {
					b.Fatalf("STOR: %d %s", code, msg)
				}
				for sent := 0; sent < size; sent += len(chunk) {
					if _, err := dc.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
						b.Fatal(err)
					}
				}
				dc.Close()
				eof := time.Now()
				r.expect(226)
				toEOF += eof.Sub(start)
				to226 += time.Since(eof)
				b.StopTimer()
				if err := os.Remove(filepath.Join(e.root, "acme", fmt.Sprintf("fresh%d.bin", i))); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			d := (toEOF + to226) / time.Duration(b.N)
			b.ReportMetric(float64(size)/(1<<20)/d.Seconds(), "MiB/s")
			b.ReportMetric(baseline.Seconds()/d.Seconds(), "x-baseline")
			b.ReportMetric(float64(toEOF.Microseconds())/1e3/float64(b.N), "eof-ms")
			b.ReportMetric(float64(to226.Microseconds())/1e3/float64(b.N), "226-ms")
		})
	}
}

// baselineUpload times the best of three bare uploads of size bytes
// into path (splice, as os.File.ReadFrom does it).
func baselineUpload(b *testing.B, path string, size int) time.Duration {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	chunk := make([]byte, 256<<10)
	var best time.Duration
	for i := 0; i < 3; i++ {
		go func() {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				return
			}
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := c.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
					break
				}
			}
			c.Close()
		}()
		c, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		_ = os.Remove(path)
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		n, err := f.ReadFrom(c)
		d := time.Since(start)
		c.Close()
		f.Close()
		if err != nil || n != int64(size) {
			b.Fatalf("baseline: %d bytes, %v", n, err)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best
}

// baselineCopy times one bare sendfile copy of path over loopback.
func baselineCopy(b *testing.B, path string) time.Duration {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var best time.Duration
	for i := 0; i < 3; i++ {
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f, _ := os.Open(path)
			_, _ = io.Copy(c, f)
			f.Close()
			c.Close()
		}()
		start := time.Now()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, c)
		c.Close()
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	return best
}

// BenchmarkPROTPDataConnection times small PROT P downloads (EPSV, data TLS handshake, 1 KiB, 226) in three
// sessions run interleaved, 20 transfers at a time, so that the machine's noise hits all alike: the session-reuse
// requirement on (the client resumes), off with a resuming client, and off with a client doing a full handshake
// (the baseline). It reports µs per transfer for each and the ratios to the baseline.
func BenchmarkPROTPDataConnection(b *testing.B) {
	cr, _ := certReloader(b, b.TempDir(), "bench")
	type client struct {
		name string
		r    *raw
		cfg  *tls.Config
		took time.Duration
	}
	open := func(name string, optional, resume bool) *client {
		e := newEnv(b, func(s *Server) { s.TLSConfig = cr.TLSConfig(); s.TLSSessionReuseOptional = optional })
		e.write(b, "acme/small.bin", string(make([]byte, 1024)))
		cfg := clientTLS()
		if !resume {
			cfg.ClientSessionCache = nil
		}
		return &client{name: name, r: ftpsRaw(b, e.addr, cfg, "acme", "secret"), cfg: cfg}
	}
	transfer := func(c *client) {
		r := c.r
		start := time.Now()
		dc := dialData(b, r.epsv(), "")
		if err := r.tp.PrintfLine("RETR small.bin"); err != nil {
			b.Fatal(err)
		}
		tc := tls.Client(dc, c.cfg)
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		if got, _ := io.ReadAll(tc); len(got) != 1024 {
			b.Fatalf("got %d bytes", len(got))
		}
		tc.Close()
		r.expect(150)
		r.expect(226)
		c.took += time.Since(start)
	}
	clients := []*client{
		open("required-resumed", false, true),
		open("optional-resumed", true, true),
		open("optional-full", true, false), // baseline
	}
	for _, c := range clients { // warm up
		for range 10 {
			transfer(c)
		}
		c.took = 0
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += 20 {
		for _, c := range clients {
			for range min(20, b.N-done) {
				transfer(c)
			}
		}
	}
	base := clients[2].took
	for _, c := range clients {
		b.ReportMetric(float64(c.took.Microseconds())/float64(b.N), "µs/"+c.name)
		if c != clients[2] {
			b.ReportMetric(c.took.Seconds()/base.Seconds(), "x-full/"+c.name)
		}
	}
}
