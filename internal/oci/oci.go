// Package oci imports a root filesystem from a container registry, an OCI
// image layout or archive, a docker-archive, a root filesystem tarball or a
// directory into a directory, safely: whatever the source holds, nothing is
// ever written outside the destination.
//
// Layers are applied by this package (not by go-containerregistry's
// flattening) so that whiteouts and hostile entries are under its control:
// every entry's parent is resolved beneath the destination without
// following symbolic links (openat2 with RESOLVE_IN_ROOT, or a walk one
// component at a time), and an entry that would climb out with "..", or
// write or link through a symlink, stops the import with an error naming it.
package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Kinds of source, as reported in Info.Kind.
const (
	KindRegistry      = "docker"         // docker://REF
	KindOCILayout     = "oci"            // oci:DIR[:NAME], or a directory with an oci-layout file
	KindOCIArchive    = "oci-archive"    // oci-archive:FILE[:NAME], or a tar with oci-layout at the top
	KindDockerArchive = "docker-archive" // docker-archive:FILE[:TAG], or a tar with manifest.json at the top
	KindTarball       = "tarball"        // a root filesystem as a tar, plain or gzip, zstd or bzip2 compressed
	KindDirectory     = "directory"      // a root filesystem as a directory (chroot, Apptainer sandbox)
)

// Options tune an import. The zero value imports for the host's platform
// over HTTPS, anonymously (or with the credentials of the docker config),
// with no cache, progress or logs.
type Options struct {
	// Username and Password are registry credentials (basic auth). The
	// caller reads WAREWULF_OCI_USERNAME and WAREWULF_OCI_PASSWORD.
	Username, Password string
	// NoHTTPS talks plain HTTP to the registry, or HTTPS without
	// verifying its certificate.
	NoHTTPS bool
	// Platform ("os/arch[/variant]", e.g. linux/amd64) chooses the image of
	// a multi-platform index. It defaults to linux on the host's
	// architecture; an image for another platform than an explicit one is
	// an error, for another than the default one a warning.
	Platform string
	// CacheDir, if not empty, keeps downloaded registry blobs in
	// CacheDir/warewulf/blobs/sha256, reused by later imports.
	CacheDir string
	// Progress, if not nil, is called with stage "download" (registry
	// blobs received) and "extract" (bytes of the source's layers or
	// tarball consumed, or of files copied from a directory) and byte
	// counts; total is 0 when not known in advance. Registry layers are
	// streamed, so their two stages advance together.
	Progress func(stage string, done, total int64)
	// Log receives warnings: things skipped (device nodes when not root,
	// extended attributes the filesystem refuses, sockets, other mounts).
	Log *slog.Logger
	// Update applies the source over what dest already holds (wwctl image
	// import --update) instead of requiring an empty dest.
	Update bool
	// Limits bound what the import unpacks; zero fields take the
	// defaults (DefaultMaxSize, ...). An entry over a limit stops the
	// import with a *LimitError naming the entry.
	Limits Limits
}

// Info describes what an import read.
type Info struct {
	Source string // as given to Import
	Kind   string // one of the Kind constants
	// Digest is the manifest digest for registry and OCI sources, the image
	// ID (config digest) for a docker-archive, the SHA-256 of the file for a
	// tarball, and empty for a directory.
	Digest   string
	Platform string // os/arch[/variant] of the image's config; "" if not known
	Layers   int    // tar streams applied: image layers, 1 for a tarball, 0 for a directory
}

// Import writes the root filesystem named by source into dest, an existing
// empty directory the caller made (the caller renames it into place only on
// success, so a failed import changes nothing; dest is then left partly
// written, for the caller to remove).
//
// Sources are recognised by syntax, then content: docker://REF, oci:DIR[:NAME],
// oci-archive:FILE[:NAME], docker-archive:FILE[:TAG], file://PATH, or a local
// PATH that is a directory (an OCI layout if it has an oci-layout file, else
// a root filesystem, which must have bin/sh or usr/bin/sh) or a file (an OCI
// archive, a docker-archive or a root filesystem tarball).
//
// dest's mode becomes 0755 unless the source sets the root's own metadata.
// Owners are set and device nodes made only when running as root; blobs are
// verified against their digests (after being applied: the caller discards
// dest on error). Any entry that would write outside dest stops the import
// with an error wrapping ErrUnsafe that names it.
func Import(ctx context.Context, source, dest string, opts Options) (*Info, error) {
	info, err := importSource(ctx, source, dest, opts)
	if err != nil {
		return nil, fmt.Errorf("import %q: %w", source, err)
	}
	return info, nil
}

