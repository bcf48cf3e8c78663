//go:build linux

package ftpd

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// yieldToClient sleeps for passiveReplyPause when the client's last segment on the control connection c was
// received on the CPU this thread runs on — on one host that is the CPU the client sent it from, so the client
// was most likely preempted to run us and has not reached its poll() yet. It sleeps with nanosleep(2), in the
// kernel: a parked goroutine would not give the CPU away (its thread keeps running or spinning). When the
// client runs on another CPU it reaches its poll() long before we answer, and we do not wait.
func yieldToClient(c net.Conn) {
	tc := tcpConnOf(c)
	if tc == nil {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	in := -1
	_ = rc.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_INCOMING_CPU); err == nil {
			in = v
		}
	})
	var cpu uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); errno != 0 || in != int(cpu) {
		return
	}
	ts := unix.NsecToTimespec(int64(passiveReplyPause))
	_ = unix.Nanosleep(&ts, nil)
}
