package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeRelease runs make release twice into two folders and checks dist/: the same SHA256SUMS both times; an
// OCI layout whose index lists linux/amd64 and linux/arm64, each config naming its architecture and each layer
// holding a binary built for it; the chart's OCI artifact whose layer is the packaged .tgz; install.yaml naming
// IMG. It builds the operator for two architectures, so it runs only from make test-release (RELEASE_TEST=1).
func TestMakeRelease(t *testing.T) {
	if os.Getenv("RELEASE_TEST") != "1" {
		t.Skip("RELEASE_TEST is not set: run make test-release")
	}
	const img = "registry.example/ftp-operator:v0.0.0-test"
	var dists []string
	for range 2 {
		dist := filepath.Join(t.TempDir(), "dist")
		args := []string{"--no-print-directory", "release", "DIST=" + dist, "IMG=" + img}
		if p := os.Getenv("IMAGEPACK"); p != "" {
			args = append(args, "IMAGEPACK="+p) // a packer built elsewhere than bin/
		}
		cmd := exec.Command("make", args...)
		cmd.Dir = root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make release: %v\n%s", err, out)
		}
		dists = append(dists, dist)
	}
	sums := func(d string) string {
		b, err := os.ReadFile(filepath.Join(d, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if a, b := sums(dists[0]), sums(dists[1]); a != b {
		t.Errorf("two runs differ:\n%s\n%s", a, b)
	}
	dist := dists[0]

	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	}
	type doc struct {
		MediaType string `json:"mediaType"`
		Manifests []desc `json:"manifests"`
		Config    desc   `json:"config"`
		Layers    []desc `json:"layers"`
	}
	blob := func(layout, digest string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dist, layout, "blobs", strings.Replace(digest, ":", "/", 1)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	parse := func(b []byte) doc {
		t.Helper()
		var d doc
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	top := parse(func() []byte {
		b, err := os.ReadFile(filepath.Join(dist, "image", "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}())
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" ||
		top.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != img {
		t.Fatalf("image/index.json: %+v", top)
	}
	index := parse(blob("image", top.Manifests[0].Digest))
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	seen := map[string]bool{}
	for _, m := range index.Manifests {
		arch := m.Platform.Architecture
		seen[arch] = true
		man := parse(blob("image", m.Digest))
		var cfg struct{ OS, Architecture string }
		if err := json.Unmarshal(blob("image", man.Config.Digest), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != arch {
			t.Errorf("%s: config says %s/%s", arch, cfg.OS, cfg.Architecture)
		}
		for _, name := range []string{"ftp-operator", "ftp-operator-ftpd", "kubectl-ftp"} {
			bin := fileInLayer(t, blob("image", man.Layers[0].Digest), name)
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("%s: /%s: %v", arch, name, err)
			}
			if f.Machine != machines[arch] {
				t.Errorf("%s image holds a %s /%s", arch, f.Machine, name)
			}
		}
		t.Logf("linux/%s manifest %s, layer %d bytes compressed", arch, m.Digest, len(blob("image", man.Layers[0].Digest)))
	}
	if !seen["amd64"] || !seen["arm64"] || len(index.Manifests) != 2 {
		t.Errorf("index platforms %v", seen)
	}

	chartTop := parse(func() []byte {
		b, err := os.ReadFile(filepath.Join(dist, "chart", "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}())
	version := strings.TrimSpace(string(run(t, "sed", "-n", "s/^version: *//p", "charts/ftp-operator/Chart.yaml")))
	if len(chartTop.Manifests) != 1 || chartTop.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version {
		t.Fatalf("chart/index.json: %+v", chartTop)
	}
	cm := parse(blob("chart", chartTop.Manifests[0].Digest))
	if cm.Config.MediaType != "application/vnd.cncf.helm.config.v1+json" || len(cm.Layers) != 1 ||
		cm.Layers[0].MediaType != "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
		t.Errorf("chart manifest is not what helm push sends: %+v", cm)
	}
	tgz, err := os.ReadFile(filepath.Join(dist, "ftp-operator-"+version+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blob("chart", cm.Layers[0].Digest), tgz) {
		t.Errorf("the chart artifact's layer is not the packaged chart")
	}
	install, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, install)
	c := container(t, find(t, objs, "Deployment", release+"-controller-manager"))
	if c["image"] != img || !has(objs, "CustomResourceDefinition", crdName) {
		t.Errorf("install.yaml: image %v, CRD present %v", c["image"], has(objs, "CustomResourceDefinition", crdName))
	}
}

// fileInLayer returns a file of a gzipped layer tar.
func fileInLayer(t *testing.T, layer []byte, name string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the layer: %v", name, err)
		}
		if strings.TrimPrefix(h.Name, "/") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}
