package ftpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Listings must not offer what RETR refuses: a symlink whose target the user
// cannot reach (outside the home, or dangling) is listed by MLSD as
// type=OS.unix=symlink without the r permission; a link inside the home is
// listed as what it points to.
func TestMLSDFactsMatchRETRForSymlinks(t *testing.T) {
	e := newEnv(t)
	e.write(t, "other/secret.txt", "TOP SECRET")
	e.write(t, "acme/sub/inside.txt", "inside")
	home := filepath.Join(e.root, "acme")
	links := map[string]string{
		"file-esc": "../other/secret.txt",
		"abs-esc":  filepath.Join(e.root, "other", "secret.txt"),
		"dir-esc":  "../other",
		"dangling": "no-such-file",
		"ok-file":  "sub/inside.txt",
		"ok-dir":   "sub",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, user := range [][2]string{{"acme", "secret"}, {"reader", "r"}} {
		t.Run(user[0], func(t *testing.T) {
			r := dialRaw(t, e.addr, "")
			r.login(user[0], user[1])
			dc := dialData(t, r.epsv(), "")
			r.must(150, "MLSD")
			listing := readAll(t, dc)
			r.expect(226)
			facts := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(listing), "\r\n") {
				f, name, ok := strings.Cut(line, " ")
				if !ok {
					t.Fatalf("bad MLSD line %q", line)
				}
				facts[name] = f
			}
			for name := range links {
				f, ok := facts[name]
				if !ok {
					t.Fatalf("%s missing from MLSD:\n%s", name, listing)
				}
				data := dialData(t, r.epsv(), "")
				code, _ := r.cmd("RETR %s", name)
				if code == 150 {
					readAll(t, data)
					r.expect(226)
				}
				data.Close()
				retrOK := code == 150
				perm := fact(f, "perm")
				switch typ := fact(f, "type"); {
				case name == "ok-file":
					if typ != "file" || !strings.Contains(perm, "r") || !retrOK {
						t.Errorf("%s: %s, RETR %d; want type=file with r and RETR allowed", name, f, code)
					}
				case name == "ok-dir":
					if typ != "dir" {
						t.Errorf("%s: %s, want type=dir", name, f)
					}
				default: // escaping or dangling
					if typ != "OS.unix=symlink" || strings.ContainsAny(perm, "raw") || retrOK {
						t.Errorf("%s: %s, RETR %d; want type=OS.unix=symlink without r/a/w, and RETR refused", name, f, code)
					}
				}
			}
			// MLST agrees with RETR: a link it cannot follow is refused, as by RETR.
			r.must(550, "MLST file-esc")
			if msg := r.must(250, "MLST ok-file"); !strings.Contains(msg, "type=file;") {
				t.Errorf("MLST ok-file: %q", msg)
			}
		})
	}
}

// fact returns the value of one MLSx fact ("type", "perm", ...).
func fact(facts, name string) string {
	for _, f := range strings.Split(facts, ";") {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
