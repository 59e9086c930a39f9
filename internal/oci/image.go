package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxMetadata bounds what is read of an index, manifest or config: they
// are small JSON documents, and a hostile source must not make us buffer a
// huge one (containerd uses the same bound for manifests).
const maxMetadata = 8 << 20

// maxIndexDepth bounds nested image indexes in an OCI layout.
const maxIndexDepth = 4

// refNameAnnotation names an image in an OCI layout's index.json.
const (
	refNameAnnotation    = "org.opencontainers.image.ref.name"
	containerdAnnotation = "io.containerd.image.name"
)

// layerSource is one layer to apply: its stored blob (compressed or not)
// and what to check it against.
type layerSource struct {
	digest string // of the stored blob, "sha256:<hex>"; "" when not known
	size   int64  // of the stored blob; -1 when not known
	diffID string // of the uncompressed tar; "" to skip the check
	open   func(ctx context.Context) (io.ReadCloser, error)
}

// image is a resolved layered image: which one was chosen and its layers.
type image struct {
	digest   string
	platform string
	layers   []layerSource
}

// platformSpec is the platform an import asks for.
type platformSpec struct {
	v1.Platform
	explicit bool // given in Options, rather than the host's default
}

// parsePlatform parses Options.Platform ("os/arch[/variant]"); "" means the
// host's architecture (always os linux: the images boot cluster nodes).
func parsePlatform(s string) (platformSpec, error) {
	if s == "" {
		return platformSpec{Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}, nil
	}
	if !strings.Contains(s, "/") {
		// An architecture alone, as Warewulf's --arch gives it.
		s = "linux/" + s
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return platformSpec{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/amd64, or an architecture", s)
	}
	// Warewulf's spelling of the architectures is OCI's under another name.
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	}
	return platformSpec{Platform: *p, explicit: true}, nil
}

// matches reports whether an image for have suits the spec. Fields an image
// leaves empty are not held against it.
func (s platformSpec) matches(have v1.Platform) bool {
	eq := func(want, have string) bool { return want == "" || have == "" || want == have }
	return eq(s.OS, have.OS) && eq(s.Architecture, have.Architecture) && eq(s.Variant, have.Variant)
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// checkConfigPlatform compares the platform an image's config declares with
// the one asked for: a mismatch is an error when the platform was asked for
// explicitly, and a warning otherwise (a single-platform image is what it
// is). It returns the config's platform.
func checkConfigPlatform(cfg *v1.ConfigFile, want platformSpec, log *slog.Logger) (string, error) {
	have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if !want.matches(have) {
		if want.explicit {
			return "", fmt.Errorf("image is for platform %s, not %s", platformString(have), platformString(want.Platform))
		}
		log.Warn("image is for another platform than this host", "image", platformString(have), "host", platformString(want.Platform))
	}
	if have.OS == "" && have.Architecture == "" {
		return "", nil
	}
	return platformString(have), nil
}

// checkDigest refuses digests other than sha256 ones, which are the only
// ones blobs are verified against (and so the only ones that name files).
func checkDigest(h v1.Hash) error {
	s := h.String()
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return fmt.Errorf("unsupported digest %q (only sha256 is)", s)
	}
	return nil
}

// blobStore reads the files of an OCI image layout: "oci-layout",
// "index.json" and "blobs/sha256/<hex>".
type blobStore interface {
	open(ctx context.Context, name string) (io.ReadCloser, error)
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// readLimited reads all of r, refusing more than maxMetadata bytes.
func readLimited(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(b) > maxMetadata {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, maxMetadata)
	}
	return b, nil
}

// readFile reads a small file of the store.
func readFile(ctx context.Context, st blobStore, name string) ([]byte, error) {
	rc, err := st.open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readLimited(rc, name)
}

