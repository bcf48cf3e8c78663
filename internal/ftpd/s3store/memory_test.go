package s3store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
)

// An upload holds at most three parts in memory (two in flight, one filling), whatever the file's size: the
// heap grows by far less than the 100 MiB sent.
func TestS3UploadMemoryBounded(t *testing.T) {
	const partSize, size = 5 << 20, 100 << 20
	e := newS3Env(t, func(c *s3store.Config) { c.PartSize = partSize })
	c := e.login(t, "acme")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	src := io.LimitReader(rand.NewChaCha8([32]byte{7}), size)
	h := sha256.New()
	start := time.Now()
	err := c.Stor("hundred.bin", io.TeeReader(src, h))
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("100 MiB STOR to S3 in %s (%.0f MB/s); heap growth at peak %.1f MiB (parts of %d MiB)",
		elapsed.Round(time.Millisecond), float64(size)/elapsed.Seconds()/1e6, float64(growth)/(1<<20), partSize>>20)
	if limit := int64(8 * partSize); growth > limit { // three part buffers plus the HTTP and signing overhead, and garbage not yet collected
		t.Fatalf("heap grew by %d MiB during a 100 MiB upload, want at most %d MiB", growth>>20, limit>>20)
	}
	got, ok := e.object(t, prefix+"/acme/hundred.bin")
	sum := sha256.Sum256(got)
	if !ok || hex.EncodeToString(sum[:]) != hex.EncodeToString(h.Sum(nil)) {
		t.Fatalf("object is not the %d bytes sent (got %d)", size, len(got))
	}
}
