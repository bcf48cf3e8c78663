//go:build unix

package ftpd

import "syscall"

// syscallSendOOB sends p with its last byte as TCP urgent data.
func syscallSendOOB(fd uintptr, p []byte) (int, error) {
	if err := syscall.Sendto(int(fd), p[:len(p)-1], 0, nil); err != nil {
		return 0, err
	}
	return len(p), syscall.Sendto(int(fd), p[len(p)-1:], syscall.MSG_OOB, nil)
}
