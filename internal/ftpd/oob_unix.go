//go:build unix

package ftpd

import (
	"net"
	"syscall"
)

// setOOBInline keeps TCP urgent data in the stream. Clients such as Python's
// ftplib send ABOR's final byte with MSG_OOB; without SO_OOBINLINE the kernel
// would remove it and the command line would never end.
func setOOBInline(c net.Conn) {
	var tc *net.TCPConn
	switch v := c.(type) {
	case *net.TCPConn:
		tc = v
	case interface{ TCPConn() (*net.TCPConn, bool) }:
		tc, _ = v.TCPConn()
	}
	if tc == nil {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
		})
	}
}