// readBlob reads a small blob of the store and verifies it against desc.
func readBlob(ctx context.Context, st blobStore, desc v1.Descriptor) ([]byte, error) {
	if err := checkDigest(desc.Digest); err != nil {
		return nil, err
	}
	b, err := readFile(ctx, st, blobPath(desc.Digest))
	if err != nil {
		return nil, err
	}
	dr := newDigestReader(bytes.NewReader(b))
	_ = drain(ctx, dr)
	if err := dr.check(desc.Digest.String(), desc.Size); err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return b, nil
}

// resolveLayout chooses an image in an OCI layout: the one whose name
// (annotation org.opencontainers.image.ref.name) is ref if ref is not
// empty, else the only one, descending through image indexes by platform.
func resolveLayout(ctx context.Context, st blobStore, ref string, want platformSpec, log *slog.Logger) (*image, error) {
	if _, err := readFile(ctx, st, "oci-layout"); err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	b, err := readFile(ctx, st, "index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse index.json: %w", err)
	}
	descs := idx.Manifests
	if ref != "" {
		descs = slices.DeleteFunc(slices.Clone(descs), func(d v1.Descriptor) bool {
			return d.Annotations[refNameAnnotation] != ref && d.Annotations[containerdAnnotation] != ref
		})
		if len(descs) == 0 {
			return nil, fmt.Errorf("no image named %q in the layout (it has %s)", ref, describeNames(idx.Manifests))
		}
	}
	desc, err := chooseManifest(ctx, st, descs, want, 0)
	if err != nil {
		return nil, err
	}
	mb, err := readBlob(ctx, st, desc)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(mb))
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
	}
	cb, err := readBlob(ctx, st, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cb))
	if err != nil {
		return nil, fmt.Errorf("parse config %s: %w", m.Config.Digest, err)
	}
	img := &image{digest: desc.Digest.String()}
	if img.platform, err = checkConfigPlatform(cfg, want, log); err != nil {
		return nil, err
	}
	if img.layers, err = manifestLayers(m, func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		return st.open(ctx, blobPath(d.Digest))
	}); err != nil {
		return nil, err
	}
	return img, nil
}

// manifestLayers returns the layers of m, opened by open.
func manifestLayers(m *v1.Manifest, open func(context.Context, v1.Descriptor) (io.ReadCloser, error)) ([]layerSource, error) {
	var out []layerSource
	for i, d := range m.Layers {
		if d.MediaType != "" && !d.MediaType.IsLayer() {
			return nil, fmt.Errorf("layer %d has media type %q, which is not a filesystem layer", i+1, d.MediaType)
		}
		if err := checkDigest(d.Digest); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		out = append(out, layerSource{
			digest: d.Digest.String(),
			size:   d.Size,
			open:   func(ctx context.Context) (io.ReadCloser, error) { return open(ctx, d) },
		})
	}
	return out, nil
}

// chooseManifest picks one image manifest among descs: the only one, or
// the one for the wanted platform, going down through indexes.
func chooseManifest(ctx context.Context, st blobStore, descs []v1.Descriptor, want platformSpec, depth int) (v1.Descriptor, error) {
	if depth > maxIndexDepth {
		return v1.Descriptor{}, errors.New("image indexes nested too deep")
	}
	cands := slices.DeleteFunc(slices.Clone(descs), func(d v1.Descriptor) bool {
		return !d.MediaType.IsImage() && !d.MediaType.IsIndex()
	})
	if len(cands) == 0 {
		return v1.Descriptor{}, errors.New("no image manifest in the index")
	}
	if len(cands) > 1 {
		var withPlatform, match []v1.Descriptor
		for _, d := range cands {
			if d.Platform != nil {
				withPlatform = append(withPlatform, d)
				if want.matches(*d.Platform) && d.Platform.OS != "" && d.Platform.Architecture != "" {
					match = append(match, d)
				}
			}
		}
		switch {
		case len(match) > 0:
			cands = match
		case len(withPlatform) == 0:
			return v1.Descriptor{}, fmt.Errorf("%d images in the layout; name one (oci:DIR:NAME) among %s", len(cands), describeNames(cands))
		default:
			var have []string
			for _, d := range withPlatform {
				have = append(have, platformString(*d.Platform))
			}
			return v1.Descriptor{}, fmt.Errorf("no image for platform %s (there are %s)", platformString(want.Platform), strings.Join(have, ", "))
		}
	}
	d := cands[0]
	if d.MediaType.IsImage() {
		return d, nil
	}
	b, err := readBlob(ctx, st, d)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("index: %w", err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("parse index %s: %w", d.Digest, err)
	}
	return chooseManifest(ctx, st, idx.Manifests, want, depth+1)
}

