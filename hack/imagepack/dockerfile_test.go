package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct{ cmd, args string }

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// TestDockerfileMatchesImagepack keeps the Dockerfile (for machines with a container engine) and `make image`
// (imagepack, for machines without) describing the same image: a static binary at /ftp-operator, entrypoint and
// default command, non-root user 65532, and a final stage with no shell or package manager.
func TestDockerfileMatchesImagepack(t *testing.T) {
	ins := parseDockerfile(t, "../../Dockerfile")
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage Dockerfile, got %d stages", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	for _, b := range []string{"ftp-operator", "kubectl-ftp"} {
		var static bool
		for _, in := range build {
			if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") &&
				strings.Contains(in.args, "-o /out/"+b+" ./cmd/"+b) {
				static = true
			}
		}
		if !static {
			t.Errorf("the build stage does not build ./cmd/%s with CGO_ENABLED=0", b)
		}
	}

	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static or scratch", base)
	}
	get := func(cmd string) []string {
		var v []string
		for _, in := range final {
			if in.cmd == cmd {
				v = append(v, in.args)
			}
		}
		return v
	}
	jsonList := func(cmd string) []string {
		v := get(cmd)
		if len(v) != 1 {
			t.Fatalf("final stage has %d %s instructions, want 1", len(v), cmd)
		}
		var l []string
		if err := json.Unmarshal([]byte(v[0]), &l); err != nil {
			t.Fatalf("%s %s: want the exec (JSON) form: %v", cmd, v[0], err)
		}
		return l
	}
	if got := jsonList("ENTRYPOINT"); !slices.Equal(got, []string{defaultEntrypoint}) {
		t.Errorf("ENTRYPOINT %q, imagepack uses %q", got, defaultEntrypoint)
	}
	if got := jsonList("CMD"); !slices.Equal(got, strings.Fields(defaultCmd)) {
		t.Errorf("CMD %q, imagepack uses %q", got, defaultCmd)
	}
	if want := fmt.Sprintf("%d:%d", defaultUID, defaultUID); !slices.Equal(get("USER"), []string{want}) {
		t.Errorf("USER %q, imagepack uses %s", get("USER"), want)
	}
	// The binaries at the top; make image and make release pack the engine-only build and kubectl-ftp with --extra.
	if got := get("COPY"); len(got) != 3 || !strings.HasSuffix(got[0], " /out/ftp-operator /ftp-operator") ||
		!strings.HasSuffix(got[1], " /out/ftp-operator-ftpd /ftp-operator-ftpd") ||
		!strings.HasSuffix(got[2], " /out/kubectl-ftp /kubectl-ftp") {
		t.Errorf("final stage COPY %q, want the binary at /ftp-operator, its engine-only build at /ftp-operator-ftpd and the plugin at /kubectl-ftp", got)
	}
	mk, err := os.ReadFile("../mk/packaging.mk")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"image", "release"} {
		_, body, _ := strings.Cut(string(mk), "\n"+target+":")
		body, _, _ = strings.Cut(body, "\n\n")
		for _, extra := range []string{"--extra /ftp-operator-ftpd=", "--extra /kubectl-ftp="} {
			if !strings.Contains(body, extra) {
				t.Errorf("make %s does not pack %s...", target, extra)
			}
		}
	}
	if run := get("RUN"); len(run) != 0 {
		t.Errorf("final stage runs %q; it has no shell", run)
	}
}
