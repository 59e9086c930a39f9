package site

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/oci"
)

// ImportOptions are what a front end may choose of an image import; the
// limits (warewulf.conf's "image import") and the download cache are the
// site's.
type ImportOptions struct {
	// Replace replaces an image of that name; without it (or Update) an
	// existing image is an error.
	Replace bool
	// Update applies the source over a copy of the existing image
	// instead of replacing it.
	Update bool
	// Username and Password are registry credentials.
	Username, Password string
	// NoHTTPS talks plain HTTP to the registry, or HTTPS without
	// verifying its certificate.
	NoHTTPS bool
	// Platform chooses the image of a multi-platform index ("linux/arm64").
	Platform string
	// Progress is called with bytes done and total; nil shows nothing.
	Progress func(done, total int64)
}

// ImportImage imports source (a registry reference, an OCI layout or
// archive, a docker-archive, a root filesystem tarball or a directory)
// as image name. The import is made beside the images and put in place
// only when it succeeds, so a failed import changes nothing. A source
// over one of the import limits is refused with the warewulf.conf key
// that raises it.
func (s *Site) ImportImage(ctx context.Context, source, name string, o ImportOptions) (*oci.Info, error) {
	limits := s.importLimits()
	var base func(string) error
	if o.Update {
		base = func(dst string) error {
			_, err := oci.Import(ctx, s.images.RootFS(name), dst, oci.Options{Log: s.log, Limits: limits})
			return err
		}
	}
	opts := oci.Options{
		Username: o.Username, Password: o.Password, NoHTTPS: o.NoHTTPS, Platform: o.Platform,
		CacheDir: s.CacheDir(), Log: s.log, Update: o.Update, Limits: limits,
	}
	if o.Progress != nil {
		opts.Progress = func(_ string, done, total int64) { o.Progress(done, total) }
	}
	var info *oci.Info
	err := s.images.Install(name, o.Replace || o.Update, base, func(dst string) error {
		var err error
		info, err = oci.Import(ctx, source, dst, opts)
		return err
	})
	if err != nil {
		return nil, limitHint(err)
	}
	if err := s.recordImportArch(name, info.Platform); err != nil {
		return info, err
	}
	return info, nil
}

// recordImportArch records the architecture of an imported image: the
// platform of its OCI config when it has one, else what its programs
// say. The next build reads the programs again; they win over the
// platform.
func (s *Site) recordImportArch(name, platform string) error {
	if platform != "" {
		a, err := image.ArchFromPlatform(platform)
		if err == nil {
			return s.images.SetArch(name, image.ArchInfo{Arch: a, Source: "oci platform " + platform})
		}
		s.log.Warn("image platform has no known architecture: reading its programs", "image", name, "platform", platform, "err", err)
	}
	// Whatever the image of that name had recorded (Install keeps the
	// files beside rootfs) is not this tree's.
	if err := s.images.SetArch(name, image.ArchInfo{}); err != nil {
		return err
	}
	info, err := s.images.RecordArch(name, s.log.Warn)
	if info.Arch == "" {
		s.log.Warn("the architecture of the image is not known", "image", name, "why", info.Source)
	}
	return err
}

// CopyImage copies image from to a new image to, under the same limits
// as an import.
func (s *Site) CopyImage(ctx context.Context, from, to string) error {
	if !s.images.Exists(from) {
		return fmt.Errorf("image %q does not exist", from)
	}
	err := s.images.Install(to, false, nil, func(dst string) error {
		_, err := oci.Import(ctx, s.images.RootFS(from), dst, oci.Options{Log: s.log, Limits: s.importLimits()})
		return err
	})
	if err != nil {
		return limitHint(err)
	}
	return s.recordImportArch(to, "")
}

// importLimits are warewulf.conf's "image import" limits.
func (s *Site) importLimits() oci.Limits {
	c := s.cfg.ImageImport
	return oci.Limits{
		MaxSize:       int64(c.MaxSizeGiB) << 30,
		MaxEntries:    int64(c.MaxEntries),
		MaxPathLength: c.MaxPathLength,
		MaxDepth:      c.MaxDepth,
	}
}

// limitHint adds to an import refused for one of the importLimits the
// warewulf.conf key that raises it.
func limitHint(err error) error {
	var le *oci.LimitError
	if !errors.As(err, &le) {
		return err
	}
	key := map[string]string{
		oci.LimitSize:       "max size gib",
		oci.LimitEntries:    "max entries",
		oci.LimitPathLength: "max path length",
		oci.LimitDepth:      "max depth",
	}[le.Limit]
	if key == "" {
		return err
	}
	return fmt.Errorf("%w (the limit is \"image import: %s\" in warewulf.conf)", err, key)
}

// DefaultImageName is Warewulf's name for an image imported from source:
// the last element of the source, without an archive extension.
func DefaultImageName(source string) string {
	s := strings.TrimSuffix(source, "/")
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i:], "/") && strings.HasPrefix(source, "oci") {
		s = s[i+1:]
	}
	s = path.Base(s)
	for _, ext := range []string{".tar.gz", ".tar.zst", ".tgz", ".tar"} {
		s = strings.TrimSuffix(s, ext)
	}
	return s
}
