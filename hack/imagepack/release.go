package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// Media types of a Helm chart in an OCI registry, as `helm push` writes them.
const (
	HelmConfigMediaType types.MediaType = "application/vnd.cncf.helm.config.v1+json"
	HelmChartMediaType  types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// refNameAnnotation names a manifest in an OCI layout's index.json (the tag it is pushed under).
const refNameAnnotation = "org.opencontainers.image.ref.name"

// BuildIndex packs one image per architecture (o.Binary is replaced by binaries[arch]) and returns an OCI image
// index listing them with their platforms, in the order of archs.
func BuildIndex(o Options, archs []string, binaries map[string]string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, arch := range archs {
		oa := o
		oa.Arch, oa.Binary, oa.OCI = arch, binaries[arch], true
		oa.Extras = map[string]string{}
		for at, file := range o.Extras {
			oa.Extras[at] = strings.ReplaceAll(file, "{arch}", arch)
		}
		img, err := Build(oa)
		if err != nil {
			return nil, fmt.Errorf("linux/%s: %w", arch, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch},
		}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

// WriteLayout writes an OCI image layout at dir (replacing what was there) whose index.json holds one entry, the
// image index or the manifest item, annotated with the tag it is meant for.
func WriteLayout(dir, tag string, item any) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	if err != nil {
		return err
	}
	ann := layout.WithAnnotations(map[string]string{refNameAnnotation: tag})
	switch v := item.(type) {
	case v1.ImageIndex:
		return p.AppendIndex(v, ann)
	case v1.Image:
		return p.AppendImage(v, ann)
	default:
		return fmt.Errorf("cannot write %T to a layout", item)
	}
}

// ChartArtifact returns the OCI manifest `helm push` makes of a packaged chart (helm package's .tgz): the chart's
// metadata as the config, the .tgz as the one layer, the OCI annotations Helm sets. The tag is the chart version
// with + replaced by _ (as Helm does, tags cannot hold +).
func ChartArtifact(tgz []byte, created time.Time) (v1.Image, string, error) {
	meta, err := chartMetadata(tgz)
	if err != nil {
		return nil, "", err
	}
	var m struct {
		Name, Version, Description, Home string
		Sources                          []string
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, "", err
	}
	if m.Name == "" || m.Version == "" {
		return nil, "", errors.New("Chart.yaml has no name or version")
	}
	ann := map[string]string{
		"org.opencontainers.image.title":   m.Name,
		"org.opencontainers.image.version": m.Version,
		"org.opencontainers.image.created": created.UTC().Format(time.RFC3339),
	}
	if m.Description != "" {
		ann["org.opencontainers.image.description"] = m.Description
	}
	if m.Home != "" {
		ann["org.opencontainers.image.url"] = m.Home
	}
	if len(m.Sources) > 0 {
		ann["org.opencontainers.image.source"] = m.Sources[0]
	}
	a, err := newArtifact(HelmConfigMediaType, meta, HelmChartMediaType, tgz, ann)
	if err != nil {
		return nil, "", err
	}
	return a, strings.ReplaceAll(m.Version, "+", "_"), nil
}

// chartMetadata reads <chart>/Chart.yaml from a packaged chart and returns it as JSON (Helm's config blob).
func chartMetadata(tgz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("chart is not a gzip file: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no Chart.yaml in the packaged chart")
		}
		if err != nil {
			return nil, err
		}
		if dir, file := path.Split(h.Name); file == "Chart.yaml" && strings.Count(dir, "/") == 1 {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			return yaml.YAMLToJSON(b)
		}
	}
}

// artifact is an OCI manifest with a config blob of any media type and one layer (an OCI artifact).
type artifact struct {
	config, layer, manifest []byte
	layerDesc               v1.Descriptor
}

func newArtifact(configType types.MediaType, config []byte, layerType types.MediaType, layer []byte, ann map[string]string) (v1.Image, error) {
	desc := func(mt types.MediaType, b []byte) (v1.Descriptor, error) {
		h, _, err := v1.SHA256(bytes.NewReader(b))
		return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: h}, err
	}
	cd, err := desc(configType, config)
	if err != nil {
		return nil, err
	}
	ld, err := desc(layerType, layer)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{ld}, Annotations: ann}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{config: config, layer: layer, manifest: raw, layerDesc: ld})
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h != a.layerDesc.Digest {
		return nil, fmt.Errorf("no layer %s", h)
	}
	return blob{a.layerDesc, a.layer}, nil
}

type blob struct {
	desc v1.Descriptor
	b    []byte
}

func (b blob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b blob) Compressed() (io.ReadCloser, error)  { return io.NopCloser(bytes.NewReader(b.b)), nil }
func (b blob) Size() (int64, error)                { return b.desc.Size, nil }
func (b blob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

// LayoutItem returns the one entry of an OCI layout's index.json (an image index or a manifest) and its tag.
func LayoutItem(dir string) (any, string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", err
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, "", err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(im.Manifests) != 1 {
		return nil, "", fmt.Errorf("%s: index.json lists %d entries, want 1", dir, len(im.Manifests))
	}
	d := im.Manifests[0]
	tag := d.Annotations[refNameAnnotation]
	if d.MediaType.IsIndex() {
		idx, err := top.ImageIndex(d.Digest)
		return idx, tag, err
	}
	img, err := top.Image(d.Digest)
	return img, tag, err
}

// Push sends the entry of the OCI layout at dir to ref (a tag, or a repository to which the layout's own tag is
// added) with the credentials of the Docker config (~/.docker/config.json), and returns the digest pushed.
func Push(dir, ref string, opts ...remote.Option) (name.Reference, v1.Hash, error) {
	item, tag, err := LayoutItem(dir)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		repo, rerr := name.NewRepository(ref, name.StrictValidation)
		if rerr != nil || tag == "" {
			return nil, v1.Hash{}, fmt.Errorf("parsing %q: %w", ref, err)
		}
		r = repo.Tag(tag)
	}
	opts = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	switch v := item.(type) {
	case v1.ImageIndex:
		h, err := v.Digest()
		if err != nil {
			return nil, h, err
		}
		return r, h, remote.WriteIndex(r, v, opts...)
	case v1.Image:
		h, err := v.Digest()
		if err != nil {
			return nil, h, err
		}
		return r, h, remote.Write(r, v, opts...)
	}
	return nil, v1.Hash{}, fmt.Errorf("%s: nothing to push", dir)
}

// readFile is os.ReadFile with the path in the error.
func readFile(p string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Clean(p))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, nil
}
