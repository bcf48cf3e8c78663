package ftpd

// blockingOps bounds the goroutines that the engine starts only to make a file system call that may block on the
// disk for long: submitting a replacing upload's writeback (startWriteback) and closing the file an upload
// replaced, which frees its blocks (renameOver; with ext4's online discard that close waits for the device). A
// goroutine blocked in a system call holds an OS thread, the Go runtime starts another thread for the goroutines
// that still run, and a thread, once made, stays with the process with its stacks (about 50 KiB): 50 replacing
// uploads that ended together made some 20 threads this way, kept for the life of the engine (issue 10 §3). The
// goroutines waiting for a slot are parked and hold no thread. Two slots, as many as the benchmark machine's cores:
// 50 parallel replacing uploads ran as fast as with no bound, and 4 slots made no clear difference
// (docs/benchmarks.md, "Engine memory over a long run").
var blockingOps = make(chan struct{}, 2)

// blockingOp waits for a slot for one blocking file system call and returns its release.
func blockingOp() (release func()) {
	blockingOps <- struct{}{}
	return func() { <-blockingOps }
}