func importSource(ctx context.Context, source, dest string, opts Options) (*Info, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	want, err := parsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	absDest, err := filepath.Abs(dest)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	root, err := openDest(dest, opts.Update)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	x := newExtractor(root, log, opts.Limits, len(absDest))
	info := &Info{Source: source}

	var img *image
	switch {
	case strings.HasPrefix(source, "docker://"):
		info.Kind = KindRegistry
		img, err = resolveRegistry(ctx, strings.TrimPrefix(source, "docker://"), want, opts, log)
	case strings.HasPrefix(source, "oci:"):
		info.Kind = KindOCILayout
		dir, ref := splitRef(strings.TrimPrefix(source, "oci:"))
		img, err = resolveLayout(ctx, dirStore{dir}, ref, want, log)
	case strings.HasPrefix(source, "oci-archive:"), strings.HasPrefix(source, "docker-archive:"):
		scheme, rest, _ := strings.Cut(source, ":")
		info.Kind = scheme
		file, ref := splitRef(rest)
		img, err = resolveArchive(ctx, file, ref, scheme, want, log)
	case strings.HasPrefix(source, "file://"):
		return importLocal(ctx, x, info, strings.TrimPrefix(source, "file://"), dest, want, opts, log)
	case strings.Contains(source, "://"):
		scheme, _, _ := strings.Cut(source, "://")
		return nil, fmt.Errorf("unsupported transport %q (want docker://, oci:, oci-archive:, docker-archive:, file:// or a path)", scheme)
	default:
		return importLocal(ctx, x, info, source, dest, want, opts, log)
	}
	if err != nil {
		return nil, err
	}
	return info, applyImage(ctx, x, info, img, opts, log)
}

