//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The README's own-cluster quickstart is fenced shell blocks preceded by an HTML comment (invisible on GitHub):
//
//	<!-- e2e: placeholders -->      NAME=example lines the reader fills in; the test substitutes its own values
//	<!-- e2e: quickstart -->        run on the machine with kubectl and helm, in order
//	<!-- e2e: quickstart client --> run with curl in the NAT client's network namespace
const (
	markPlaceholders = "<!-- e2e: placeholders -->"
	markQuickstart   = "<!-- e2e: quickstart -->"
	markClient       = "<!-- e2e: quickstart client -->"
)

// readmeBlock is one marked fenced block of the README.
type readmeBlock struct {
	mark string
	line int // of the opening fence
	text string
}

// readmeBlocks returns the README's marked blocks in order. A marker must be followed (after blank lines) by a
// fenced block, so a marker left dangling by an edit fails the test instead of silently dropping a step.
func readmeBlocks(path string) ([]readmeBlock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []readmeBlock
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		mark := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(mark, "<!-- e2e:") {
			continue
		}
		if mark != markPlaceholders && mark != markQuickstart && mark != markClient {
			return nil, fmt.Errorf("%s:%d: unknown marker %q", path, i+1, mark)
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) || !strings.HasPrefix(lines[j], "```") {
			return nil, fmt.Errorf("%s:%d: marker %s is not followed by a fenced block", path, i+1, mark)
		}
		end := j + 1
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("%s:%d: fenced block not closed", path, j+1)
		}
		blocks = append(blocks, readmeBlock{mark: mark, line: j + 1, text: strings.Join(lines[j+1:end], "\n") + "\n"})
		i = end
	}
	return blocks, nil
}

// placeholderNames returns the variable names a placeholders block assigns (NAME=value, comments allowed).
func placeholderNames(block string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, _, _ := strings.Cut(l, "=")
		names = append(names, name)
	}
	return names
}

// inRange reports whether addr lies in a MetalLB range "first-last".
func inRange(addr, r string) bool {
	a, err := netip.ParseAddr(addr)
	lo, hi, ok := strings.Cut(r, "-")
	if err != nil || !ok {
		return false
	}
	first, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	last, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	return err1 == nil && err2 == nil && a.Compare(first) >= 0 && a.Compare(last) <= 0
}

