package ftpd

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestIdleSessionMemory measures heap + stack per idle logged-in session over
// 1,000 sessions (server side plus a minimal client socket) and enforces the
// target of issue 10 §3: under 8 KiB, of which the session goroutine's stack
// is 4 KiB (its idle call chain fits in a quarter of a 8 KiB stack, so the
// runtime shrinks it; see Server.openSession). The race detector's larger
// frames and objects get the old 64 KiB bound.
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement skipped in -short mode")
	}
	e := newEnv(t, func(s *Server) { s.MaxSessionsPerIP = -1 })
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 512)
	expect := func(c net.Conn, code string) {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := c.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:k]), code) {
			t.Fatalf("want %s, got %q %v", code, buf[:k], err)
		}
	}
	measure := func() (heap, stack uint64) {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse
	}
	// Warm up one session so one-time allocations are not counted.
	warm, _ := net.Dial("tcp", e.addr)
	expect(warm, "220")
	conns = append(conns, warm)
	heap0, stack0 := measure()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		expect(c, "220")
		_, _ = c.Write([]byte("USER acme\r\n"))
		expect(c, "331")
		_, _ = c.Write([]byte("PASS secret\r\n"))
		expect(c, "230")
	}
	heap1, stack1 := measure()
	heap, stack := float64(heap1-heap0)/n, float64(stack1-stack0)/n
	t.Logf("idle logged-in session: %.1f KiB (heap %.1f KiB, stack %.1f KiB; server and client side)",
		(heap+stack)/1024, heap/1024, stack/1024)
	limit, stackLimit := 8.0, 4.5
	if raceEnabled {
		limit, stackLimit = 64, 64
	}
	if stack > stackLimit*1024 {
		t.Errorf("idle session stack %.1f KiB, target %.1f KiB", stack/1024, stackLimit)
	}
	if heap+stack > limit*1024 {
		t.Errorf("idle session costs %.1f KiB, target < %.0f KiB", (heap+stack)/1024, limit)
	}
}
