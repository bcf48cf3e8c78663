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
func peerClosed(c net.Conn, wait time.Duration) bool {
	tc := tcpConnOf(c)
	if tc == nil {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, int(wait.Milliseconds())); err == nil && n > 0 {
			closed = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return closed
}
