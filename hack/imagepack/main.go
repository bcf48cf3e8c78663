// Command imagepack packs a static linux/amd64 binary into a reproducible image tarball (the docker-archive
// format that `docker load`, `ctr images import` and `kind load image-archive` read), without a container engine.
//
//	imagepack --binary bin/ftp-operator --tag localhost/ftp-operator:v0.1.0 --out bin/image/ftp-operator-v0.1.0.tar
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
		UID: *uid, GID: *gid, Created: created, Labels: labels,
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
