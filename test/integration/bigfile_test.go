package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBigFile moves a 256 MiB file (seeded PRNG) byte-exact through every
// client, plain and over TLS, and logs the throughput.
func TestBigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("big file skipped in -short mode")
	}
	curl := needClient(t, "curl")
	lftp := needClient(t, "lftp")
	py := needClient(t, "python3")
	e := newEnv(t)
	const size = 256 << 20
	dir := t.TempDir()
	src := filepath.Join(dir, "big.src")
	sum := writeRandom(t, src, size, 42)
	base := []string{"-sS", "--max-time", "120", "-u", user + ":" + pass}
	mbps := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	check := func(t *testing.T, path, what string, d time.Duration) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if fi.Size() != size || sha256File(t, path) != sum {
			t.Fatalf("%s: %d bytes, SHA-256 differs", what, fi.Size())
		}
		t.Logf("%s: %d MiB in %v (%.0f MiB/s)", what, size>>20, d.Round(time.Millisecond), mbps(d))
	}
	t.Run("curl upload", func(t *testing.T) {
		start := time.Now()
		run(t, 2*time.Minute, curl, append(base, "--disable-epsv", "-T", src, e.curlURL(false, "/big.bin"))...)
		check(t, filepath.Join(e.root, "big.bin"), "curl STOR (PASV)", time.Since(start))
	})
	download := func(t *testing.T, what string, fetch func(dst string)) {
		t.Helper()
		dst := filepath.Join(dir, "big.dst")
		defer os.Remove(dst)
		start := time.Now()
		fetch(dst)
		check(t, dst, what, time.Since(start))
	}
	t.Run("curl download", func(t *testing.T) {
		download(t, "curl RETR (EPSV, sendfile)", func(dst string) {
			run(t, 2*time.Minute, curl, append(base, "-o", dst, e.curlURL(false, "/big.bin"))...)
		})
	})
	t.Run("curl download FTPS", func(t *testing.T) {
		download(t, "curl RETR over TLS", func(dst string) {
			run(t, 2*time.Minute, curl, append(base, "--ssl-reqd", "--cacert", e.certFile, "-o", dst, e.curlURL(false, "/big.bin"))...)
		})
	})
	t.Run("lftp download", func(t *testing.T) {
		download(t, "lftp RETR", func(dst string) {
			e.lftp(t, lftp, false, []string{"set ftp:ssl-allow no"}, "get big.bin -o '"+dst+"'")
		})
	})
	t.Run("python download", func(t *testing.T) {
		download(t, "ftplib RETR", func(dst string) {
			script := "import ftplib,sys\n" +
				"f=ftplib.FTP(timeout=60); f.connect(sys.argv[1], int(sys.argv[2])); f.login(sys.argv[3], sys.argv[4])\n" +
				"out=open(sys.argv[5],'wb'); f.retrbinary('RETR big.bin', out.write, blocksize=1<<20); out.close(); f.quit()\n"
			run(t, 2*time.Minute, py, "-c", script, e.host, e.port, user, pass, dst)
		})
	})
}
