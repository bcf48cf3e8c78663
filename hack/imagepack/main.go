// Command imagepack packs a static linux/amd64 binary into a reproducible image tarball (the docker-archive
// format that `docker load`, `ctr images import` and `kind load image-archive` read), without a container engine.
//
//	imagepack --binary bin/ftp-operator --extra /kubectl-ftp=bin/kubectl-ftp --tag localhost/ftp-operator:v0.1.0 \
//	    --out bin/image/ftp-operator-v0.1.0.tar
//
// For a release it writes OCI image layouts and pushes them to a registry:
//
//	imagepack index --binary linux/amd64=dist/bin/amd64/ftp-operator --binary linux/arm64=... --tag IMG --out dist/image
//	imagepack chart --chart dist/ftp-operator-0.1.0.tgz --out dist/chart
//	imagepack push --layout dist/image --ref registry.example/ftp-operator:v0.1.0
//	imagepack push --layout dist/chart --ref registry.example/charts/ftp-operator
//
// The same binary always gives the same image digest: every timestamp is SOURCE_DATE_EPOCH (default 0, the Unix
// epoch), the layer's entries are sorted and carry numeric owners only.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Defaults: the ftp-operator image (the Dockerfile says the same; dockerfile_test.go checks it).
const (
	defaultEntrypoint = "/ftp-operator"
	defaultCmd        = "manager"
	defaultUID        = 65532
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagepack:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "index":
			return runIndex(args[1:])
		case "chart":
			return runChart(args[1:])
		case "push":
			return runPush(args[1:])
		}
	}
	fs := flag.NewFlagSet("imagepack", flag.ContinueOnError)
	binary := fs.String("binary", "", "static linux/amd64 executable (required)")
	tag := fs.String("tag", "", "image name, such as localhost/ftp-operator:v0.1.0 (required)")
	out := fs.String("out", "", "image tarball to write (required)")
	entrypoint := fs.String("entrypoint", defaultEntrypoint, "path of the binary in the image; the image's Entrypoint")
	cmd := fs.String("cmd", defaultCmd, "default arguments, space separated")
	uid := fs.Int("uid", defaultUID, "user the process runs as")
	gid := fs.Int("gid", defaultUID, "group the process runs as")
	var labels labelFlag
	fs.Var(&labels, "label", "KEY=VALUE label of the image config (repeatable)")
	var extras extraFlag
	fs.Var(&extras, "extra", "/PATH=FILE: one more static executable in the image, such as /kubectl-ftp=bin/kubectl-ftp (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" || *tag == "" || *out == "" {
		return fmt.Errorf("--binary, --tag and --out are required")
	}
	ref, err := name.NewTag(*tag, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("parsing --tag: %w", err)
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	img, err := Build(Options{
		Binary: *binary, EntrypointPath: *entrypoint, Cmd: strings.Fields(*cmd),
		UID: *uid, GID: *gid, Created: created, Labels: labels, Extras: extras,
	})
	if err != nil {
		return err
	}
	if err := writeFile(*out, ref, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	// containerd writes its own manifest on import, so it lists another digest; the image ID (config) is the same.
	fmt.Printf("%s manifest %s, image ID %s, %s (%d bytes)\n", ref, digest, id, *out, st.Size())
	return nil
}

// writeFile writes the tarball next to out and renames it into place, so an interrupted run leaves no half file.
func writeFile(out string, ref name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".imagepack-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tarball.Write(ref, img, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/), default 0.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

type labelFlag map[string]string

func (l *labelFlag) String() string { return fmt.Sprint(map[string]string(*l)) }

func (l *labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q is not KEY=VALUE", s)
	}
	if *l == nil {
		*l = map[string]string{}
	}
	(*l)[k] = v
	return nil
}

// extraFlag collects --extra /PATH=FILE.
type extraFlag map[string]string

func (e *extraFlag) String() string { return fmt.Sprint(map[string]string(*e)) }

func (e *extraFlag) Set(s string) error {
	at, file, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(at, "/") || file == "" {
		return fmt.Errorf("--extra %q is not /PATH=FILE", s)
	}
	if *e == nil {
		*e = map[string]string{}
	}
	if _, dup := (*e)[at]; dup {
		return fmt.Errorf("--extra: %s given twice", at)
	}
	(*e)[at] = file
	return nil
}

// runIndex writes a multi-platform image (one image per --binary OS/ARCH=PATH) as an OCI image layout.
func runIndex(args []string) error {
	fs := flag.NewFlagSet("imagepack index", flag.ContinueOnError)
	var bins platformFlag
	fs.Var(&bins, "binary", "linux/ARCH=PATH of a static executable (repeatable; ARCH amd64 or arm64)")
	tag := fs.String("tag", "", "image name the layout is meant for, such as registry.example/ftp-operator:v0.1.0 (required)")
	out := fs.String("out", "", "folder of the OCI image layout to write (replaced; required)")
	entrypoint := fs.String("entrypoint", defaultEntrypoint, "path of the binary in the image; the image's Entrypoint")
	cmd := fs.String("cmd", defaultCmd, "default arguments, space separated")
	var labels labelFlag
	fs.Var(&labels, "label", "KEY=VALUE label of the image config (repeatable)")
	var extras extraFlag
	fs.Var(&extras, "extra", "/PATH=FILE: one more static executable per platform, {arch} in FILE replaced by amd64 or arm64 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(bins.archs) == 0 || *tag == "" || *out == "" {
		return fmt.Errorf("--binary, --tag and --out are required")
	}
	if _, err := name.NewTag(*tag, name.StrictValidation); err != nil {
		return fmt.Errorf("parsing --tag: %w", err)
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	idx, err := BuildIndex(Options{
		EntrypointPath: *entrypoint, Cmd: strings.Fields(*cmd),
		UID: defaultUID, GID: defaultUID, Created: created, Labels: labels, Extras: extras,
	}, bins.archs, bins.paths)
	if err != nil {
		return err
	}
	if err := WriteLayout(*out, *tag, idx); err != nil {
		return err
	}
	h, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s index %s in %s\n", *tag, h, *out)
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		size := d.Size
		if m, err := img.Manifest(); err == nil {
			size += m.Config.Size
			for _, l := range m.Layers {
				size += l.Size
			}
		}
		fmt.Printf("  %s/%s manifest %s, %d bytes compressed\n", d.Platform.OS, d.Platform.Architecture, d.Digest, size)
	}
	return nil
}

// runChart writes a packaged chart as the OCI artifact helm push would send, in an OCI image layout.
func runChart(args []string) error {
	fs := flag.NewFlagSet("imagepack chart", flag.ContinueOnError)
	chart := fs.String("chart", "", "packaged chart (helm package's .tgz; required)")
	out := fs.String("out", "", "folder of the OCI image layout to write (replaced; required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chart == "" || *out == "" {
		return fmt.Errorf("--chart and --out are required")
	}
	tgz, err := readFile(*chart)
	if err != nil {
		return err
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	img, tag, err := ChartArtifact(tgz, created)
	if err != nil {
		return fmt.Errorf("%s: %w", *chart, err)
	}
	if err := WriteLayout(*out, tag, img); err != nil {
		return err
	}
	h, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("chart %s manifest %s in %s\n", tag, h, *out)
	return nil
}

// runPush pushes the entry of an OCI image layout to a registry.
func runPush(args []string) error {
	fs := flag.NewFlagSet("imagepack push", flag.ContinueOnError)
	dir := fs.String("layout", "", "OCI image layout written by imagepack index or chart (required)")
	ref := fs.String("ref", "", "REGISTRY/REPOSITORY:TAG, or REGISTRY/REPOSITORY to use the layout's own tag (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *ref == "" {
		return fmt.Errorf("--layout and --ref are required")
	}
	r, h, err := Push(*dir, *ref)
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %w", *dir, *ref, err)
	}
	fmt.Printf("pushed %s@%s\n", r, h)
	return nil
}

// platformFlag collects --binary linux/ARCH=PATH in order.
type platformFlag struct {
	archs []string
	paths map[string]string
}

func (p *platformFlag) String() string { return fmt.Sprint(p.paths) }

func (p *platformFlag) Set(s string) error {
	plat, file, ok := strings.Cut(s, "=")
	os, arch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || os != "linux" || file == "" {
		return fmt.Errorf("--binary %q is not linux/ARCH=PATH", s)
	}
	if p.paths == nil {
		p.paths = map[string]string{}
	}
	if _, dup := p.paths[arch]; dup {
		return fmt.Errorf("--binary: linux/%s given twice", arch)
	}
	p.archs = append(p.archs, arch)
	p.paths[arch] = file
	return nil
}
