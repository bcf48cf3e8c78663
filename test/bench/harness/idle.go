package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// idleSessions opens n logged-in control connections to s, measures the server's PSS (all its processes)
// before and after, and returns bytes per session. Connections are closed before returning.
func idleSessions(s *server, n int, deadline time.Duration) (perSession float64, opened int, err error) {
	base, _ := pss(s.cmd.Process.Pid)
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	stop := time.Now().Add(deadline)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := 0
	workers := 32
	if s.Forking {
		workers = 8
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || time.Now().After(stop) {
					return
				}
				c, err := login(s.Port)
				for try := 0; err != nil && try < 3; try++ { // a forking server may reset a burst of connects
					time.Sleep(200 * time.Millisecond)
					c, err = login(s.Port)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: idle session %d: %w", s.Name, i, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			opened++
		}
	}
	if firstErr != nil && opened < n/2 {
		return 0, opened, firstErr
	}
	time.Sleep(2 * time.Second) // let forked sessions finish their start-up
	after, _ := pss(s.cmd.Process.Pid)
	if opened == 0 {
		return 0, 0, fmt.Errorf("%s: no session opened", s.Name)
	}
	return (float64(after) - float64(base)) / float64(opened), opened, firstErr
}

func login(port int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(line) >= 4 && line[:3] == code && line[3] == ' ' {
				return nil
			}
			if len(line) >= 4 && line[3] == ' ' {
				return fmt.Errorf("want %s, got %q", code, strings.TrimSpace(line))
			}
		}
	}
	if err := expect("220"); err != nil {
		c.Close()
		return nil, err
	}
	fmt.Fprintf(c, "USER %s\r\n", benchUser)
	if err := expect("331"); err != nil {
		c.Close()
		return nil, err
	}
	fmt.Fprintf(c, "PASS %s\r\n", benchPassword)
	if err := expect("230"); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
