//go:build linux

package ftpd

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// peerClosed reports whether the peer of c has closed or shut down its side of the connection (a FIN or RST has
// arrived), waiting at most wait for it, without reading from c.
//
// It exists for uploads: in stream mode the end of a file is the end of the data connection, so a client killed
// mid-upload looks, on the data connection, exactly like one that finished. Only its control connection tells
// them apart, and its close can arrive a little after the data connection's (another connection, another path
// through NAT and kube-proxy) and before the command loop has read it.
//
// It looks with a non-blocking poll(2) every peerCheckEvery instead of one poll(2) that blocks for the whole wait:
// a thread blocked in a system call is one the Go runtime replaces with a new thread for the other goroutines, and
// a thread, once made, stays with the process (with its stacks, about 50 KiB). Uploads that end together (50
// parallel STORs) each held a thread for up to 50 ms here, and the engine kept 20 more threads after every such
// burst (issue 10 §3).
//
// The wait counts in whole milliseconds, as poll(2)'s timeout did before: a wait under one millisecond (the grace
// of an upload that took under 4 ms) is one look that returns at once. Sleeping it instead costs a millisecond or
// more (the runtime's timers wake through epoll, in whole milliseconds) on every small file: 0.6 → 1.8 ms per
// 1 KiB upload in make bench, 2.3× vsftpd's time for a curl batch (TestSmallUploadIsNotHeldByTheGrace).
func peerClosed(c net.Conn, wait time.Duration) bool {
	tc := tcpConnOf(c)
	if tc == nil {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	deadline := time.Now().Add(wait.Truncate(time.Millisecond))
	for {
		closed := false
		_ = rc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
			if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
				closed = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
			}
		})
		left := time.Until(deadline)
		if closed || left <= 0 {
			return closed
		}
		time.Sleep(min(left, peerCheckEvery))
	}
}

// peerCheckEvery is how often peerClosed looks: a killed client's upload is refused at most this much later than
// with a blocking wait, and a 50 ms grace costs ten system calls that return at once.
const peerCheckEvery = 5 * time.Millisecond
