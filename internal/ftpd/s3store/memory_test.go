package s3store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

// Uploads take their part buffers from the provider's pool and give them back: after a first upload, ten
// three-part uploads in a row allocate almost no new part buffer, where allocating per part would take 30. Under
// the race detector sync.Pool drops a quarter of what is put back (about 8 new buffers here); the bound allows that.
// (Measured without -race by TotalAlloc: 168 MiB for these ten uploads before the pool, 23 MiB with it.)
func TestS3UploadsReusePartBuffers(t *testing.T) {
	const partSize = 5 << 20
	e := newS3Env(t, func(c *s3store.Config) { c.PartSize = partSize })
	allocs := e.prov.CountPartAllocs()
	c := e.login(t, "acme")
	data := randomBytes(2*partSize + 1) // three parts
	stor := func(i int) {
		if err := c.Stor(fmt.Sprintf("f%d.bin", i), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	stor(0) // the pool's first buffers
	first := allocs.Load()
	for i := 1; i <= 10; i++ {
		stor(i)
	}
	n := allocs.Load() - first
	t.Logf("first upload: %d part buffers allocated; the next ten: %d", first, n)
	if first == 0 || n > 18 {
		t.Fatalf("ten three-part uploads allocated %d part buffers (first upload %d), want at most 18: buffers are not reused", n, first)
	}
}
