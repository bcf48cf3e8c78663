package ftpd

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// xferlog writes wu-ftpd compatible transfer log lines:
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action direction access-mode username service auth-method
//	auth-user-id completion-status
//
// Whitespace in file names is replaced by "_" so that field splitting works.
type xferlog struct {
	mu sync.Mutex
	w  io.Writer
}

type xferRecord struct {
	start    time.Time
	remote   string
	size     int64
	name     string
	ascii    bool
	upload   bool
	user     string
	anon     bool
	complete bool
}

func (x *xferlog) log(r xferRecord) {
	if x == nil || x.w == nil {
		return
	}
	now := time.Now()
	secs := int64(now.Sub(r.start).Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	typ, dir, mode, status := "b", "o", "r", "i"
	if r.ascii {
		typ = "a"
	}
	if r.upload {
		dir = "i"
	}
	if r.anon {
		mode = "a"
	}
	if r.complete {
		status = "c"
	}
	name := strings.Map(func(c rune) rune {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return '_'
		}
		return c
	}, r.name)
	line := fmt.Sprintf("%s %d %s %d %s %s _ %s %s %s ftp 0 * %s\n",
		now.Format("Mon Jan _2 15:04:05 2006"), secs, r.remote, r.size, name, typ, dir, mode, r.user, status)
	x.mu.Lock()
	defer x.mu.Unlock()
	_, _ = io.WriteString(x.w, line)
}
