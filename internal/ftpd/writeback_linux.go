//go:build linux

package ftpd

import (
	"os"

	"golang.org/x/sys/unix"
)

// submitWriteback submits the writeback of f's dirty pages without waiting for it
// (sync_file_range SYNC_FILE_RANGE_WRITE); see startWriteback.
func submitWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}
