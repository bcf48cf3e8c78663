package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// staticBinaryFor compiles a tiny static linux program for arch.
func staticBinaryFor(t *testing.T, msg, arch string) string {
	t.Helper()
	src := filepath.Dir(staticBinary(t, msg))
	out := filepath.Join(t.TempDir(), "hello-"+arch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.msg="+msg, "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", arch, err, b)
	}
	return out
}

// startRegistry serves go-containerregistry's own registry on 127.0.0.1 and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func multiArch(t *testing.T) (Options, map[string]string) {
	t.Helper()
	bins := map[string]string{"amd64": staticBinaryFor(t, "x", "amd64"), "arm64": staticBinaryFor(t, "x", "arm64")}
	return options(""), bins
}

// TestIndexIsReproducibleAndPushes packs linux/amd64 and linux/arm64 into an OCI layout twice (same digests),
// pushes it to a registry and pulls each platform back by digest.
func TestIndexIsReproducibleAndPushes(t *testing.T) {
	o, bins := multiArch(t)
	archs := []string{"amd64", "arm64"}
	var dirs []string
	var digests []v1.Hash
	for range 2 {
		idx, err := BuildIndex(o, archs, bins)
		if err != nil {
			t.Fatalf("BuildIndex: %v", err)
		}
		dir := filepath.Join(t.TempDir(), "image")
		if err := WriteLayout(dir, "registry.example/ftp-operator:v0.0.0-test", idx); err != nil {
			t.Fatalf("WriteLayout: %v", err)
		}
		h, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		dirs, digests = append(dirs, dir), append(digests, h)
	}
	if digests[0] != digests[1] {
		t.Errorf("same binaries, different index digests: %s vs %s", digests[0], digests[1])
	}
	if a, b := fileSHA(t, filepath.Join(dirs[0], "index.json")), fileSHA(t, filepath.Join(dirs[1], "index.json")); a != b {
		t.Errorf("index.json of the two layouts differ")
	}

	item, tag, err := LayoutItem(dirs[0])
	if err != nil {
		t.Fatalf("LayoutItem: %v", err)
	}
	if tag != "registry.example/ftp-operator:v0.0.0-test" {
		t.Errorf("layout tag %q", tag)
	}
	local := item.(v1.ImageIndex)
	if err := validate.Index(local); err != nil {
		t.Fatalf("the layout's index is invalid: %v", err)
	}
	want := map[string]v1.Hash{}
	im, err := local.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		want[d.Platform.Architecture] = d.Digest
		img, err := local.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != d.Platform.Architecture || cf.OS != "linux" {
			t.Errorf("manifest for %s has config %s/%s", d.Platform, cf.OS, cf.Architecture)
		}
	}
	if len(want) != 2 || want["amd64"] == want["arm64"] {
		t.Fatalf("index platforms: %v", want)
	}

	host := startRegistry(t)
	ref, pushed, err := Push(dirs[0], host+"/ftp-operator:v0.0.0-test")
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if pushed != digests[0] {
		t.Errorf("pushed %s, layout holds %s", pushed, digests[0])
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if desc.Digest != digests[0] || !desc.MediaType.IsIndex() {
		t.Errorf("registry has %s (%s), want the index %s", desc.Digest, desc.MediaType, digests[0])
	}
	for _, arch := range archs {
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
		if err != nil {
			t.Fatalf("pulling linux/%s: %v", arch, err)
		}
		got, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if got != want[arch] {
			t.Errorf("linux/%s: pulled %s, pushed %s", arch, got, want[arch])
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("linux/%s pulled back is invalid: %v", arch, err)
		}
	}
}

func TestIndexRefusesAWrongArchitecture(t *testing.T) {
	o, bins := multiArch(t)
	bins["arm64"] = bins["amd64"]
	if _, err := BuildIndex(o, []string{"amd64", "arm64"}, bins); err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("an amd64 binary was packed as linux/arm64: %v", err)
	}
}

// TestChartPushesAsHelmPullsIt packages the repository's chart with Helm, pushes it as imagepack chart writes it,
// and has Helm pull it back from the registry (same bytes) and render it.
func TestChartPushesAsHelmPullsIt(t *testing.T) {
	helm := os.Getenv("HELM")
	if helm == "" {
		if os.Getenv("PACKAGING_TOOLS_REQUIRED") == "1" {
			t.Fatal("HELM is not set (make test-imagepack sets it)")
		}
		t.Skip("HELM is not set: run make test-imagepack")
	}
	_, file, _, _ := runtime.Caller(0)
	chartDir := filepath.Join(filepath.Dir(file), "..", "..", "charts", "ftp-operator")
	work := t.TempDir()
	helmRun := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(helm, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "HOME="+work, "HELM_CACHE_HOME="+work, "HELM_CONFIG_HOME="+work, "HELM_DATA_HOME="+work)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, stderr.String())
		}
		return out.Bytes()
	}
	helmRun("package", chartDir, "--destination", filepath.Join(work, "pkg"))
	pkgs, _ := filepath.Glob(filepath.Join(work, "pkg", "ftp-operator-*.tgz"))
	if len(pkgs) != 1 {
		t.Fatalf("helm package wrote %v", pkgs)
	}
	tgz, err := os.ReadFile(pkgs[0])
	if err != nil {
		t.Fatal(err)
	}
	img, tag, err := ChartArtifact(tgz, time.Unix(0, 0))
	if err != nil {
		t.Fatalf("ChartArtifact: %v", err)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(pkgs[0]), "ftp-operator-"), ".tgz")
	if tag != version {
		t.Errorf("chart tag %q, want the chart version %q", tag, version)
	}
	dir := filepath.Join(work, "chart")
	if err := WriteLayout(dir, tag, img); err != nil {
		t.Fatal(err)
	}
	host := startRegistry(t)
	ref, pushed, err := Push(dir, host+"/charts/ftp-operator")
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if want := host + "/charts/ftp-operator:" + tag; ref.String() != want {
		t.Errorf("pushed to %s, want %s", ref, want)
	}
	got, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != pushed {
		t.Errorf("registry has %s, pushed %s", got.Digest, pushed)
	}

	pull := filepath.Join(work, "pulled")
	if err := os.Mkdir(pull, 0o755); err != nil {
		t.Fatal(err)
	}
	helmRun("pull", "oci://"+host+"/charts/ftp-operator", "--version", version, "--plain-http", "--destination", pull)
	back, err := os.ReadFile(filepath.Join(pull, filepath.Base(pkgs[0])))
	if err != nil {
		t.Fatalf("helm pull: %v", err)
	}
	if !bytes.Equal(back, tgz) {
		t.Errorf("the chart Helm pulled differs from the one pushed")
	}
	out := helmRun("template", "ftp-operator", "oci://"+host+"/charts/ftp-operator", "--version", version, "--plain-http", "--namespace", "ftp-operator-system")
	if !bytes.Contains(out, []byte("kind: Deployment")) || !bytes.Contains(out, []byte("name: ftp-operator-controller-manager")) {
		t.Errorf("the chart pulled from the registry does not render the manager:\n%s", out)
	}
}
