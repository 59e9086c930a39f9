package image

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// legacyKernelName is what Warewulf 4.5 accepted as the name of a kernel
// imported with "wwctl kernel import".
var legacyKernelName = regexp.MustCompile(`^[a-zA-Z0-9-._]+$`)

// legacyVersionText is where Warewulf finds a version in a kernel's path
// or in an imported kernel's version file.
var legacyVersionText = regexp.MustCompile(`\d+\.\d+\.\d+(-[\d.]+|)`)

// ResolveKernelOverride finds the kernel in image that a Warewulf 4.5
// kernel override names, as Warewulf's "upgrade nodes" does: override is
// a kernel imported with "wwctl kernel import", whose version Warewulf
// 4.5 kept in <wwprovisiondir>/kernel/<override>/version, and the
// image's kernel whose path holds the same version is the one (the last
// in the image's order when several do); an override that is no such
// kernel but a file in the image is that file. It returns the kernel's
// path inside the image, for "kernel: version".
func (im *Images) ResolveKernelOverride(image, override string) (string, bool) {
	if image == "" || override == "" {
		return "", false
	}
	root := im.RootFS(image)
	if legacyKernelName.MatchString(override) && override != "." && override != ".." {
		if text, err := os.ReadFile(filepath.Join(im.Provision, "kernel", override, "version")); err == nil {
			if want := legacyVersion(string(text)); want != "" {
				kernels, _ := Kernels(root)
				found := ""
				for _, k := range kernels {
					if legacyVersion(k.Path) == want {
						found = k.Path
					}
				}
				if found != "" {
					return found, true
				}
			}
		}
	}
	if rel := filepath.Clean("/" + override); rel != "/" {
		if st, err := os.Stat(filepath.Join(root, rel)); err == nil && st.Mode().IsRegular() {
			return rel, true
		}
	}
	return "", false
}

// legacyVersion is the version Warewulf reads from s, normalized as it
// compares versions: the first match of legacyVersionText that is a
// version (numbers without leading zeros, then "-" and the pre-release
// part of dot-separated non-empty identifiers), "" when none is.
func legacyVersion(s string) string {
	for _, m := range legacyVersionText.FindAllString(s, -1) {
		m = strings.TrimSuffix(m, ".")
		main, pre, hasPre := strings.Cut(m, "-")
		parts := strings.Split(main, ".")
		ok := true
		for i, p := range parts {
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				ok = false
				break
			}
			parts[i] = strconv.FormatInt(n, 10)
		}
		if hasPre {
			for _, id := range strings.Split(pre, ".") {
				if id == "" {
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		v := strings.Join(parts, ".")
		if hasPre {
			v += "-" + pre
		}
		return v
	}
	return ""
}
