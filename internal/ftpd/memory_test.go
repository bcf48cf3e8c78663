package ftpd

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestIdleSessionMemory measures heap + stack per idle logged-in session
// (server side plus a minimal client socket) and enforces the 64 KiB target.
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement skipped in -short mode")
	}
	e := newEnv(t, func(s *Server) { s.MaxSessionsPerIP = -1 })
	const n = 300
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
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	// Warm up one session so one-time allocations are not counted.
	warm, _ := net.Dial("tcp", e.addr)
	expect(warm, "220")
	conns = append(conns, warm)
	before := measure()
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
	after := measure()
	per := float64(after-before) / n
	t.Logf("idle logged-in session: %.1f KiB (heap+stack, server and client side)", per/1024)
	if per > 64<<10 {
		t.Fatalf("idle session costs %.1f KiB, target < 64 KiB", per/1024)
	}
}
