package tftp

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

// errTraversal refuses a name that climbs out of the TFTP root.
var errTraversal = errors.New("path leaves the TFTP root")

// BootName is the TFTP path a DHCP server gives for an iPXE binary of
// the tftp.ipxe map, as Warewulf's "wwctl configure tftp" lays it out:
// /warewulf/<base name>.
func BootName(binary string) string {
	return "/warewulf/" + path.Base(binary)
}

// DefaultIpxeDirs are where distributions install iPXE, searched after
// paths.ipxesource: Debian's ipxe package, then Enterprise Linux's and
// SUSE's.
func DefaultIpxeDirs() []string {
	return []string{"/usr/lib/ipxe", "/usr/share/ipxe"}
}

// IpxeSearchPath is where ResolveIpxe looks for iPXE binaries:
// paths.ipxesource, then dirs (DefaultIpxeDirs), each once.
func IpxeSearchPath(source string, dirs []string) []string {
	var out []string
	for _, d := range append([]string{source}, dirs...) {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// ipxeBuild is one iPXE build under the names distributions give it,
// best first, and the architecture (as uname -m says it) it boots.
type ipxeBuild struct {
	arch  string
	names []string
}

// ipxeBuilds are the builds the tftp.ipxe map names: the default map
// uses Enterprise Linux's names, Debian calls them snponly.efi and
// ipxe.efi, SUSE ipxe-x86_64.efi and snp-arm64.efi.
func ipxeBuilds() []ipxeBuild {
	return []ipxeBuild{
		{"x86_64", []string{"ipxe-snponly-x86_64.efi", "snponly.efi", "snponly-x86_64.efi", "ipxe-x86_64.efi", "ipxe.efi"}},
		{"aarch64", []string{"arm64-efi/snponly.efi", "snp-arm64.efi", "ipxe-snponly-arm64.efi", "arm64-efi/ipxe.efi", "ipxe-arm64.efi"}},
		{"x86_64", []string{"undionly.kpxe", "undionly.kkpxe"}},
	}
}

// IpxeArch is the architecture an iPXE binary of the tftp.ipxe map boots
// ("x86_64", "aarch64"), or "" for a name it does not know.
func IpxeArch(binary string) string {
	// "arm64-efi/snponly.efi" before "snponly.efi": the whole name first,
	// then an absolute path's base name.
	for _, name := range []string{strings.TrimPrefix(binary, "/"), path.Base(binary)} {
		for _, b := range ipxeBuilds() {
			if slices.Contains(b.names, name) {
				return b.arch
			}
		}
	}
	return ""
}

// equivalents lists, for a binary name of a distribution, the names the
// same build has in the others, best first.
func equivalents(name string) []string {
	for _, b := range ipxeBuilds() {
		if slices.Contains(b.names, name) {
			// The configured name first, then the rest of its build's.
			out := []string{name}
			for _, m := range b.names {
				if m != name {
					out = append(out, m)
				}
			}
			return out
		}
	}
	return []string{name}
}

// ResolveIpxe finds the file of every binary of the tftp.ipxe map: a
// relative name under source, else under dirs, else under the name the
// same binary has in another distribution. It returns the TFTP paths
// (BootName, without the leading "/") mapped to files, and the binaries
// it could not find.
func ResolveIpxe(source string, binaries map[string]string, dirs []string) (files map[string]string, missing []string) {
	files = map[string]string{}
	seen := map[string]bool{}
	for _, bin := range binaries {
		if seen[bin] {
			continue
		}
		seen[bin] = true
		if f, ok := findIpxe(source, bin, dirs); ok {
			files[strings.TrimPrefix(BootName(bin), "/")] = f
		} else {
			missing = append(missing, bin)
		}
	}
	return files, missing
}

func findIpxe(source, bin string, dirs []string) (string, bool) {
	if filepath.IsAbs(bin) && isFile(bin) {
		return bin, true
	}
	rel := strings.TrimPrefix(bin, "/")
	if filepath.IsAbs(bin) {
		rel = filepath.Base(bin)
	}
	search := IpxeSearchPath(source, dirs)
	for _, name := range equivalents(rel) {
		for _, dir := range search {
			if p := filepath.Join(dir, filepath.FromSlash(name)); isFile(p) {
				return p, true
			}
		}
	}
	return "", false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// cleanName turns a requested file name into a path relative to the
// TFTP root. Leading slashes are dropped (clients ask for "/warewulf/x"
// and "warewulf/x" alike) and backslashes count as slashes, as Windows
// boot loaders use them; any ".." component is refused rather than
// resolved.
func cleanName(name string) (string, error) {
	name = strings.ReplaceAll(name, `\`, "/")
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fs.ErrNotExist
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errTraversal
		}
	}
	clean := strings.TrimLeft(path.Clean("/"+name), "/")
	if clean == "" || clean == "." {
		return "", fs.ErrNotExist
	}
	return clean, nil
}

// open returns the file for a requested name: a file under the root when
// there is one (an administrator's copy wins), else an iPXE binary. The
// root is opened with os.OpenRoot, so a symbolic link under it cannot
// lead out either.
func (s *Server) open(name string) (*os.File, error) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	if s.o.Root != "" {
		root, err := os.OpenRoot(s.o.Root)
		if err == nil {
			f, err := root.Open(filepath.FromSlash(clean))
			root.Close()
			if err == nil {
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
					return f, nil
				}
				f.Close()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("open %s: %w", clean, err)
			}
		}
	}
	for _, key := range []string{clean, "warewulf/" + clean} {
		if p, ok := s.o.Files[key]; ok {
			return os.Open(p)
		}
	}
	return nil, fs.ErrNotExist
}

// inline returns the inline content of a requested name, if any.
func (s *Server) inline(name string) ([]byte, bool) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, false
	}
	b, ok := s.o.Inline[clean]
	return b, ok
}
