package tftp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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

// equivalents lists, for a binary name of a distribution, the names the
// same build has in the others, best first: the default map uses
// Enterprise Linux's names, Debian calls them snponly.efi and ipxe.efi,
// SUSE ipxe-x86_64.efi and snp-arm64.efi.
func equivalents(name string) []string {
	x64 := []string{"ipxe-snponly-x86_64.efi", "snponly.efi", "snponly-x86_64.efi", "ipxe-x86_64.efi", "ipxe.efi"}
	arm64 := []string{"arm64-efi/snponly.efi", "snp-arm64.efi", "ipxe-snponly-arm64.efi", "arm64-efi/ipxe.efi", "ipxe-arm64.efi"}
	for _, group := range [][]string{x64, arm64, {"undionly.kpxe", "undionly.kkpxe"}} {
		for _, n := range group {
			if n == name {
				// The configured name first, then the rest of its group.
				out := []string{name}
				for _, m := range group {
					if m != name {
						out = append(out, m)
					}
				}
				return out
			}
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
	search := append([]string{source}, dirs...)
	for _, name := range equivalents(rel) {
		for _, dir := range search {
			if dir == "" {
				continue
			}
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
