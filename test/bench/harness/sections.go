package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
)

// section is a measurement kept in a file of its own (s3.go): `make bench` runs each after the throughput rounds
// and appends its markdown to the page; BENCH_ONLY=<name> runs one alone and prints it (no root, no peers).
type section struct {
	name string
	run  func(c config, engine string) (markdown string, err error)
}

var sections []section

// runSections runs every section (or only the one named), each failure written into its place on the page so
// that one broken section does not lose a whole run.
func runSections(c config, engine, only string) (out []string, first error) {
	for _, s := range sections {
		if only != "" && s.name != only {
			continue
		}
		md, err := s.run(c, engine)
		if err != nil {
			logf("section %s: %v", s.name, err)
			first = cmp.Or(first, err)
			md = fmt.Sprintf("\n## %s\n\nFailed: %v\n", s.name, err)
		}
		out = append(out, md)
	}
	return out, first
}

// runOnly is BENCH_ONLY=<name>: that section alone, printed to stdout.
func runOnly(name, engine string) error {
	c := loadConfig()
	c.pasvSize = max(c.pasvSize, 2*c.sessions)
	raiseNofile()
	engine, _ = filepath.Abs(engine)
	md, err := runSections(c, engine, name)
	if len(md) == 0 {
		return fmt.Errorf("BENCH_ONLY=%s: no such section", name)
	}
	for _, m := range md {
		fmt.Fprintln(os.Stdout, m)
	}
	return err
}
