//go:build !linux

package ftpd

// yieldToClient does nothing outside Linux: the same-CPU wake-up preemption it
// works around (see passiveReplyPause) was observed with Linux's scheduler.
func yieldToClient() {}