// describeNames lists the names (or digests) of descs for messages.
func describeNames(descs []v1.Descriptor) string {
	var names []string
	for _, d := range descs {
		n := d.Annotations[refNameAnnotation]
		if n == "" {
			n = d.Annotations[containerdAnnotation]
		}
		if n == "" {
			n = d.Digest.String()
		}
		names = append(names, fmt.Sprintf("%q", n))
	}
	if len(names) == 0 {
		return "no images"
	}
	return strings.Join(names, ", ")
}

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// resolveDockerArchive chooses an image in a docker-archive (docker save,
// podman save): the one tagged ref if ref is not empty, else the only one,
// else the one for the wanted platform. Layers are checked against the
// config's diff IDs, the only digests such an archive has.
func resolveDockerArchive(ctx context.Context, a *tarArchive, ref string, want platformSpec, log *slog.Logger) (*image, error) {
	b, err := readFile(ctx, a, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerManifest
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("parse manifest.json: %w", err)
	}
	if ref != "" {
		entries = slices.DeleteFunc(entries, func(e dockerManifest) bool {
			return !slices.ContainsFunc(e.RepoTags, func(t string) bool {
				return t == ref || t == ref+":latest" || strings.HasSuffix(t, "/"+ref) || strings.HasSuffix(t, "/"+ref+":latest")
			})
		})
		if len(entries) == 0 {
			return nil, fmt.Errorf("no image tagged %q in the archive", ref)
		}
	}
	type candidate struct {
		entry  dockerManifest
		cfg    *v1.ConfigFile
		digest string
	}
	var cands []candidate
	for _, e := range entries {
		cb, err := readFile(ctx, a, cleanArchiveName(e.Config))
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(cb))
		if err != nil {
			return nil, fmt.Errorf("parse config %s: %w", e.Config, err)
		}
		dr := newDigestReader(bytes.NewReader(cb))
		_ = drain(ctx, dr)
		cands = append(cands, candidate{entry: e, cfg: cfg, digest: dr.digest()})
	}
	if len(cands) > 1 {
		cands = slices.DeleteFunc(cands, func(c candidate) bool {
			return !want.matches(v1.Platform{OS: c.cfg.OS, Architecture: c.cfg.Architecture, Variant: c.cfg.Variant})
		})
		if len(cands) != 1 {
			var tags []string
			for _, e := range entries {
				tags = append(tags, e.RepoTags...)
			}
			return nil, fmt.Errorf("%d images in the archive; name one (docker-archive:FILE:TAG) among %q", len(entries), tags)
		}
	}
	if len(cands) == 0 {
		return nil, errors.New("no image in the archive")
	}
	c := cands[0]
	if len(c.cfg.RootFS.DiffIDs) != len(c.entry.Layers) {
		return nil, fmt.Errorf("config lists %d layers, manifest.json %d", len(c.cfg.RootFS.DiffIDs), len(c.entry.Layers))
	}
	img := &image{digest: c.digest}
	if img.platform, err = checkConfigPlatform(c.cfg, want, log); err != nil {
		return nil, err
	}
	for i, l := range c.entry.Layers {
		if err := checkDigest(c.cfg.RootFS.DiffIDs[i]); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		name := cleanArchiveName(l)
		img.layers = append(img.layers, layerSource{
			size:   -1,
			diffID: c.cfg.RootFS.DiffIDs[i].String(),
			open:   func(ctx context.Context) (io.ReadCloser, error) { return a.open(ctx, name) },
		})
	}
	return img, nil
}
