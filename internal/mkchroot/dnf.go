package mkchroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// dnfRecipe is an RPM distribution release installed by dnf --installroot.
type dnfRecipe struct {
	releasever string
	mirror     string // default base URL of the repositories
	repos      []dnfRepo
	// gpgKey is the signing key's URL; relative ones are under the mirror.
	gpgKey string
}

// dnfRepo is one repository: its path under the mirror, where {arch}
// stands for the RPM architecture.
type dnfRepo struct{ id, path string }

func rocky9() dnfRecipe {
	return dnfRecipe{releasever: "9", mirror: "https://dl.rockylinux.org/pub/rocky",
		repos: []dnfRepo{
			{"wwboot-baseos", "9/BaseOS/{arch}/os/"},
			{"wwboot-appstream", "9/AppStream/{arch}/os/"},
		},
		gpgKey: "RPM-GPG-KEY-Rocky-9"}
}

func alma9() dnfRecipe {
	return dnfRecipe{releasever: "9", mirror: "https://repo.almalinux.org/almalinux",
		repos: []dnfRepo{
			{"wwboot-baseos", "9/BaseOS/{arch}/os/"},
			{"wwboot-appstream", "9/AppStream/{arch}/os/"},
		},
		gpgKey: "RPM-GPG-KEY-AlmaLinux-9"}
}

func fedora42() dnfRecipe {
	return dnfRecipe{releasever: "42", mirror: "https://dl.fedoraproject.org/pub/fedora/linux",
		repos: []dnfRepo{
			{"wwboot-fedora", "releases/42/Everything/{arch}/os/"},
			{"wwboot-updates", "updates/42/Everything/{arch}/"},
		},
		gpgKey: "https://src.fedoraproject.org/rpms/fedora-repos/raw/f42/f/RPM-GPG-KEY-fedora-42-primary"}
}

// rpmArch is the RPM name of a Go architecture.
func rpmArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	default: // ppc64le, s390x, riscv64
		return goarch
	}
}

func (d dnfRecipe) missing(h host) []string {
	var m []string
	if _, err := findTool(h, "dnf"); err != nil {
		m = append(m, "dnf (on EL and Fedora it is the system's; on Debian: apt-get install dnf)")
	}
	return append(m, needRoot(h, "dnf --installroot")...)
}

// argv is the dnf command line. The host's own repositories are left out
// (--repo selects only ours) and every package is signature-checked.
func (d dnfRecipe) argv(tool, goarch, dest, mirror string, extra []string) []string {
	if mirror == "" {
		mirror = d.mirror
	}
	mirror = strings.TrimRight(mirror, "/")
	key := d.gpgKey
	if !strings.Contains(key, "://") {
		key = mirror + "/" + key
	}
	argv := []string{tool, "--installroot=" + dest, "--releasever=" + d.releasever,
		"--setopt=install_weak_deps=False", "--setopt=keepcache=False"}
	for _, r := range d.repos {
		url := mirror + "/" + strings.ReplaceAll(r.path, "{arch}", rpmArch(goarch))
		argv = append(argv, "--repofrompath="+r.id+","+url, "--repo="+r.id,
			"--setopt="+r.id+".gpgcheck=1", "--setopt="+r.id+".gpgkey="+key)
	}
	argv = append(argv, "-y", "install", "@core", "kernel")
	return append(argv, extra...)
}

func (d dnfRecipe) create(ctx context.Context, h host, dest string, opts Options) error {
	for _, p := range opts.Packages {
		if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n") {
			return fmt.Errorf("package %q: not a package name", p)
		}
	}
	tool, err := findTool(h, "dnf")
	if err != nil {
		return err
	}
	if err := runTool(ctx, opts, d.argv(tool, h.goarch, dest, opts.Mirror, opts.Packages)); err != nil {
		return err
	}
	caches, _ := filepath.Glob(filepath.Join(dest, "var", "cache", "dnf", "*"))
	for _, c := range caches {
		if err := os.RemoveAll(c); err != nil {
			return fmt.Errorf("clean package cache: %w", err)
		}
	}
	if err := resetIdentity(dest); err != nil {
		return fmt.Errorf("reset node identity: %w", err)
	}
	return nil
}