// TestReadmeQuickstart runs README's "On your own cluster" MetalLB steps as written: the marked blocks, with only
// the documented placeholders IMG and LB_RANGE given values. The suite's release is uninstalled first (the CRD
// stays: crds.keep), so the README's plain `helm install` runs, and is put back afterwards. The README's server
// must become Ready with an address from the README's pool, and its curl lines, run behind the NAT, must upload
// and download the same bytes.
func TestReadmeQuickstart(t *testing.T) {
	const readmeRelease, readmeNS = "ftp-operator", "ftp-operator-system" // as the README's helm install names them
	const demoNS, demoName = "ftp-demo", "demo"                           // the README's sample server
	if config.release != readmeRelease || config.namespace != readmeNS {
		t.Skipf("the suite's release is %s/%s; the README installs %s/%s", config.namespace, config.release, readmeNS, readmeRelease)
	}
	ctx := context.Background()
	if out, err := kubectl(ctx, "get", "crd", "ipaddresspools.metallb.io"); err != nil {
		t.Skipf("the README's tested path needs MetalLB (E2E_METALLB=1 on a cluster of yours): %v\n%s", err, out)
	}
	root, err := filepath.Abs(filepath.Join(config.chart, "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lbRange := getenv("E2E_QUICKSTART_RANGE", "10.201.0.251-10.201.0.253") // disjoint from the suite's pool
	values := map[string]string{"IMG": config.image, "LB_RANGE": lbRange}
	var run, client []readmeBlock
	for _, b := range blocks {
		switch b.mark {
		case markPlaceholders:
			names := placeholderNames(b.text)
			slices.Sort(names)
			if want := []string{"IMG", "LB_RANGE"}; !slices.Equal(names, want) {
				t.Fatalf("README.md:%d: placeholders %q; this test substitutes exactly %q", b.line, names, want)
			}
		case markQuickstart:
			if len(client) > 0 {
				t.Fatalf("README.md:%d: a cluster step after the client's", b.line)
			}
			run = append(run, b)
		case markClient:
			client = append(client, b)
		}
	}
	if len(run) == 0 || len(client) == 0 {
		t.Fatalf("README.md has %d quickstart and %d client blocks; want both", len(run), len(client))
	}

	// The README runs from a checkout: charts/ is there. Its files (sample.bin) land in a temporary folder.
	work := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "charts"), filepath.Join(work, "charts")); err != nil {
		t.Fatal(err)
	}
	// helm and kubectl as the README calls them; curl is the client behind the NAT, logging each call.
	tools := t.TempDir()
	helmPath, err := exec.LookPath(config.helm)
	if err != nil {
		t.Fatal(err)
	}
	curlPath, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal(err)
	}
	curlLog := filepath.Join(work, "curl-calls.log")
	wrapper := fmt.Sprintf("#!/bin/sh\necho \"$*\" >>%q\nexec ip netns exec %s %s \"$@\"\n", curlLog, natClient, curlPath)
	if err := os.WriteFile(filepath.Join(tools, "curl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(helmPath, filepath.Join(tools, "helm")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KUBECONFIG="+config.kubeconfig, "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range values {
		env = append(env, k+"="+v)
	}
	runBlock := func(b readmeBlock) {
		t.Helper()
		t0 := time.Now()
		bctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(bctx, "bash", "-euo", "pipefail", "-c", b.text)
		cmd.Dir, cmd.Env = work, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("README.md:%d: %v\n%s\n--- output\n%s", b.line, err, b.text, out.String())
		}
		t.Logf("README.md:%d ran in %s:\n%s", b.line, time.Since(t0).Round(100*time.Millisecond), out.String())
	}

	// Room for the README's helm install; the suite's release comes back when the test ends, whatever happened.
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := kubectl(cctx, "delete", "namespace", demoNS, "--ignore-not-found", "--wait=true", "--timeout=2m"); err != nil {
			t.Errorf("deleting the README's namespace: %v\n%s", err, out)
		}
		if out, err := kubectl(cctx, "-n", "metallb-system", "delete", "ipaddresspool,l2advertisement", "ftp", "--ignore-not-found"); err != nil {
			t.Errorf("deleting the README's pool: %v\n%s", err, out)
		}
		if err := installChart(cctx); err != nil {
			t.Errorf("putting the suite's release back: %v", err)
		}
	})
	if out, err := command(ctx, 3*time.Minute, config.helm, "--kubeconfig", config.kubeconfig,
		"uninstall", config.release, "-n", config.namespace, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm uninstall of the suite's release: %v\n%s", err, out)
	}

	for _, b := range run {
		runBlock(b)
	}
	s := &server{ns: demoNS, name: demoName}
	srv := waitServer(t, s, "Ready", nil)
	if !inRange(srv.Status.Address, lbRange) {
		t.Fatalf("the README's server has address %q, not one of its pool %s", srv.Status.Address, lbRange)
	}
	host, port := endpoint(t, srv)
	waitBanner(t, natClient, host, port)
	for _, b := range client {
		runBlock(b)
	}

	// What the client block claims, checked here: a MiB went up and came back unchanged, through curl behind the
	// NAT (the engine saw the NAT router's address), twice.
	sample := filepath.Join(work, "sample.bin")
	if st, err := os.Stat(sample); err != nil || st.Size() != 1<<20 {
		t.Fatalf("sample.bin: %v, want 1 MiB", err)
	}
	sameFile(t, "download of the README's curl line", filepath.Join(work, "back.bin"), fileSHA(t, sample))
	calls, err := os.ReadFile(curlLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(calls), "\n"); n != 2 || !strings.Contains(string(calls), "ftp://"+host+":") {
		t.Fatalf("curl calls through the NAT client:\n%s\nwant the upload and the download to ftp://%s", calls, host)
	}
	waitLog(t, s, `"msg":"login"`, `"remote":"`+natOutside+`"`)
}
