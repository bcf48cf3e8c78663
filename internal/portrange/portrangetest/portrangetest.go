// Package portrangetest gives tests passive ranges that are free on loopback, as httptest gives them servers.
package portrangetest

import (
	mrand "math/rand/v2"
	"net"
	"strconv"
	"testing"

	"github.com/ftp-operator/ftp-operator/internal/portrange"
)

// Free returns n consecutive ports that are free on 127.0.0.1 right now, below Linux's ephemeral range (32768+) so
// that outgoing connections do not take them. They may be taken again before the test binds them: the engine skips
// ports that became busy (the OS bind is the arbiter). It fails the test when 50 tries find none.
func Free(t testing.TB, n int) portrange.Range {
	t.Helper()
	for range 50 {
		start := 20000 + mrand.IntN(12000-n)
		if free(start, n) {
			return portrange.Range{Start: int32(start), End: int32(start + n - 1)}
		}
	}
	t.Fatalf("no %d free consecutive ports on 127.0.0.1", n)
	return portrange.Range{}
}

func free(start, n int) bool {
	for p := start; p < start+n; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
