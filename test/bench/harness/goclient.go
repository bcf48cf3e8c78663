package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// goSmallUploads is the same small-file workload driven by a minimal Go client instead of curl: one logged-in
// session, then per file EPSV, connect, STOR, write, close, wait for 226. It exists because curl 7.88 stalls
// for its 1 s poll timeout when it finds the 229 reply right after sending EPSV (see stallNote and
// docs/benchmarks.md), which hides the servers' own latency. Returns ms per file.
func goSmallUploads(s *server, w *workspace, files, size int, timeout time.Duration) ([]float64, error) {
	dir := filepath.Join(w.home, "up-"+s.Name)
	defer func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}()
	c, err := login(s.Port)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	reply := func() (int, string, error) { return readReply(r) }
	cmd := func(format string, args ...any) (int, string, error) {
		if _, err := fmt.Fprintf(c, format+"\r\n", args...); err != nil {
			return 0, "", err
		}
		return reply()
	}
	if code, msg, err := cmd("TYPE I"); err != nil || code != 200 {
		return nil, fmt.Errorf("%s: TYPE I: %s %v", s.Name, msg, err)
	}
	if code, msg, err := cmd("CWD up-%s", s.Name); err != nil || code != 250 {
		return nil, fmt.Errorf("%s: CWD: %s %v", s.Name, msg, err)
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = 's'
	}
	out := make([]float64, 0, files)
	for i := 1; i <= files; i++ {
		start := time.Now()
		code, msg, err := cmd("EPSV")
		if err != nil || code != 229 {
			return nil, fmt.Errorf("%s: EPSV: %s %v", s.Name, msg, err)
		}
		open, close := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
		if open < 0 || close < open {
			return nil, fmt.Errorf("%s: EPSV reply %q", s.Name, msg)
		}
		dc, err := net.DialTimeout("tcp", "127.0.0.1:"+msg[open+4:close], 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s: data connection: %w", s.Name, err)
		}
		if code, msg, err := cmd("STOR g%05d", i); err != nil || (code != 150 && code != 125) {
			dc.Close()
			return nil, fmt.Errorf("%s: STOR: %s %v", s.Name, msg, err)
		}
		_, err = dc.Write(body)
		dc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: writing: %w", s.Name, err)
		}
		if code, msg, err := reply(); err != nil || code != 226 {
			return nil, fmt.Errorf("%s: after STOR: %s %v", s.Name, msg, err)
		}
		out = append(out, float64(time.Since(start).Microseconds())/1000)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != files {
		return nil, fmt.Errorf("%s: %d files landed, want %d", s.Name, len(ents), files)
	}
	return out, nil
}
