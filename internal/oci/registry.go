package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// userAgent is sent to registries.
const userAgent = "wwboot"

// resolveRegistry fetches the manifest of ref (a docker:// reference without
// its scheme) for the wanted platform and returns the image, whose layers
// are streamed from the registry (or the blob cache) as they are applied.
func resolveRegistry(ctx context.Context, ref string, want platformSpec, opts Options, log *slog.Logger) (*image, error) {
	var nameOpts []name.Option
	if opts.NoHTTPS {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("parse reference: %w", err)
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if opts.Username != "" || opts.Password != "" {
		auth = remote.WithAuth(&authn.Basic{Username: opts.Username, Password: opts.Password})
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		auth,
		remote.WithPlatform(want.Platform),
		remote.WithUserAgent(userAgent),
	}
	if opts.NoHTTPS {
		// Plain HTTP, or HTTPS with a certificate not verified (a site
		// registry's self-signed one), as Warewulf's --nohttps means.
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --nohttps
		ropts = append(ropts, remote.WithTransport(tr))
	}
	ri, err := remote.Image(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetch manifest: %w", err)
	}
	digest, err := ri.Digest()
	if err != nil {
		return nil, fmt.Errorf("manifest digest: %w", err)
	}
	m, err := ri.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	cfg, err := ri.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img := &image{digest: digest.String()}
	if img.platform, err = checkConfigPlatform(cfg, want, log); err != nil {
		return nil, err
	}
	var cache *blobCache
	if opts.CacheDir != "" {
		cache = &blobCache{dir: filepath.Join(opts.CacheDir, "warewulf", "blobs", "sha256")}
	}
	var total int64
	for _, l := range m.Layers {
		total += l.Size
	}
	dl := newProgress(opts.Progress, "download", total)
	img.layers, err = manifestLayers(m, func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		if cache != nil {
			f, err := cache.open(d.Digest)
			if err == nil {
				dl.add(d.Size)
				dl.finish()
				return cachedBlob{f}, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				log.Warn("blob cache unreadable; downloading", "digest", d.Digest.String(), "err", err)
			}
		}
		l, err := ri.LayerByDigest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", d.Digest, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("download layer %s: %w", d.Digest, err)
		}
		body := readCloser{&countingReader{ctx: ctx, r: rc, p: dl}, func() error { dl.finish(); return rc.Close() }}
		if cache == nil {
			return body, nil
		}
		w, err := cache.create(d.Digest)
		if err != nil {
			log.Warn("cannot write the blob cache; going on without it", "dir", cache.dir, "err", err)
			return body, nil
		}
		return &teeToCache{r: io.TeeReader(body, w), body: body, w: w}, nil
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// blobCache keeps registry blobs by digest, so that importing an image
// again (or another sharing its base layers) does not download them again.
// Blobs are verified when read, as any other, and a blob enters the cache
// only once its digest has been checked.
type blobCache struct{ dir string }

func (c *blobCache) open(h v1.Hash) (*os.File, error) {
	return os.Open(filepath.Join(c.dir, h.Hex))
}

// cachedBlob is a blob read from the cache.
type cachedBlob struct{ *os.File }

// recheck is called when applying a cached blob failed: if the blob does
// not match its digest, it is removed, so that the next import downloads
// it again, and the returned error says so.
func (c cachedBlob) recheck(ctx context.Context, digest string) error {
	f, err := os.Open(c.Name())
	if err != nil {
		return nil
	}
	defer f.Close()
	dr := newDigestReader(f)
	if err := drain(ctx, dr); err != nil || dr.digest() == digest {
		return nil
	}
	if err := os.Remove(c.Name()); err != nil {
		return fmt.Errorf("the cached copy %s is corrupt: %w", c.Name(), err)
	}
	return fmt.Errorf("the cached copy %s was corrupt and has been removed; import again to download it", c.Name())
}

// create returns a writer for the blob h; commit puts it in place.
func (c *blobCache) create(h v1.Hash) (*cacheWriter, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(c.dir, ".partial-*")
	if err != nil {
		return nil, err
	}
	return &cacheWriter{File: f, final: filepath.Join(c.dir, h.Hex)}, nil
}

type cacheWriter struct {
	*os.File
	final string
	err   error // first write error: the blob is then not committed
}

func (w *cacheWriter) Write(b []byte) (int, error) {
	if w.err == nil {
		_, w.err = w.File.Write(b)
	}
	return len(b), nil // a failing cache must not fail the import
}

// teeToCache copies a downloaded blob into the cache as it is read.
type teeToCache struct {
	r    io.Reader
	body io.Closer
	w    *cacheWriter
	done bool
}

func (t *teeToCache) Read(b []byte) (int, error) { return t.r.Read(b) }

// verified is called once the whole blob was read and its digest checked;
// an error means only that the blob could not be cached.
func (t *teeToCache) verified() error {
	if t.w.err != nil {
		return fmt.Errorf("write blob cache: %w", t.w.err)
	}
	if err := t.w.Sync(); err != nil {
		return fmt.Errorf("write blob cache: %w", err)
	}
	if err := os.Rename(t.w.Name(), t.w.final); err != nil {
		return fmt.Errorf("write blob cache: %w", err)
	}
	t.done = true
	return nil
}

func (t *teeToCache) Close() error {
	err := t.body.Close()
	t.w.Close()
	if !t.done {
		os.Remove(t.w.Name())
	}
	return err
}
