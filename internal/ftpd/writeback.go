package ftpd

import "os"

// startWriteback starts the kernel's writeback of the upload file f's dirty pages in the background (see
// submitWriteback) and returns a channel closed when the submission is done. A variable so that a test can
// see when it runs.
//
// It is for a STOR that replaces an existing file, between the end of its data and its commit. Renaming over an
// existing file makes ext4 (auto_da_alloc, its default) allocate the new file's delayed blocks and submit its
// writeback inside rename(2), before the 226: on a large upload that took a good part of the transfer's time.
// Submitted here, that work overlaps the wait for a killed client's control connection (uploadCloseGrace), and
// the rename finds the pages already under writeback. Nothing a client or reader sees changes: no data is made
// durable that was not before (the I/O is submitted, not waited for; --fsync-uploads still decides that), the
// temporary file is renamed into place only after the wait, and an upload abandoned in it is still removed.
var startWriteback = func(f *os.File) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer blockingOp()()
		submitWriteback(f)
	}()
	return done
}
