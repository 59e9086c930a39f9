package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Kernel is a kernel found inside an image.
type Kernel struct {
	// Path is the kernel's path inside the image, absolute, as found
	// (symlinks in it are not resolved).
	Path string
	// Version is the kernel release, from the path: "6.1.0-28-amd64",
	// "5.14.0-427.13.1.el9_4.x86_64".
	Version string
	// Default marks the kernel a node boots when it names no version.
	Default bool
}

// kernelPattern is a place Warewulf looks for kernels in an image. The
// version is path component versionAt (counted from 0 after the root)
// without prefix.
type kernelPattern struct {
	glob      string
	versionAt int
	prefix    string
}

// kernelPatterns returns the kernel patterns in order of preference
// between two kernels of the same version.
func kernelPatterns() []kernelPattern {
	return []kernelPattern{
		{"/boot/vmlinuz-*", 1, "vmlinuz-"}, // also Arch's vmlinuz-linux*
		{"/boot/Image-*", 1, "Image-"},
		{"/lib/modules/*/vmlinuz", 2, ""},
		{"/lib/modules/*/vmlinuz.gz", 2, ""},
	}
}

// Kernels returns the kernels in the image whose root filesystem is at
// root, sorted by version (lowest first; same versions in the order of
// the patterns, then by path). They are the regular files, or symlinks to
// regular files, matching /boot/vmlinuz-*, /boot/Image-*,
// /lib/modules/*/vmlinuz and /lib/modules/*/vmlinuz.gz, leaving out
// checksum and signature files (.hmac, .sig). Symlinks are resolved inside
// root, as in a chroot, never on the host. Arch's /boot/vmlinuz-linux*,
// whose name has no version, get the version of the modules directory
// whose pkgbase names them.
//
// The Default kernel is the one of the highest version (compared number
// by number: 6.1.0-10 is above 6.1.0-9) that is not a debug ("+debug")
// or rescue kernel. No kernel is no error; a root that is not a directory
// is.
func Kernels(root string) ([]Kernel, error) {
	type found struct {
		Kernel
		pattern int
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("find kernels: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("find kernels: %s is not a directory", root)
	}
	var all []found
	seen := map[string]bool{}
	for i, p := range kernelPatterns() {
		matches, err := GlobIn(root, p.glob)
		if err != nil {
			return nil, fmt.Errorf("find kernels in %s: %w", root, err)
		}
		for _, m := range matches {
			if seen[m] || isChecksumFile(m) {
				continue
			}
			seen[m] = true
			version := strings.TrimPrefix(strings.Split(m, "/")[p.versionAt+1], p.prefix)
			if p.prefix == "vmlinuz-" && strings.HasPrefix(version, "linux") {
				version = archVersion(root, version)
			}
			all = append(all, found{Kernel{Path: m, Version: version}, i})
		}
	}
	slices.SortStableFunc(all, func(a, b found) int {
		if c := compareVersions(a.Version, b.Version); c != 0 {
			return c
		}
		if a.pattern != b.pattern {
			return a.pattern - b.pattern
		}
		return strings.Compare(a.Path, b.Path)
	})
	if len(all) == 0 {
		return nil, nil
	}
	kernels := make([]Kernel, len(all))
	best := -1
	for i, f := range all {
		kernels[i] = f.Kernel
		if !isDebugOrRescue(&f.Kernel) && (best < 0 || compareVersions(f.Version, kernels[best].Version) > 0) {
			best = i
		}
	}
	if best >= 0 {
		kernels[best].Default = true
	}
	return kernels, nil
}

// FindKernel picks the kernel a node asks for with version, its
// kernel.version setting, from kernels (as returned by Kernels):
//
//   - "" picks the Default kernel;
//   - an absolute path picks the kernel at that path;
//   - an exact version picks the kernel of that version (debug ones too);
//   - otherwise the highest non-debug kernel whose version starts with
//     version: "6.1" picks 6.1.0-28-amd64 over 6.1.0-9-amd64.
//
// The result points into kernels. Nothing found is an error naming what
// was asked for and what the image has.
func FindKernel(kernels []Kernel, version string) (*Kernel, error) {
	if version == "" {
		for i := range kernels {
			if kernels[i].Default {
				return &kernels[i], nil
			}
		}
		if len(kernels) == 0 {
			return nil, errors.New("no kernel in the image")
		}
		return nil, fmt.Errorf("no default kernel in the image: only debug or rescue kernels (%s)", kernelVersions(kernels))
	}
	if path.IsAbs(version) {
		p := path.Clean(version)
		for i := range kernels {
			if kernels[i].Path == p {
				return &kernels[i], nil
			}
		}
		return nil, fmt.Errorf("no kernel at %s in the image (kernels: %s)", p, kernelVersions(kernels))
	}
	for i := range kernels {
		if kernels[i].Version == version {
			return &kernels[i], nil
		}
	}
	best := -1
	for i := range kernels {
		k := &kernels[i]
		if isDebug(k) || !strings.HasPrefix(k.Version, version) {
			continue
		}
		if best < 0 || compareVersions(k.Version, kernels[best].Version) > 0 {
			best = i
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("no kernel version %q in the image (kernels: %s)", version, kernelVersions(kernels))
	}
	return &kernels[best], nil
}

func kernelVersions(kernels []Kernel) string {
	if len(kernels) == 0 {
		return "none"
	}
	var vs []string
	for _, k := range kernels {
		if !slices.Contains(vs, k.Version) {
			vs = append(vs, k.Version)
		}
	}
	return strings.Join(vs, ", ")
}

func isDebug(k *Kernel) bool {
	return strings.Contains(k.Version, "+debug") || strings.HasSuffix(k.Version, "-debug")
}

func isDebugOrRescue(k *Kernel) bool {
	return isDebug(k) || strings.Contains(k.Version, "rescue")
}

func isChecksumFile(p string) bool {
	for _, ext := range []string{".hmac", ".sig", ".sha256", ".asc"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

// archVersion returns the version of the modules directory whose pkgbase
// file names the Arch kernel package pkg ("linux", "linux-lts"), or pkg.
func archVersion(root, pkg string) string {
	for _, dir := range []string{"/usr/lib/modules", "/lib/modules"} {
		matches, err := GlobIn(root, dir+"/*/pkgbase")
		if err != nil {
			continue
		}
		for _, m := range matches {
			host, err := resolveIn(root, m)
			if err != nil {
				continue
			}
			data, err := os.ReadFile(host)
			if err == nil && strings.TrimSpace(string(data)) == pkg {
				return path.Base(path.Dir(m))
			}
		}
	}
	return pkg
}

// GlobIn returns the paths inside the image at root (absolute, as seen
// from inside) that match pattern and are regular files or symlinks to
// them, in sorted order. Symlinks are followed inside root.
func GlobIn(root, pattern string) ([]string, error) {
	paths := []string{"/"}
	parts := strings.Split(strings.Trim(pattern, "/"), "/")
	for _, part := range parts {
		var next []string
		for _, dir := range paths {
			if !strings.ContainsAny(part, "*?[\\") {
				next = append(next, path.Join(dir, part))
				continue
			}
			host, err := resolveIn(root, dir)
			if err != nil {
				continue
			}
			entries, err := os.ReadDir(host)
			if err != nil {
				continue
			}
			for _, e := range entries {
				ok, err := path.Match(part, e.Name())
				if err != nil {
					return nil, err
				}
				if ok && !strings.HasPrefix(e.Name(), ".") {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		paths = next
	}
	var out []string
	for _, p := range paths {
		host, err := resolveIn(root, p)
		if err != nil {
			continue
		}
		if st, err := os.Stat(host); err == nil && st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// resolveIn returns the host path of p, a path inside the image at root,
// with every symlink on the way resolved as it would be in a chroot: an
// absolute target starts again at root, and ".." stops at root. The last
// component is resolved too.
func resolveIn(root, p string) (string, error) {
	parts, err := resolveParts(root, p)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.Join(parts...)), nil
}

// resolveParts is resolveIn's answer as the components below root.
func resolveParts(root, p string) ([]string, error) {
	const maxLinks = 40
	var resolved []string // components below root, all resolved
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		host := filepath.Join(root, filepath.Join(resolved...), part)
		st, err := os.Lstat(host)
		if err != nil {
			return nil, err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			resolved = append(resolved, part)
			continue
		}
		if links++; links > maxLinks {
			return nil, fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(target, "/") {
			resolved = resolved[:0]
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return resolved, nil
}

// OpenIn opens p, a path inside the image at root (a kernel, say), with
// symlinks resolved as in a chroot and ext appended to the resolved name
// (".gz" for a pre-compressed kernel). The open goes through os.OpenRoot,
// so nothing outside root is ever opened, even if the tree changes under
// it. It also returns the resolved name, relative to root.
func OpenIn(root, p, ext string) (*os.File, string, error) {
	parts, err := resolveParts(root, p)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return nil, "", fmt.Errorf("%s is the image root", p)
	}
	rel := path.Join(parts...) + ext
	rt, err := os.OpenRoot(root)
	if err != nil {
		return nil, "", err
	}
	defer rt.Close()
	f, err := rt.Open(rel)
	return f, rel, err
}

// compareVersions orders kernel versions as rpm does: split into runs of
// digits and runs of letters (anything else separates them), numbers
// compared as numbers, letters as text, a number above letters, and a
// version that goes on above one that stopped.
func compareVersions(a, b string) int {
	for {
		a = strings.TrimLeftFunc(a, isSeparator)
		b = strings.TrimLeftFunc(b, isSeparator)
		if a == "" || b == "" {
			switch {
			case a == b:
				return 0
			case a == "":
				return -1
			}
			return 1
		}
		sa, ra := versionSegment(a)
		sb, rb := versionSegment(b)
		numA, numB := isDigit(sa[0]), isDigit(sb[0])
		if numA != numB {
			if numA {
				return 1
			}
			return -1
		}
		var c int
		if numA {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if c = len(sa) - len(sb); c == 0 {
				c = strings.Compare(sa, sb)
			}
		} else {
			c = strings.Compare(sa, sb)
		}
		if c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		a, b = ra, rb
	}
}

// versionSegment splits the leading run of digits or of letters off s,
// which starts with one.
func versionSegment(s string) (string, string) {
	digits := isDigit(s[0])
	i := 1
	for i < len(s) && !isSeparator(rune(s[i])) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isSeparator(r rune) bool {
	return !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
}
