package ftpd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// XferLogFormat is the format of the transfer log (Server.XferLog): one line per transfer, finished or not.
type XferLogFormat string

// Transfer log formats.
const (
	// XferLogWuFTPD is the wu-ftpd/vsftpd xferlog line that log analysers read:
	//
	//	current-time transfer-time remote-host file-size filename transfer-type
	//	special-action direction access-mode username service auth-method
	//	auth-user-id completion-status
	//
	// Whitespace in file names is replaced by "_" so that field splitting works. It is the default.
	XferLogWuFTPD XferLogFormat = "xferlog"
	// XferLogJSON is one JSON object per line (XferLogRecord), for log pipelines that parse JSON.
	XferLogJSON XferLogFormat = "json"
)

// Valid reports whether f is a known format ("" is the default, XferLogWuFTPD).
func (f XferLogFormat) Valid() bool { return f == "" || f == XferLogWuFTPD || f == XferLogJSON }

// XferLogRecord is one line of the JSON transfer log.
type XferLogRecord struct {
	// Time is when the transfer ended (RFC 3339, UTC, nanoseconds).
	Time time.Time `json:"time"`
	// Client is the client's IP address (the real one behind a PROXY protocol load balancer).
	Client string `json:"remote"`
	User   string `json:"user"`
	// Direction is "upload" or "download".
	Direction string `json:"direction"`
	// Path is the file's path as the user sees it (inside the user's home).
	Path string `json:"path"`
	// Bytes is how many bytes crossed the data connection.
	Bytes int64 `json:"bytes"`
	// DurationSeconds is how long the transfer took, in seconds.
	DurationSeconds float64 `json:"durationSeconds"`
	// Result is "complete" or "incomplete" (aborted, failed, or the client went away).
	Result string `json:"result"`
	// Type is "binary" or "ascii".
	Type string `json:"type"`
}

type xferlog struct {
	mu     sync.Mutex
	w      io.Writer
	format XferLogFormat
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
	var line string
	if x.format == XferLogJSON {
		line = jsonLine(r, now)
	} else {
		line = wuftpdLine(r, now)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	_, _ = io.WriteString(x.w, line)
}

func jsonLine(r xferRecord, now time.Time) string {
	rec := XferLogRecord{Time: now.UTC(), Client: r.remote, User: r.user, Direction: "download", Path: r.name,
		Bytes: r.size, DurationSeconds: now.Sub(r.start).Seconds(), Result: "incomplete", Type: "binary"}
	if r.upload {
		rec.Direction = "upload"
	}
	if r.complete {
		rec.Result = "complete"
	}
	if r.ascii {
		rec.Type = "ascii"
	}
	b, err := json.Marshal(rec)
	if err != nil { // cannot happen: every field marshals
		return ""
	}
	return string(b) + "\n"
}

func wuftpdLine(r xferRecord, now time.Time) string {
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
	return fmt.Sprintf("%s %d %s %d %s %s _ %s %s %s ftp 0 * %s\n",
		now.Format("Mon Jan _2 15:04:05 2006"), secs, r.remote, r.size, name, typ, dir, mode, r.user, status)
}
