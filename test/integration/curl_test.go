package integration

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func (e *env) curlURL(implicit bool, p string) string {
	u := url.URL{Scheme: "ftp", Host: e.host + ":" + e.port, Path: p}
	if implicit {
		u.Scheme, u.Host = "ftps", e.host+":"+e.implicitPort
	}
	return u.String()
}

func TestCurl(t *testing.T) {
	curl := needClient(t, "curl")
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "dir with space/héllo wörld.txt"), "grüße from the server\n")
	makeMany(t, filepath.Join(e.root, "many"), 5000)
	base := []string{"-sS", "--max-time", "60", "-u", user + ":" + pass}
	modes := []struct {
		name     string
		args     []string
		implicit bool
		verbs    []string
		not      []string
	}{
		{name: "PASV", args: []string{"--disable-epsv"}, verbs: []string{"PASV"}, not: []string{"EPSV", "PORT", "EPRT"}},
		{name: "EPSV", args: []string{}, verbs: []string{"EPSV"}, not: []string{"PASV", "PORT", "EPRT"}},
		{name: "active PORT", args: []string{"-P", "127.0.0.1", "--disable-eprt"}, verbs: []string{"PORT"}, not: []string{"PASV", "EPSV", "EPRT"}},
		{name: "active EPRT", args: []string{"-P", "127.0.0.1"}, verbs: []string{"EPRT"}, not: []string{"PASV", "EPSV"}},
		{name: "FTPS explicit", args: []string{"--ssl-reqd", "--cacert", e.certFile}, verbs: []string{"AUTH", "PBSZ", "PROT"}},
		{name: "FTPS implicit", args: []string{"--cacert", e.certFile}, implicit: true, verbs: []string{"PBSZ", "PROT"}, not: []string{"AUTH"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			args := append(append([]string{}, base...), m.args...)
			dir := t.TempDir()
			local := filepath.Join(dir, "up load.txt")
			name := "up " + strings.ReplaceAll(m.name, " ", "_") + " ✓.txt"
			writeFile(t, local, "uploaded via curl "+m.name+"\n")
			e.takeVerbs()
			run(t, time.Minute, curl, append(args, "-T", local, e.curlURL(m.implicit, "/dir with space/"+name))...)
			if got := readFile(t, filepath.Join(e.root, "dir with space", name)); got != "uploaded via curl "+m.name+"\n" {
				t.Fatalf("uploaded %q", got)
			}
			out := run(t, time.Minute, curl, append(args, e.curlURL(m.implicit, "/dir with space/héllo wörld.txt"))...)
			if out != "grüße from the server\n" {
				t.Fatalf("downloaded %q", out)
			}
			list := run(t, time.Minute, curl, append(args, e.curlURL(m.implicit, "/dir with space/"))...)
			if !strings.Contains(list, " héllo wörld.txt\n") && !strings.Contains(list, " héllo wörld.txt\r\n") || !strings.Contains(list, name) {
				t.Fatalf("LIST:\n%s", list)
			}
			e.expectVerbs(t, append([]string{"STOR", "RETR", "LIST"}, m.verbs...), m.not)
		})
	}
	t.Run("5000-entry listing", func(t *testing.T) {
		for _, extra := range [][]string{nil, {"--list-only"}} {
			out := run(t, time.Minute, curl, append(append(append([]string{}, base...), extra...), e.curlURL(false, "/many/"))...)
			lines := splitLines(out)
			if len(lines) != 5000 || !strings.HasSuffix(lines[0], ".txt") {
				t.Fatalf("%v: %d lines, first %q", extra, len(lines), lines[0])
			}
			seen := map[string]bool{}
			for _, l := range lines {
				f := strings.Fields(l)
				seen[f[len(f)-1]] = true
			}
			if !seen["04999.txt"] || !seen["00000.txt"] {
				t.Fatalf("missing names in listing")
			}
		}
	})
	t.Run("empty file", func(t *testing.T) {
		dir := t.TempDir()
		local := filepath.Join(dir, "empty")
		writeFile(t, local, "")
		run(t, time.Minute, curl, append(append([]string{}, base...), "-T", local, e.curlURL(false, "/empty.bin"))...)
		fi, err := os.Stat(filepath.Join(e.root, "empty.bin"))
		if err != nil || fi.Size() != 0 {
			t.Fatalf("empty upload: %v %v", fi, err)
		}
		back := filepath.Join(dir, "back")
		run(t, time.Minute, curl, append(append([]string{}, base...), "-o", back, e.curlURL(false, "/empty.bin"))...)
		if fi, err := os.Stat(back); err != nil || fi.Size() != 0 {
			t.Fatalf("empty download: %v %v", fi, err)
		}
	})
	t.Run("resume", func(t *testing.T) {
		dir := t.TempDir()
		full := filepath.Join(dir, "full")
		sum := writeRandom(t, full, 3<<20+17, 7)
		data, _ := os.ReadFile(full)
		// Download resume: a local partial file is completed with REST + RETR.
		if err := os.WriteFile(filepath.Join(e.root, "r.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		part := filepath.Join(dir, "part")
		if err := os.WriteFile(part, data[:1<<20], 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, time.Minute, curl, append(append([]string{}, base...), "-C", "-", "-o", part, e.curlURL(false, "/r.bin"))...)
		if got := sha256File(t, part); got != sum {
			t.Fatalf("resumed download differs")
		}
		// Upload resume: curl asks SIZE and APPEnds the rest.
		if err := os.WriteFile(filepath.Join(e.root, "u.bin"), data[:1<<20+5], 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, time.Minute, curl, append(append([]string{}, base...), "-C", "-", "-T", full, e.curlURL(false, "/u.bin"))...)
		if got := sha256File(t, filepath.Join(e.root, "u.bin")); got != sum {
			t.Fatalf("resumed upload differs")
		}
	})
}

// TestCurlBatch sends 100 files up and fetches them back, each way in ONE curl command, the way nightly jobs
// drive curl. Debian 12's curl 7.88.1 stalls 1 s per file when a PASV/EPSV reply is already readable right
// after it sent the command (see passiveReplyPause in internal/ftpd and docs/benchmarks.md): before the engine
// paused before those replies, 100 files took 30-50 s here; vsftpd does them in about 0.1 s.
func TestCurlBatch(t *testing.T) {
	curl := needClient(t, "curl")
	e := newEnv(t)
	const n = 100
	const bound = 10 * time.Second // generous: about 0.2 s here with -race, 30-50 s when curl stalls
	src := t.TempDir()
	sums := make(map[string]string, n)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("f%03d", i)
		sums[name] = writeRandom(t, filepath.Join(src, name), int64(1024+i), uint64(i))
	}
	for _, m := range []struct {
		name string
		args []string
		verb string
		not  string
	}{
		{name: "EPSV", verb: "EPSV", not: "PASV"},
		{name: "PASV", args: []string{"--disable-epsv"}, verb: "PASV", not: "EPSV"},
	} {
		t.Run(m.name, func(t *testing.T) {
			base := append([]string{"-sS", "--max-time", "120", "-u", user + ":" + pass, "-w", "%{time_total}\n"}, m.args...)
			remote := "ftp://" + net.JoinHostPort(e.host, e.port) + "/" + m.name + "/"
			if err := os.MkdirAll(filepath.Join(e.root, m.name), 0o755); err != nil {
				t.Fatal(err)
			}
			batch := func(what string, args ...string) {
				t.Helper()
				start := time.Now()
				out := run(t, 3*time.Minute, curl, append(append([]string{}, base...), args...)...)
				took := time.Since(start)
				times := splitLines(out)
				if len(times) != n {
					t.Fatalf("%s: curl reported %d transfers, want %d:\n%s", what, len(times), n, short(out))
				}
				slowest, stalls := 0.0, 0
				for _, s := range times {
					v, err := strconv.ParseFloat(s, 64)
					if err != nil {
						t.Fatalf("%s: time_total %q: %v", what, s, err)
					}
					slowest = max(slowest, v)
					if v >= 0.19 { // curl's timers: 200 ms at the start of a transfer, 1 s otherwise
						stalls++
					}
				}
				t.Logf("%s: %d files in %v (slowest %.3f s, %d transfers over 0.19 s)", what, n, took.Round(time.Millisecond), slowest, stalls)
				if took > bound {
					t.Errorf("%s: %d files in one curl command took %v, want < %v (slowest %.3f s, %d transfers over 0.19 s)",
						what, n, took.Round(time.Millisecond), bound, slowest, stalls)
				}
			}
			e.takeVerbs()
			batch("upload", "-T", filepath.Join(src, fmt.Sprintf("f[001-%03d]", n)), remote)
			for name, sum := range sums {
				if got := sha256File(t, filepath.Join(e.root, m.name, name)); got != sum {
					t.Fatalf("uploaded %s differs", name)
				}
			}
			dst := t.TempDir()
			batch("download", remote+fmt.Sprintf("f[001-%03d]", n), "-o", filepath.Join(dst, "f#1"))
			for name, sum := range sums {
				if got := sha256File(t, filepath.Join(dst, name)); got != sum {
					t.Fatalf("downloaded %s differs", name)
				}
			}
			e.expectVerbs(t, []string{"STOR", "RETR", m.verb}, []string{m.not})
		})
	}
}