// openDest opens dest, which must be an empty directory unless update,
// and gives an empty one mode 0755 (the root of a node's filesystem,
// whatever MkdirTemp made).
func openDest(dest string, update bool) (int, error) {
	f, err := os.Open(dest)
	if err != nil {
		return -1, fmt.Errorf("destination: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return -1, fmt.Errorf("destination: %w", err)
	}
	if !fi.IsDir() {
		return -1, fmt.Errorf("destination %s is not a directory", dest)
	}
	names, _ := f.Readdirnames(1)
	switch {
	case len(names) > 0 && !update:
		return -1, fmt.Errorf("destination %s is not empty", dest)
	case len(names) == 0:
		if err := f.Chmod(0o755); err != nil {
			return -1, fmt.Errorf("destination: %w", err)
		}
	}
	fd, err := unix.Openat(int(f.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("destination: %w", &os.PathError{Op: "open", Path: dest, Err: err})
	}
	return fd, nil
}

// splitRef splits "PATH[:NAME]": PATH is the longest prefix ending before
// a colon that exists (the whole, if it exists), so that both the path and
// the name (a docker reference like host:5000/image:tag) may hold colons.
func splitRef(s string) (string, string) {
	for i := len(s); i > 0; i = strings.LastIndexByte(s[:i], ':') {
		if _, err := os.Stat(s[:i]); err == nil {
			if i == len(s) {
				return s, ""
			}
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// resolveArchive opens an image archive that must be of the kind want.
func resolveArchive(ctx context.Context, file, ref, kind string, want platformSpec, log *slog.Logger) (*image, error) {
	a, got, err := scanArchive(ctx, file)
	if err != nil {
		return nil, err
	}
	if got != kind {
		marker := "manifest.json"
		if kind == KindOCIArchive {
			marker = "oci-layout"
		}
		return nil, fmt.Errorf("%s is no %s: it has no %s at the top", file, kind, marker)
	}
	if kind == KindOCIArchive {
		return resolveLayout(ctx, a, ref, want, log)
	}
	return resolveDockerArchive(ctx, a, ref, want, log)
}

// importLocal imports a local path, whose kind its content tells.
func importLocal(ctx context.Context, x *extractor, info *Info, p, dest string, want platformSpec, opts Options, log *slog.Logger) (*Info, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err == nil {
			info.Kind = KindOCILayout
			img, err := resolveLayout(ctx, dirStore{p}, "", want, log)
			if err != nil {
				return nil, err
			}
			return info, applyImage(ctx, x, info, img, opts, log)
		}
		if !isRootfs(p) {
			return nil, fmt.Errorf("directory %s is neither an OCI layout (no oci-layout file) nor a root filesystem (no bin/sh or usr/bin/sh)", p)
		}
		info.Kind = KindDirectory
		return info, copyDir(ctx, x, p, dest, opts)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is neither a file nor a directory", p)
	}
	a, kind, err := scanArchive(ctx, p)
	if err != nil {
		return nil, err
	}
	info.Kind = kind
	var img *image
	switch kind {
	case KindOCIArchive:
		img, err = resolveLayout(ctx, a, "", want, log)
	case KindDockerArchive:
		img, err = resolveDockerArchive(ctx, a, "", want, log)
	default:
		info.Layers = 1
		info.Digest, err = applyTarball(ctx, x, p, fi.Size(), opts)
		return info, err
	}
	if err != nil {
		return nil, err
	}
	return info, applyImage(ctx, x, info, img, opts, log)
}

// applyImage applies the layers of img in order.
func applyImage(ctx context.Context, x *extractor, info *Info, img *image, opts Options, log *slog.Logger) error {
	info.Digest, info.Platform, info.Layers = img.digest, img.platform, len(img.layers)
	var total int64
	for _, l := range img.layers {
		if l.size < 0 {
			total = 0
			break
		}
		total += l.size
	}
	ext := newProgress(opts.Progress, "extract", total)
	x.whiteouts = true
	for i, l := range img.layers {
		if err := applyLayer(ctx, x, l, ext, log); err != nil {
			what := l.digest
			if what == "" {
				what = l.diffID
			}
			return fmt.Errorf("layer %d of %d (%s): %w", i+1, len(img.layers), what, err)
		}
	}
	ext.finish()
	return nil
}

// applyLayer applies one layer and checks its digests once all of it was
// read.
func applyLayer(ctx context.Context, x *extractor, l layerSource, ext *progress, log *slog.Logger) error {
	rc, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	err = applyBlob(ctx, x, l, rc, ext)
	if err != nil {
		if c, ok := rc.(interface {
			recheck(context.Context, string) error
		}); ok {
			if cerr := c.recheck(ctx, l.digest); cerr != nil {
				err = fmt.Errorf("%w; %v", err, cerr)
			}
		}
		return err
	}
	if v, ok := rc.(interface{ verified() error }); ok {
		if err := v.verified(); err != nil {
			log.Warn("blob not cached", "digest", l.digest, "err", err)
		}
	}
	return nil
}

// applyBlob applies the layer l read from rc.
func applyBlob(ctx context.Context, x *extractor, l layerSource, rc io.Reader, ext *progress) error {
	raw := newDigestReader(&countingReader{ctx: ctx, r: rc, p: ext})
	zr, err := decompress(raw)
	if err != nil {
		return err
	}
	defer zr.Close()
	var tarStream io.Reader = zr
	var plain *digestReader
	if l.diffID != "" {
		plain = newDigestReader(zr)
		tarStream = plain
	}
	if err := x.applyTar(ctx, tarStream); err != nil {
		// A blob that is not what its digest says explains a broken
		// stream better than the tar or decompression error does.
		// Not after a refusal for a limit: the rest may be huge.
		if l.digest != "" && !errors.Is(err, ErrUnsafe) && !isLimit(err) && ctx.Err() == nil && drain(ctx, raw) == nil {
			if cerr := raw.check(l.digest, l.size); cerr != nil {
				return fmt.Errorf("layer blob: %w (%v)", cerr, err)
			}
		}
		return err
	}
	if err := drain(ctx, tarStream); err != nil {
		return fmt.Errorf("read layer: %w", err)
	}
	if err := drain(ctx, raw); err != nil {
		return fmt.Errorf("read layer: %w", err)
	}
	if l.digest != "" {
		if err := raw.check(l.digest, l.size); err != nil {
			return fmt.Errorf("layer blob: %w", err)
		}
	}
	if plain != nil {
		if err := plain.check(l.diffID, -1); err != nil {
			return fmt.Errorf("uncompressed layer: %w", err)
		}
	}
	return nil
}

// applyTarball extracts a root filesystem tarball and returns its digest.
func applyTarball(ctx context.Context, x *extractor, p string, size int64, opts Options) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ext := newProgress(opts.Progress, "extract", size)
	raw := newDigestReader(&countingReader{ctx: ctx, r: f, p: ext})
	zr, err := decompress(raw)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	x.whiteouts = false
	if err := x.applyTar(ctx, zr); err != nil {
		return "", err
	}
	if err := drain(ctx, zr); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	if err := drain(ctx, raw); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	ext.finish()
	return raw.digest(), nil
}
