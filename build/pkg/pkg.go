package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// describeRE reads "git describe --tags --always --dirty": a tag
// (v1.2.3), commits since it and the commit, or only the commit.
// A bare commit (7 or more hex digits, no dot) is tried first, so that
// "4a63c37" is not read as a tag.
var describeRE = regexp.MustCompile(`^(?:([0-9a-f]{7,40})|v?(\d+(?:\.[0-9A-Za-z]+)*)(?:-(\d+)-g([0-9a-f]+))?)(-dirty)?$`)

// PackageVersion maps what git describe says to a version dpkg and rpm
// both order by history: a tag as is, "+N.gHASH" after it for N commits
// since, and 0.0.0+COUNT.gHASH (COUNT commits in all) with no tag.
func PackageVersion(describe string, commits int) (string, error) {
	m := describeRE.FindStringSubmatch(describe)
	if m == nil {
		return "", fmt.Errorf("version %q: want what git describe --tags --always --dirty prints (v1.2.3, v1.2.3-4-gabc1234, abc1234)", describe)
	}
	var v string
	switch {
	case m[1] != "":
		if commits <= 0 {
			return "", fmt.Errorf("version %q has no tag: the number of commits is needed", describe)
		}
		v = fmt.Sprintf("0.0.0+%d.g%s", commits, m[1])
	case m[3] != "":
		v = fmt.Sprintf("%s+%s.g%s", m[2], m[3], m[4])
	default:
		v = m[2]
	}
	if m[5] != "" {
		v += ".dirty"
	}
	return v, nil
}

var archNames = map[string]map[string]string{
	"deb": {"amd64": "amd64", "arm64": "arm64"},
	"rpm": {"amd64": "x86_64", "arm64": "aarch64"},
}

// Info is the nfpm description of the package of entries installed
// into staged: contents, dependencies and scripts (the scripts are
// written into scriptsDir). mtime is every file's time.
func Info(format, version, goarch, staged string, entries []Entry, scriptsDir string, mtime time.Time) (*nfpm.Info, error) {
	arch, ok := archNames[format][goarch]
	if !ok {
		return nil, fmt.Errorf("package %s for %s: unknown format or architecture", format, goarch)
	}
	var contents files.Contents
	for _, e := range entries {
		if e.UID != 0 || e.GID != 0 {
			return nil, fmt.Errorf("%s: owner %d:%d: the packages hold only root's files", e.Path, e.UID, e.GID)
		}
		c := &files.Content{Destination: e.Path,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: e.Mode, MTime: mtime}}
		switch e.Kind {
		case Dir:
			c.Type = files.TypeDir
		case Symlink:
			c.Type, c.Source = files.TypeSymlink, e.Target
			c.FileInfo.Mode = 0
		case File:
			c.Source = filepath.Join(staged, filepath.FromSlash(e.Path))
			if e.Config {
				c.Type = files.TypeConfigNoReplace
			}
		}
		contents = append(contents, c)
	}
	info := &nfpm.Info{
		Name:          "wwboot",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "wwboot developers <wwboot@localhost>",
		Description: "Stateless cluster provisioning (Warewulf v4 compatible)\n" +
			"wwctl administers nodes, profiles, images and overlays; \"wwctl server\"\n" +
			"(warewulfd.service) boots the nodes over DHCP, TFTP and HTTP into an OS\n" +
			"image in RAM. Enable it with \"systemctl enable --now warewulfd\".",
		Vendor:   "wwboot",
		Homepage: "https://warewulf.org/",
		License:  "BSD-3-Clause",
		MTime:    mtime,
	}
	info.Contents = contents
	for _, name := range []string{"postinst.sh", "prerm.sh", "postrm.sh"} {
		data, err := shipped.ReadFile("files/" + name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(scriptsDir, name), data, 0o755); err != nil {
			return nil, err
		}
	}
	info.Scripts = nfpm.Scripts{
		PostInstall: filepath.Join(scriptsDir, "postinst.sh"),
		PreRemove:   filepath.Join(scriptsDir, "prerm.sh"),
		PostRemove:  filepath.Join(scriptsDir, "postrm.sh"),
	}
	switch format {
	case "deb":
		// The daemon's TFTP serves /usr/lib/ipxe (tftp.ipxe); the unit's
		// reload runs /bin/kill, which minimal systems lack.
		info.Depends = []string{"ipxe", "procps"}
		info.Suggests = []string{"dnsmasq", "isc-dhcp-server", "kea-dhcp4-server", "nfs-kernel-server", "ipmitool"}
	case "rpm":
		info.Release = "1"
		info.Depends = []string{"ipxe-bootimgs-x86", "procps-ng"}
		info.Recommends = []string{"ipxe-bootimgs-aarch64", "ipmitool"}
		info.Suggests = []string{"dnsmasq", "kea", "dhcp-server", "nfs-utils"}
		info.RPM.Group = "System Environment/Clustering"
		info.RPM.Summary = "Stateless cluster provisioning (Warewulf v4 compatible)"
		info.RPM.Packager = info.Maintainer
		// rpm's own build id changes with the build host otherwise.
		info.RPM.BuildHost = "wwboot"
	}
	return nfpm.WithDefaults(info), nil
}

// Build writes the package described by info to path.
func Build(format string, info *nfpm.Info, path string) error {
	p, err := nfpm.Get(format)
	if err != nil {
		return err
	}
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return fmt.Errorf("package %s: %w", format, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("package %s: %w", path, err)
	}
	return f.Close()
}

// FileName is Debian's and rpm's conventional name of the package.
func FileName(format, version, goarch string) string {
	arch := archNames[format][goarch]
	if format == "rpm" {
		return "wwboot-" + version + "-1." + arch + ".rpm"
	}
	return "wwboot_" + version + "_" + arch + ".deb"
}
