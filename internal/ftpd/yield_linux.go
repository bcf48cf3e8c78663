//go:build linux

package ftpd

import "syscall"

// yieldToClient blocks this OS thread for passiveReplyPause (nanosleep, not a
// Go timer: a parked goroutine does not give the CPU away, its thread keeps
// running or spinning), so a client on the same host that our wake-up
// preempted runs before we answer. See passiveReplyPause.
func yieldToClient() {
	ts := syscall.NsecToTimespec(int64(passiveReplyPause))
	_ = syscall.Nanosleep(&ts, nil)
}
