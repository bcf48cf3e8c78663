package controllers

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Only the manager imports the reconciler: the engine side (ftpd, addressfollow), the libraries under internal/,
// the test suites and the benchmark reach the operator through its binary or test/support, never this package.
// One `go list` over every package with every build tag the repository uses names the direct importers (any
// indirect path has one), and in cmd/ftp-operator only manager.go may import it.
func TestOnlyTheManagerImportsControllers(t *testing.T) {
	const self = "github.com/ftp-operator/ftp-operator/controllers"
	cmd := exec.Command("go", "list", "-tags", "bench,e2e,chaos",
		"-f", `{{.ImportPath}} {{.Dir}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var importers []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == self || !slices.Contains(f[2:], self) {
			continue
		}
		if f[0] != "github.com/ftp-operator/ftp-operator/cmd/ftp-operator" {
			importers = append(importers, f[0])
			continue
		}
		files, err := filepath.Glob(filepath.Join(f[1], "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			ast, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == self && filepath.Base(file) != "manager.go" {
					importers = append(importers, file)
				}
			}
		}
	}
	if len(importers) > 0 {
		t.Fatalf("only cmd/ftp-operator/manager.go may import controllers; also imported by %v", importers)
	}
}
