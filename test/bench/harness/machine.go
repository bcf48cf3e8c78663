package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

type machine struct {
	CPUs       int
	CPUModel   string
	Kernel     string
	MemTotal   string
	Curl       string
	Go         string
	LoadBefore string
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	if out, err := exec.Command("curl", "--version").Output(); err == nil {
		m.Curl = strings.Join(strings.Fields(strings.SplitN(string(out), "\n", 2)[0])[:2], " ")
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadBefore = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// loadSampler records the kernel's 1-minute load average every 5 s during the run.
type loadSampler struct {
	mu      sync.Mutex
	samples []float64
	done    chan struct{}
	wg      sync.WaitGroup
}

type loadStats struct {
	Min, Median, Max float64
	Samples          int
	BusyOther        float64 // fraction of CPU busy while the benchmark sat idle between phases; -1 unknown
}

func startLoadSampler() *loadSampler {
	l := &loadSampler{done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			l.sample()
			select {
			case <-l.done:
				return
			case <-t.C:
			}
		}
	}()
	return l
}

func (l *loadSampler) sample() {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	v, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.samples = append(l.samples, v)
	l.mu.Unlock()
}

func (l *loadSampler) stop() loadStats {
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := loadStats{Samples: len(l.samples), Median: median(l.samples), Min: percentile(l.samples, 0), Max: percentile(l.samples, 1)}
	return s
}

// cpuBusy measures, over d, the fraction of all CPUs busy (from /proc/stat) — taken while the benchmark
// itself is idle, it is what the machine's other users consume.
func cpuBusy(d time.Duration) float64 {
	read := func() (busy, total float64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:]
		for i, x := range f {
			v, _ := strconv.ParseFloat(x, 64)
			total += v
			if i != 3 && i != 4 { // idle, iowait
				busy += v
			}
		}
		return
	}
	b0, t0 := read()
	time.Sleep(d)
	b1, t1 := read()
	if t1 == t0 {
		return -1
	}
	return (b1 - b0) / (t1 - t0)
}
