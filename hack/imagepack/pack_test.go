package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testTag = "localhost/ftp-operator:v0.0.0-test"

// staticBinary compiles a tiny static linux/amd64 program whose output includes msg.
func staticBinary(t *testing.T, msg string) string {
	t.Helper()
	dir := t.TempDir()
	src := "package main\n\nimport \"fmt\"\n\nvar msg = \"\"\n\nfunc main() { fmt.Println(msg) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.msg="+msg, "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func options(bin string) Options {
	return Options{
		Binary: bin, EntrypointPath: "/ftp-operator", Cmd: []string{"manager"},
		UID: 65532, GID: 65532, Created: time.Unix(0, 0),
		Labels: map[string]string{"org.opencontainers.image.version": "v0.0.0-test"},
	}
}

// pack builds the image and writes it as a tarball, returning the file's path and the image digest.
func pack(t *testing.T, o Options) (string, v1.Hash) {
	t.Helper()
	img, err := Build(o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	ref, err := name.NewTag(testTag, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(out, ref, img); err != nil {
		t.Fatalf("writeFile: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return out, d
}

func fileSHA(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestReproducible(t *testing.T) {
	bin := staticBinary(t, "one")
	a, da := pack(t, options(bin))
	b, db := pack(t, options(bin))
	if da != db {
		t.Errorf("same binary, different image digests: %s vs %s", da, db)
	}
	if fileSHA(t, a) != fileSHA(t, b) {
		t.Errorf("same binary, tarballs differ byte for byte")
	}

	// The digest must follow the content: another binary, or another creation time, is another image.
	_, dOther := pack(t, options(staticBinary(t, "two")))
	if dOther == da {
		t.Errorf("different binaries gave the same digest %s", da)
	}
	o := options(bin)
	o.Created = time.Unix(1700000000, 0)
	if _, dLater := pack(t, o); dLater == da {
		t.Errorf("different SOURCE_DATE_EPOCH gave the same digest %s", da)
	}
}

func TestTarballLoadsAsImage(t *testing.T) {
	bin := staticBinary(t, "hello")
	out, digest := pack(t, options(bin))

	// The docker-archive manifest names the image, which is what `ctr images import` tags it with.
	manifest := readFromTar(t, out, "manifest.json")
	var raw []map[string]any
	if err := json.Unmarshal(manifest, &raw); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(raw) != 1 {
		t.Fatalf("manifest.json holds %d images, want 1", len(raw))
	}
	if tags, _ := raw[0]["RepoTags"].([]any); len(tags) != 1 || tags[0] != testTag {
		t.Errorf("RepoTags = %v, want [%s]", raw[0]["RepoTags"], testTag)
	}

	ref, _ := name.NewTag(testTag)
	img, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatalf("reading the tarball back: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("image does not validate: %v", err)
	}
	if d, _ := img.Digest(); d != digest {
		t.Errorf("digest read back %s, written %s", d, digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/ftp-operator"}) || !slices.Equal(cf.Config.Cmd, []string{"manager"}) {
		t.Errorf("Entrypoint %q Cmd %q", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532", cf.Config.User)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("Created %v, want the epoch", cf.Created)
	}

	want, _ := os.ReadFile(bin)
	got := map[string]*tar.Header{}
	var names []string
	for _, e := range layerEntries(t, img) {
		got[e.h.Name] = e.h
		names = append(names, e.h.Name)
		if e.h.Name == "ftp-operator" && !bytes.Equal(e.data, want) {
			t.Errorf("ftp-operator in the layer differs from the binary")
		}
		if !e.h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", e.h.Name, e.h.ModTime)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("layer entries not sorted: %v", names)
	}
	for name, mode := range map[string]int64{"ftp-operator": 0o755, "tmp/": 0o1777, "etc/passwd": 0o644} {
		h, ok := got[name]
		if !ok {
			t.Errorf("layer lacks %s (has %v)", name, names)
			continue
		}
		if h.Mode != mode {
			t.Errorf("%s: mode %o, want %o", name, h.Mode, mode)
		}
	}
	if h := got["home/nonroot/"]; h == nil || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("home/nonroot/ not owned by 65532: %+v", h)
	}
}

func TestRefusesWhatCannotRunInScratch(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(options(script)); err == nil {
		t.Errorf("a shell script was packed")
	}

	// A dynamically linked executable needs a loader and libc the image does not have.
	dyn, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no dynamic executable to try")
	}
	if _, err := Build(options(dyn)); !errors.Is(err, ErrNotStatic) {
		t.Errorf("Build(%s) = %v, want ErrNotStatic", dyn, err)
	}

	// Another architecture.
	arm := filepath.Join(dir, "arm")
	src := filepath.Dir(staticBinary(t, "x"))
	cmd := exec.Command("go", "build", "-o", arm, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build arm64: %v\n%s", err, b)
	}
	if _, err := Build(options(arm)); err == nil {
		t.Errorf("an arm64 binary was packed into a linux/amd64 image")
	}
}

// readFromTar returns the content of one member of the tarball at p.
func readFromTar(t *testing.T, p, member string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not found in %s: %v", member, p, err)
		}
		if h.Name == member {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestExtraBinaries: --extra puts more static executables (kubectl-ftp) at the image's top, reproducibly, with the
// same checks as the main binary; in an index each platform gets the file built for it.
func TestExtraBinaries(t *testing.T) {
	bin, plugin := staticBinary(t, "operator"), staticBinary(t, "plugin")
	o := options(bin)
	o.Extras = map[string]string{"/kubectl-ftp": plugin}
	_, da := pack(t, o)
	out, db := pack(t, o)
	if da != db {
		t.Errorf("same binaries, different digests: %s vs %s", da, db)
	}
	if _, dPlain := pack(t, options(bin)); dPlain == da {
		t.Errorf("the extra binary does not change the digest")
	}
	ref, _ := name.NewTag(testTag)
	img, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	want, _ := os.ReadFile(plugin)
	if f, ok := files["kubectl-ftp"]; !ok || f.mode != 0o755 || !bytes.Equal(f.data, want) {
		t.Errorf("kubectl-ftp in the layer: present %v, mode %o, same bytes %v", ok, f.mode, bytes.Equal(f.data, want))
	}
	if _, ok := files["ftp-operator"]; !ok {
		t.Errorf("ftp-operator missing beside the extra binary")
	}

	dyn, _ := exec.LookPath("true")
	for _, tt := range []struct {
		name   string
		extras map[string]string
	}{
		{"dynamic executable", map[string]string{"/kubectl-ftp": dyn}},
		{"same path as the entrypoint", map[string]string{"/ftp-operator": plugin}},
		{"not at the top", map[string]string{"/usr/bin/kubectl-ftp": plugin}},
		{"relative path", map[string]string{"kubectl-ftp": plugin}},
		{"missing file", map[string]string{"/kubectl-ftp": filepath.Join(t.TempDir(), "none")}},
	} {
		o := options(bin)
		o.Extras = tt.extras
		if _, err := Build(o); err == nil {
			t.Errorf("%s: packed", tt.name)
		}
	}

	// An index: {arch} names each platform's build.
	dir := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		b, err := os.ReadFile(staticBinaryFor(t, "plugin", arch))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kubectl-ftp-"+arch), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mo, bins := multiArch(t)
	mo.Extras = map[string]string{"/kubectl-ftp": filepath.Join(dir, "kubectl-ftp-{arch}")}
	idx, err := BuildIndex(mo, []string{"amd64", "arm64"}, bins)
	if err != nil {
		t.Fatalf("BuildIndex: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := layerFiles(t, img)["kubectl-ftp"]
		if !ok {
			t.Errorf("%s: no kubectl-ftp", d.Platform.Architecture)
			continue
		}
		if err := checkStatic(f.data, d.Platform.Architecture); err != nil {
			t.Errorf("%s: kubectl-ftp: %v", d.Platform.Architecture, err)
		}
	}
}

// entry is one member of a layer.
type entry struct {
	h    *tar.Header
	data []byte
}

// layerEntries reads the members of an image's single layer, in order.
func layerEntries(t *testing.T, img v1.Image) []entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []entry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{h, b})
	}
}

// layerFiles is layerEntries by name.
func layerFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	out := map[string]file{}
	for _, e := range layerEntries(t, img) {
		out[e.h.Name] = file{name: e.h.Name, mode: e.h.Mode, data: e.data}
	}
	return out
}
