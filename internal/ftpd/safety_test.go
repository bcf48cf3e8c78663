package ftpd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// tryUpload sends verb arg with data over a fresh EPSV connection and returns
// the final reply code (the first one when the server refuses before 150).
func (r *raw) tryUpload(verb, arg, data string) int {
	r.t.Helper()
	dc := dialData(r.t, r.epsv(), "")
	code, _ := r.cmd("%s %s", verb, arg)
	if code != 150 {
		dc.Close()
		return code
	}
	_, _ = dc.Write([]byte(data))
	dc.Close()
	code, _ = r.read()
	return code
}

// A WriteOnly (drop box) user must not change an existing file by any
// command sequence.
func TestWriteOnlyNeverChangesExistingFiles(t *testing.T) {
	const orig = "IMPORTANT-ORIGINAL-CONTENT"
	e := newEnv(t)
	e.write(t, "drop/existing.txt", orig)
	wo := dialRaw(t, e.addr, "")
	wo.login("dropbox", "w")

	for _, tc := range []struct{ name, rest, verb string }{
		{"STOR", "", "STOR"},
		{"REST 1 + STOR", "1", "STOR"},
		{"REST 26 + STOR", "26", "STOR"},
		{"APPE", "", "APPE"},
	} {
		if tc.rest != "" {
			wo.must(350, "REST %s", tc.rest)
		}
		code := wo.tryUpload(tc.verb, "existing.txt", "x")
		t.Logf("%s: %d", tc.name, code)
		if code == 226 {
			t.Errorf("%s onto an existing file: 226, want a refusal", tc.name)
		}
		if s, _ := e.read(t, "drop/existing.txt"); s != orig {
			t.Fatalf("%s changed the existing file to %q", tc.name, s)
		}
	}
	wo.must(550, "RNFR existing.txt")
	if code := wo.tryUpload("STOU", "existing.txt", "x"); code != 226 {
		t.Errorf("STOU: %d, want 226 under a new name", code)
	}
	if s, _ := e.read(t, "drop/existing.txt"); s != orig {
		t.Fatalf("changed to %q", s)
	}

	// APPE creates a new file once; a second APPE would change it.
	if code := wo.tryUpload("APPE", "new.txt", "first"); code != 226 {
		t.Fatalf("APPE to a new name: %d, want 226", code)
	}
	if code := wo.tryUpload("APPE", "new.txt", "second"); code == 226 {
		t.Error("second APPE onto the drop box's own file accepted")
	}
	if s, _ := e.read(t, "drop/new.txt"); s != "first" {
		t.Fatalf("new.txt = %q, want first", s)
	}
	if n := len(dropTemps(t, e)); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}

// The existence check is not a stat before a rename: a file that appears
// while a drop-box upload runs (another user, another session) survives it.
func TestWriteOnlyUploadRacingCreationKeepsFile(t *testing.T) {
	e := newEnv(t)
	wo := dialRaw(t, e.addr, "")
	wo.login("dropbox", "w")
	dc := dialData(t, wo.epsv(), "")
	wo.must(150, "STOR late.txt")
	_, _ = dc.Write([]byte("drop box data"))
	// Created by someone else after the STOR was accepted.
	e.write(t, "drop/late.txt", "written meanwhile")
	dc.Close()
	if code, msg := wo.read(); code == 226 {
		t.Errorf("upload over a file created meanwhile: %d %s", code, msg)
	}
	if s, _ := e.read(t, "drop/late.txt"); s != "written meanwhile" {
		t.Fatalf("late.txt = %q", s)
	}
	if n := len(dropTemps(t, e)); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}

// Several drop-box sessions storing the same new name at once: exactly one
// wins, its content is the file, the others are refused.
func TestWriteOnlyConcurrentSTORSameName(t *testing.T) {
	const n = 6
	e := newEnv(t)
	type sess struct {
		r    *raw
		data string
		dc   interface{ Close() error }
	}
	ss := make([]sess, n)
	for i := range ss {
		r := dialRaw(t, e.addr, "")
		r.login("dropbox", "w")
		dc := dialData(t, r.epsv(), "")
		r.must(150, "STOR same.txt")
		data := fmt.Sprintf("content of session %d", i)
		_, _ = dc.Write([]byte(data))
		ss[i] = sess{r: r, data: data, dc: dc}
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss[i].dc.Close()
			code, _, err := ss[i].r.tp.ReadResponse(0)
			if err != nil && code == 0 {
				t.Errorf("session %d: %v", i, err)
			}
			codes[i] = code
		}()
	}
	wg.Wait()
	var winners []int
	for i, c := range codes {
		if c == 226 {
			winners = append(winners, i)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("codes %v: %d sessions got 226, want exactly 1", codes, len(winners))
	}
	if s, _ := e.read(t, "drop/same.txt"); s != ss[winners[0]].data {
		t.Fatalf("same.txt = %q, want the winner's %q", s, ss[winners[0]].data)
	}
}

// Concurrent APPE by a ReadWrite user loses no update.
func TestConcurrentAppendKeepsEveryUpdate(t *testing.T) {
	const n = 8
	e := newEnv(t)
	e.write(t, "acme/log.txt", "start\n")
	type sess struct {
		r  *raw
		dc interface{ Close() error }
	}
	ss := make([]sess, n)
	for i := range ss {
		r := dialRaw(t, e.addr, "")
		r.login("acme", "secret")
		dc := dialData(t, r.epsv(), "")
		r.must(150, "APPE log.txt")
		_, _ = dc.Write([]byte(fmt.Sprintf("line %d\n", i)))
		ss[i] = sess{r: r, dc: dc}
	}
	var wg sync.WaitGroup
	for i := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss[i].dc.Close()
			if code, msg, _ := ss[i].r.tp.ReadResponse(0); code != 226 {
				t.Errorf("APPE %d: %d %s", i, code, msg)
			}
		}()
	}
	wg.Wait()
	got, _ := e.read(t, "acme/log.txt")
	if !strings.HasPrefix(got, "start\n") {
		t.Fatalf("log.txt lost its start: %q", got)
	}
	for i := 0; i < n; i++ {
		if !strings.Contains(got, fmt.Sprintf("line %d\n", i)) {
			t.Errorf("update %d lost: %q", i, got)
		}
	}
	if lines := strings.Count(got, "\n"); lines != n+1 {
		t.Errorf("%d lines, want %d: %q", lines, n+1, got)
	}
}

func dropTemps(t *testing.T, e *testEnv) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(e.root, "drop", tmpPrefix+"*"))
	var out []string
	for _, p := range m {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
