package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options describe the image to pack.
type Options struct {
	// Binary is the static linux executable placed at EntrypointPath, built for Arch.
	Binary string
	// Arch is the image's architecture, amd64 (the default) or arm64; the binary must match it.
	Arch string
	// OCI gives the image OCI media types (manifest, config, layer) instead of Docker's, for an OCI layout.
	OCI bool
	// EntrypointPath is where the binary lands in the image, such as /ftp-operator.
	EntrypointPath string
	// Cmd is the default argument list, such as [manager].
	Cmd []string
	// UID and GID run the process; /etc/passwd and /etc/group name them nonroot.
	UID, GID int
	// Created stamps the config, the history and every file: a fixed time makes the image reproducible.
	Created time.Time
	// Labels are copied into the image config.
	Labels map[string]string
	// Extras are more static executables for Arch, by their absolute path in the image, such as
	// {"/kubectl-ftp": "bin/kubectl-ftp"}. In BuildIndex a file name may hold {arch}, replaced per platform.
	Extras map[string]string
}

// ErrNotStatic is returned for a binary that needs a dynamic loader: the image has no libc.
var ErrNotStatic = errors.New("binary is not a static executable")

// file is one entry of the image's single layer.
type file struct {
	name     string // without a leading slash; directories end in /
	mode     int64
	uid, gid int
	data     []byte
}

// Build returns the image: one layer holding the binary (and the extra ones), a minimal /etc/passwd and /etc/group,
// the nonroot home and a world-writable /tmp, with every timestamp set to o.Created.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	arch := o.Arch
	if arch == "" {
		arch = "amd64"
	}
	if err := checkStatic(bin, arch); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Binary, err)
	}
	extras := map[string][]byte{}
	for at, file := range o.Extras {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if err := checkStatic(b, arch); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		extras[at] = b
	}
	layerTar, err := layerTar(o, bin, extras)
	if err != nil {
		return nil, err
	}
	var layerOpts []tarball.LayerOption
	base := empty.Image
	if o.OCI {
		layerOpts = append(layerOpts, tarball.WithMediaType(types.OCILayer))
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, layerOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating layer: %w", err)
	}
	created := v1.Time{Time: o.Created.UTC()}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "imagepack " + o.EntrypointPath, Comment: "static binary"},
	})
	if err != nil {
		return nil, fmt.Errorf("appending layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Created = created
	user := fmt.Sprintf("%d:%d", o.UID, o.GID)
	cf.Config = v1.Config{
		Entrypoint: []string{o.EntrypointPath},
		Cmd:        o.Cmd,
		User:       user,
		WorkingDir: "/",
		Env:        []string{"PATH=/", "HOME=/home/nonroot", "TMPDIR=/tmp"},
		Labels:     o.Labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	if o.OCI {
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	return img, nil
}

// machines maps the image architectures imagepack packs to their ELF machine.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkStatic refuses anything but an ELF executable for arch without an interpreter (dynamic loader).
func checkStatic(bin []byte, arch string) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("architecture %q: imagepack packs amd64 and arm64", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("architecture is %s, want %s (linux/%s)", f.Machine, want, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrNotStatic
		}
	}
	return nil
}

// layerTar writes the layer as an uncompressed tar with entries sorted by name, owned by numeric IDs only and
// stamped with o.Created, so that the same binary always gives the same bytes.
func layerTar(o Options, bin []byte, extras map[string][]byte) ([]byte, error) {
	nonroot := fmt.Sprintf("%d", o.UID)
	files := []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", o.GID)},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, o.GID)},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: o.UID, gid: o.GID},
		{name: "tmp/", mode: 0o1777},
	}
	entry := filepath.ToSlash(filepath.Clean(o.EntrypointPath))
	if len(entry) < 2 || entry[0] != '/' {
		return nil, fmt.Errorf("entrypoint %q must be an absolute path", o.EntrypointPath)
	}
	files = append(files, file{name: entry[1:], mode: 0o755, data: bin})
	for at, b := range extras {
		p := filepath.ToSlash(filepath.Clean(at))
		if len(p) < 2 || p[0] != '/' || strings.Count(p, "/") != 1 {
			return nil, fmt.Errorf("extra binary %q: want a path at the image's top, such as /kubectl-ftp", at)
		}
		files = append(files, file{name: p[1:], mode: 0o755, data: b})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	for i := 1; i < len(files); i++ {
		if files[i].name == files[i-1].name {
			return nil, fmt.Errorf("/%s is in the image twice", files[i].name)
		}
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: o.Created.UTC(),
			Format:  tar.FormatPAX,
		}
		if f.name[len(f.name)-1] == '/' {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
