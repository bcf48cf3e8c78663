package ftpd

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestXferlogJSON: with XferLogFormat json every transfer, upload and download, is one JSON object per line with
// the client, user, direction, path, size, a numeric duration and the result.
func TestXferlogJSON(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	e := newEnv(t, func(s *Server) {
		s.XferLog = &lockedWriter{w: &buf, mu: &mu}
		s.XferLogFormat = XferLogJSON
	})
	c := e.dial(t, "acme", "secret")
	before := time.Now()
	if err := c.Stor("a b.txt", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("a b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "12345" {
		t.Fatalf("downloaded %q", b)
	}
	r.Close()
	var lines []string
	waitFor(t, 5*time.Second, "two transfer records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		lines = strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		return len(lines) == 2
	})
	for i, want := range []string{"upload", "download"} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
		if rec["remote"] != "127.0.0.1" || rec["user"] != "acme" || rec["direction"] != want ||
			rec["path"] != "/a b.txt" || rec["bytes"] != 5.0 || rec["result"] != "complete" || rec["type"] != "binary" {
			t.Errorf("record %d: %s", i, lines[i])
		}
		if d, ok := rec["durationSeconds"].(float64); !ok || d < 0 || d > time.Since(before).Seconds() {
			t.Errorf("record %d: durationSeconds %v is not a number of seconds within the test", i, rec["durationSeconds"])
		}
		ts, err := time.Parse(time.RFC3339Nano, rec["time"].(string))
		if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now()) {
			t.Errorf("record %d: time %v (%v)", i, rec["time"], err)
		}
	}
}
