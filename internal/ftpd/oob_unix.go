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
	tc := tcpConnOf(c)
	if tc == nil {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
		})
	}
}

// tcpConnOf is the TCP connection under c (itself, or what a PROXY protocol wrapper holds), or nil.
func tcpConnOf(c net.Conn) *net.TCPConn {
	switch v := c.(type) {
	case *net.TCPConn:
		return v
	case interface{ TCPConn() (*net.TCPConn, bool) }:
		tc, _ := v.TCPConn()
		return tc
	}
	return nil
}
