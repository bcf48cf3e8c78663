package main

// Issue 10 §2: what the single-stream STOR costs the client. On loopback the sending curl's kernel context does
// the TCP receive work and every wake-up of the server's reader, and shares the machine's cores with the server, so
// a server that wakes often or runs extra threads slows the upload by taking curl's CPU (see the notes, "Why a
// single-stream STOR still trails pure-ftpd"). These rows show it for every server in the same run.

import (
	"slices"
	"syscall"
	"time"
)

func init() {
	i := slices.IndexFunc(metrics, func(m metric) bool { return m.key == "stor" })
	metrics = slices.Insert(metrics, i+1,
		metric{"storclientcpu", "curl's CPU during the single-stream fresh-name STOR (user + system, per GiB)", "ms", false, true},
		metric{"storclientnivcsw", "curl's involuntary context switches during that STOR (per GiB)", "switches", false, true})
}

// withClientCost runs one transfer (a single curl, the only child process the harness reaps meanwhile) and adds
// that curl's CPU time and involuntary context switches per GiB of size, from getrusage(RUSAGE_CHILDREN) around it.
func withClientCost(res *results, name string, size int64, run func() (xfer, error)) (xfer, error) {
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
	x, err := run()
	if err != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after) != nil {
		return x, err
	}
	perGiB := float64(1<<30) / float64(size)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	res.add("storclientcpu", name, float64(cpu.Milliseconds())*perGiB)
	res.add("storclientnivcsw", name, float64(after.Nivcsw-before.Nivcsw)*perGiB)
	return x, nil
}
