package promtext

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CollectRuntime adds the Go runtime's and the process's series under the names the Prometheus Go client's Go and
// process collectors use (go_goroutines, go_threads, go_memstats_*, process_*), read at every scrape: one
// runtime.ReadMemStats and, on Linux, /proc/self/stat.
func (r *Registry) CollectRuntime() {
	start := float64(time.Now().Unix())
	r.Collect(func(w *Writer) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		threads, _ := runtime.ThreadCreateProfile(nil)
		w.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
		w.Gauge("go_threads", "Number of OS threads created.", float64(threads))
		w.GaugeLabels("go_info", "Information about the Go environment.", []string{"version"}, []string{runtime.Version()}, 1)
		for _, g := range []struct {
			name, help string
			v          uint64
		}{
			{"alloc_bytes", "Number of bytes allocated in heap and currently in use.", ms.Alloc},
			{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", ms.HeapAlloc},
			{"heap_idle_bytes", "Number of heap bytes waiting to be used.", ms.HeapIdle},
			{"heap_inuse_bytes", "Number of heap bytes that are in use.", ms.HeapInuse},
			{"heap_objects", "Number of currently allocated objects.", ms.HeapObjects},
			{"heap_released_bytes", "Number of heap bytes released to OS.", ms.HeapReleased},
			{"heap_sys_bytes", "Number of heap bytes obtained from system.", ms.HeapSys},
			{"mspan_inuse_bytes", "Number of bytes in use by mspan structures.", ms.MSpanInuse},
			{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", ms.NextGC},
			{"other_sys_bytes", "Number of bytes used for other system allocations.", ms.OtherSys},
			{"stack_inuse_bytes", "Number of bytes in use by the stack allocator.", ms.StackInuse},
			{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", ms.StackSys},
			{"sys_bytes", "Number of bytes obtained from system.", ms.Sys},
		} {
			w.Gauge("go_memstats_"+g.name, g.help, float64(g.v))
		}
		w.Counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated, even if freed.", float64(ms.TotalAlloc))
		w.Counter("go_gc_cycles_total", "Completed GC cycles.", float64(ms.NumGC))
		if p, ok := readProcSelf(); ok {
			w.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", p.cpu)
			w.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.rss)
			w.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.vsize)
			w.Gauge("process_open_fds", "Number of open file descriptors.", p.fds)
		}
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			w.Gauge("process_max_fds", "Maximum number of open file descriptors.", float64(lim.Cur))
		}
		w.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", start)
	})
}

type procSelf struct{ cpu, rss, vsize, fds float64 }

// readProcSelf reads CPU time, resident and virtual size from /proc/self/stat and counts /proc/self/fd (Linux; false
// elsewhere).
func readProcSelf() (p procSelf, ok bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return p, false
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return p, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return p, false
	}
	num := func(field int) float64 { v, _ := strconv.ParseFloat(f[field-3], 64); return v }
	const ticks = 100 // USER_HZ: 100 on every Linux architecture Go supports
	p.cpu = (num(14) + num(15)) / ticks
	p.vsize = num(23)
	p.rss = num(24) * float64(os.Getpagesize())
	if d, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.fds = float64(len(d))
	}
	return p, true
}
