//go:build !linux

package ftpd

import (
	"net"
	"time"
)

// peerClosed is known only on Linux (POLLRDHUP); elsewhere the command loop's EOF alone marks the control
// connection gone.
func peerClosed(net.Conn, time.Duration) bool { return false }
