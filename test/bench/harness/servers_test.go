package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/portrange/portrangetest"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// The benchmark's engine arguments are an engineconfig.Config written by Args: they parse back to the same
// configuration and carry the settings the benchmark depends on.
func TestEngineConfigArgs(t *testing.T) {
	c := engineConfig(&server{Port: 2121, PasvLo: 20000, PasvHi: 20099}, "/w/root", "/w/etc/users.yaml", 8081)
	args := c.Args()
	got, err := engineconfig.Parse(args, io.Discard)
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("Parse(Args()) = %+v, want %+v", got, c)
	}
	for _, want := range []string{"--listen=127.0.0.1:2121", "--root=/w/root", "--users=/w/etc/users.yaml",
		"--passive-ports=20000-20099", "--passive-host=127.0.0.1", "--public-address=127.0.0.1",
		"--health-listen=127.0.0.1:8081", "--log-level=warn", "--lockout-threshold=1000000", "--max-sessions=-1",
		"--max-sessions-per-ip=-1"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
}

// Our engine, the real binary with the arguments and users file configureOurs gives it, serves the benchmark's
// user on loopback and advertises a port of its passive range at 127.0.0.1.
func TestOurEngineServesTheBenchmarkUser(t *testing.T) {
	dir := t.TempDir()
	w := &workspace{dir: dir, root: filepath.Join(dir, "root"), home: filepath.Join(dir, "root", "bench")}
	if err := os.MkdirAll(w.home, 0o755); err != nil {
		t.Fatal(err)
	}
	pasv := portrangetest.Free(t, 4)
	s := &server{Name: "ftp-operator", Ours: true, Port: support.FreePort(t), PasvLo: int(pasv.Start), PasvHi: int(pasv.End)}
	if err := s.configureOurs(support.OperatorBinary(t), dir, w.root, support.FreePort(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.start(w); err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	replies, err := support.ControlDialog(fmt.Sprintf("127.0.0.1:%d", s.Port), "USER "+benchUser, "PASS "+benchPassword, "PASV")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(replies[1], "230") || !strings.HasPrefix(replies[2], "227") {
		t.Fatalf("replies %q", replies)
	}
	var h1, h2, h3, h4, p1, p2 int
	if _, err := fmt.Sscanf(replies[2][strings.Index(replies[2], "("):], "(%d,%d,%d,%d,%d,%d)", &h1, &h2, &h3, &h4, &p1, &p2); err != nil {
		t.Fatalf("PASV reply %q: %v", replies[2], err)
	}
	if port := p1*256 + p2; [4]int{h1, h2, h3, h4} != [4]int{127, 0, 0, 1} || port < s.PasvLo || port > s.PasvHi {
		t.Errorf("PASV reply %q: want 127.0.0.1 and a port in %d-%d", replies[2], s.PasvLo, s.PasvHi)
	}
}
