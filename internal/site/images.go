package site

import (
	"context"
	"fmt"
	"os"

	"github.com/wwboot/wwboot/internal/bootstrap"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/image"
)

// BuildOptions are what a front end may choose of an image build; the
// rest (warewulf.conf's "image excludes", the formats) is the site's.
type BuildOptions struct {
	// Force rebuilds an unchanged tree.
	Force bool
	// Uncompressed also writes the uncompressed archive. An image that
	// has one already gets it rebuilt anyway, so that it is never older
	// than the compressed ones.
	Uncompressed bool
	// Excludes are path patterns left out besides warewulf.conf's and
	// the image's own.
	Excludes []string
	// HybridPath turns excluded paths into links into this directory.
	HybridPath string
	// Progress is called with bytes done and total; nil shows nothing.
	Progress func(done, total int64)
}

// ImageBuild is what BuildImage did.
type ImageBuild struct {
	*image.BuildResult
	// Bootstraps are the two-stage boot bootstraps made after the build.
	Bootstraps []Bootstrap
	// Warnings say what went wrong after the image itself was built.
	Warnings []string
}

// Bootstrap is the bootstrap initramfs made for one kernel of an image.
type Bootstrap struct {
	Kernel string
	*bootstrap.Result
}

// BuildImage builds an image's boot archives (gzip and zstd, and plain
// with o.Uncompressed or when the image has a plain archive already: a
// node booting with IPXEMenuEntry=initrd_nocompress must not get a stale
// one) and then, when the stage-one program is installed
// and the image has a kernel, the bootstraps of two-stage boot. The
// bootstrap is the image's companion: a failure to make it is a warning,
// as two-stage boot of the image falls back to its own initramfs. An
// unchanged image (Skipped) gets no new bootstrap.
func (s *Site) BuildImage(ctx context.Context, name string, o BuildOptions) (*ImageBuild, error) {
	if !s.images.Exists(name) {
		return nil, fmt.Errorf("image %q does not exist", name)
	}
	formats := []compress.Format{compress.Gzip, compress.Zstd}
	if _, err := os.Lstat(s.images.Archive(name) + ".img"); err == nil {
		o.Uncompressed = true
	}
	if o.Uncompressed {
		formats = append([]compress.Format{compress.None}, formats...)
	}
	res, err := s.images.Build(ctx, name, image.BuildOptions{
		Formats: formats, Excludes: append(append([]string(nil), s.cfg.ImageExcludes...), o.Excludes...),
		HybridPath: o.HybridPath, Force: o.Force, Progress: o.Progress, Log: s.log,
	})
	if err != nil {
		return nil, err
	}
	out := &ImageBuild{BuildResult: res}
	if res.Skipped {
		return out, nil
	}
	if _, err := bootstrap.FindStage1(s.stage1Paths("")); err != nil {
		s.log.Info("no bootstrap made for two-stage boot", "image", name, "err", err)
		return out, nil
	}
	// Stage one is installed, but perhaps not for this image's
	// architecture: said loudly, as two-stage boot of the image then
	// falls back to its own initramfs.
	a := s.imageArch(name)
	if _, err := bootstrap.FindStage1For(s.stage1Paths(a), a); err != nil {
		msg := fmt.Sprintf("bootstrap for two-stage boot of image %s (%s) not made: %v", name, a, err)
		s.log.Warn(msg)
		out.Warnings = append(out.Warnings, msg)
		return out, nil
	}
	if ks, err := image.Kernels(s.images.RootFS(name)); err != nil || len(ks) == 0 {
		s.log.Info("no bootstrap made for two-stage boot: the image has no kernel", "image", name)
		return out, nil
	}
	bs, err := s.BuildBootstrap(ctx, name, "")
	out.Bootstraps = bs
	if err != nil {
		s.log.Warn("bootstrap for two-stage boot not made", "image", name, "err", err)
		out.Warnings = append(out.Warnings, fmt.Sprintf("bootstrap for two-stage boot not made: %v", err))
	}
	return out, nil
}

// stage1Paths lists where the stage one for images of architecture a
// ("": the server's) is looked for.
func (s *Site) stage1Paths(a string) []string {
	return bootstrap.Stage1PathsFor(s.exe, s.getenv("WWSTAGE1"), a)
}

// imageArch is the image's architecture, "" when not known.
func (s *Site) imageArch(name string) string {
	info, err := s.images.Arch(name)
	if err != nil {
		return ""
	}
	return info.Arch
}

// BuildBootstrap makes the bootstraps of two-stage boot for each kernel
// of an image, or for the kernel version given, from bootstrap.conf's
// selection. It returns those made before any failure.
func (s *Site) BuildBootstrap(ctx context.Context, name, version string) ([]Bootstrap, error) {
	if !s.images.Exists(name) {
		return nil, fmt.Errorf("image %q does not exist", name)
	}
	a := s.imageArch(name)
	stage1, err := bootstrap.FindStage1For(s.stage1Paths(a), a)
	if err != nil {
		if a == "" {
			return nil, fmt.Errorf("bootstrap of image %s: %w", name, err)
		}
		return nil, fmt.Errorf("bootstrap of image %s (%s): %w", name, a, err)
	}
	conf, err := bootstrap.Load(s.BootstrapConf())
	if err != nil {
		return nil, err
	}
	var mtime int64
	epoch, err := s.sourceDateEpoch()
	if err != nil {
		return nil, err
	}
	if epoch != nil {
		mtime = epoch.Unix()
	}
	root := s.images.RootFS(name)
	kernels, err := image.Kernels(root)
	if err != nil {
		return nil, fmt.Errorf("bootstrap of image %s: %w", name, err)
	}
	var versions []string
	if version != "" {
		k, err := image.FindKernel(kernels, version)
		if err != nil {
			return nil, fmt.Errorf("bootstrap of image %s: %w", name, err)
		}
		versions = append(versions, k.Version)
	} else {
		for _, k := range kernels {
			versions = append(versions, k.Version)
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("bootstrap of image %s: the image has no kernel", name)
	}
	var out []Bootstrap
	for _, v := range versions {
		res, err := bootstrap.Build(ctx, bootstrap.Options{
			Root: root, Version: v, Config: conf, Stage1: stage1,
			Out: bootstrap.OutName(s.images.Archive(name), v, conf.Compress), ModTime: mtime, Log: s.log,
		})
		if err != nil {
			return out, fmt.Errorf("image %s: %w", name, err)
		}
		out = append(out, Bootstrap{Kernel: v, Result: res})
	}
	return out, nil
}
