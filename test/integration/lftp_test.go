package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lftpScript runs an lftp script against the server; settings are prepended.
func (e *env) lftp(t *testing.T, bin string, implicit bool, settings []string, script ...string) string {
	t.Helper()
	url := "ftp://" + e.host + ":" + e.port
	if implicit {
		url = "ftps://" + e.host + ":" + e.implicitPort
	}
	all := append([]string{
		"set cmd:fail-exit yes", "set net:max-retries 1", "set net:timeout 20", "set net:reconnect-interval-base 1",
		"set ssl:ca-file " + e.certFile, "set ssl:check-hostname no", "set ftp:use-feat yes", "set xfer:clobber yes",
	}, settings...)
	all = append(all, "open -u "+user+",'"+pass+"' "+url)
	all = append(all, script...)
	all = append(all, "bye")
	return run(t, 2*time.Minute, bin, "-c", strings.Join(all, "; "))
}

func TestLFTP(t *testing.T) {
	bin := needClient(t, "lftp")
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "dir with space/héllo wörld.txt"), "grüße from the server\n")
	makeMany(t, filepath.Join(e.root, "many"), 5000)
	plain := []string{"set ftp:ssl-allow no"}
	modes := []struct {
		name     string
		settings []string
		implicit bool
		verbs    []string
		not      []string
	}{
		{name: "PASV", settings: append(plain, "set ftp:passive-mode on", "set ftp:prefer-epsv no"), verbs: []string{"PASV"}, not: []string{"EPSV", "PORT", "EPRT"}},
		{name: "EPSV", settings: append(plain, "set ftp:passive-mode on", "set ftp:prefer-epsv yes"), verbs: []string{"EPSV"}, not: []string{"PASV", "PORT", "EPRT"}},
		{name: "active", settings: append(plain, "set ftp:passive-mode off"), verbs: []string{"PORT"}, not: []string{"PASV", "EPSV"}},
		{name: "FTPS explicit", settings: []string{"set ftp:ssl-force yes", "set ftp:ssl-protect-data yes", "set ftp:ssl-protect-list yes"}, verbs: []string{"AUTH", "PBSZ", "PROT"}},
		{name: "FTPS implicit", settings: []string{"set ftp:ssl-protect-data yes"}, implicit: true, verbs: []string{"PROT"}, not: []string{"AUTH"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			up := filepath.Join(dir, "local up.txt")
			writeFile(t, up, "uploaded via lftp "+m.name+"\n")
			name := "up " + strings.ReplaceAll(m.name, " ", "_") + " ✓.txt"
			got := filepath.Join(dir, "got.txt")
			e.takeVerbs()
			e.lftp(t, bin, m.implicit, m.settings,
				"cd 'dir with space'",
				"put '"+up+"' -o '"+name+"'",
				"get 'héllo wörld.txt' -o '"+got+"'",
				"cls -1 > '"+filepath.Join(dir, "list.txt")+"'",
			)
			e.expectVerbs(t, append([]string{"STOR", "RETR"}, m.verbs...), m.not)
			if s := readFile(t, filepath.Join(e.root, "dir with space", name)); s != "uploaded via lftp "+m.name+"\n" {
				t.Fatalf("uploaded %q", s)
			}
			if s := readFile(t, got); s != "grüße from the server\n" {
				t.Fatalf("downloaded %q", s)
			}
			if s := readFile(t, filepath.Join(dir, "list.txt")); !strings.Contains(s, "héllo wörld.txt") || !strings.Contains(s, name) {
				t.Fatalf("listing %q", short(s))
			}
		})
	}
	t.Run("5000-entry listing", func(t *testing.T) {
		dir := t.TempDir()
		e.lftp(t, bin, false, plain, "cls -1 many > '"+filepath.Join(dir, "cls.txt")+"'", "ls many > '"+filepath.Join(dir, "ls.txt")+"'")
		for _, f := range []string{"cls.txt", "ls.txt"} {
			lines := splitLines(readFile(t, filepath.Join(dir, f)))
			if len(lines) != 5000 || !strings.Contains(strings.Join(lines, "\n"), "file 04999.txt") {
				t.Fatalf("%s: %d lines", f, len(lines))
			}
		}
	})
	t.Run("resume and empty", func(t *testing.T) {
		dir := t.TempDir()
		full := filepath.Join(dir, "full")
		sum := writeRandom(t, full, 2<<20+3, 11)
		data, _ := os.ReadFile(full)
		if err := os.WriteFile(filepath.Join(e.root, "r.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		part := filepath.Join(dir, "part")
		if err := os.WriteFile(part, data[:700000], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.root, "u.bin"), data[:900000], 0o644); err != nil {
			t.Fatal(err)
		}
		empty := filepath.Join(dir, "empty")
		writeFile(t, empty, "")
		e.lftp(t, bin, false, plain,
			"get -c r.bin -o '"+part+"'", // REST + RETR
			"put -c '"+full+"' -o u.bin", // REST + STOR (or APPE)
			"put '"+empty+"' -o empty.bin",
			"get empty.bin -o '"+filepath.Join(dir, "empty.back")+"'",
		)
		if sha256File(t, part) != sum {
			t.Error("resumed download differs")
		}
		if sha256File(t, filepath.Join(e.root, "u.bin")) != sum {
			t.Error("resumed upload differs")
		}
		for _, p := range []string{filepath.Join(e.root, "empty.bin"), filepath.Join(dir, "empty.back")} {
			if fi, err := os.Stat(p); err != nil || fi.Size() != 0 {
				t.Errorf("empty file %s: %v %v", p, fi, err)
			}
		}
	})
}
