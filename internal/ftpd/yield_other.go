//go:build !linux

package ftpd

import "net"

// yieldToClient does nothing outside Linux: the same-CPU wake-up preemption it works around (see
// passiveReplyPause) was observed with Linux's scheduler, and the check needs SO_INCOMING_CPU.
func yieldToClient(net.Conn) {}
