package ftpd

import (
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
