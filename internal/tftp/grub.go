package tftp

import (
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/contract"
)

// Loader is the pair of files a UEFI client boots through when it boots
// GRUB: shim, which the firmware verifies against Microsoft's keys, and
// the GRUB that shim loads (and verifies against the distribution's).
// Names are TFTP paths without the leading "/", as Files keys them.
type Loader struct {
	Shim, Grub string
}

// GrubLoader is where the shim and GRUB of an option 93 architecture
// code are served, in Warewulf's layout: <tftproot>/warewulf/shim.efi
// and grubx64.efi for x86-64 UEFI (PXE 7 and 9, HTTP 16), shimaa64.efi
// and grubaa64.efi for arm64 (PXE 11, HTTP 19), shimia32.efi and
// grubia32.efi for x86 UEFI (PXE 6, HTTP 15). GRUB's name is fixed: shim
// loads the file of that name from the directory it came from. BIOS and
// other architectures have none (ok false).
func GrubLoader(code string) (l Loader, ok bool) {
	switch strings.ToUpper(code) {
	case "00:07", "00:09", "00:10":
		return Loader{"warewulf/shim.efi", "warewulf/grubx64.efi"}, true
	case "00:0B", "00:13":
		return Loader{"warewulf/shimaa64.efi", "warewulf/grubaa64.efi"}, true
	case "00:06", "00:0F":
		return Loader{"warewulf/shimia32.efi", "warewulf/grubia32.efi"}, true
	}
	return Loader{}, false
}

// GrubConfigNames are the TFTP paths of the grub.cfg GRUB reads first:
// Warewulf's, next to the loaders, and the one Debian's signed network
// GRUB (grubnetx64.efi.signed, prefix /grub) asks for.
func GrubConfigNames() []string {
	return []string{"warewulf/grub.cfg", "grub/grub.cfg"}
}

// loaderDirs are where distributions install signed loaders, searched
// after an absolute path: Debian's shim-signed and grub-efi-*-signed,
// then the directories Warewulf searches (Enterprise Linux, SUSE, an EFI
// system partition). Entries may be globs.
func loaderDirs() []string {
	return []string{"/usr/lib/shim", "/usr/lib/grub/x86_64-efi-signed", "/usr/lib/grub/arm64-efi-signed",
		"/usr/share/efi/*", "/usr/lib64/efi", "/usr/share/grub2/*-efi", "/boot/efi/EFI/*"}
}

// loaderEquivalents lists the names a loader has in distributions, best
// first: Debian installs the signed file as <name>.signed next to an
// unsigned <name>, and names its network GRUB grubnet<arch>.efi;
// Enterprise Linux and SUSE call shim shim.efi.
func loaderEquivalents(name string) []string {
	base := filepath.Base(name)
	switch base {
	case "shimx64.efi", "shim.efi":
		return []string{"shimx64.efi.signed", base, "shimx64.efi", "shim.efi", "shim-sles.efi", "shim-susesigned.efi"}
	case "shimaa64.efi":
		return []string{"shimaa64.efi.signed", base}
	case "shimia32.efi":
		return []string{"shimia32.efi.signed", base}
	case "grubx64.efi", "grub.efi":
		return []string{"grubnetx64.efi.signed", base, "grubx64.efi.signed", "grubx64.efi", "grub.efi", "grub-tpm.efi"}
	case "grubaa64.efi":
		return []string{"grubnetaa64.efi.signed", base, "grubaa64.efi.signed"}
	case "grubia32.efi":
		return []string{"grubnetia32.efi.signed", base, "grubia32.efi.signed"}
	}
	return []string{base + ".signed", base}
}

// FindLoader finds the file of a shim or GRUB of the tftp.shim or
// tftp.grub map under root ("" or "/" for this server, else an image's
// root filesystem): an absolute path as it is, else the name or one of
// its equivalents in the distributions' directories (LoaderSearchPath).
func FindLoader(root, name string) (file string, ok bool) {
	if filepath.IsAbs(name) {
		p := filepath.Join(root, name)
		return p, isFile(p)
	}
	for _, dir := range loaderDirs() {
		dirs, _ := filepath.Glob(filepath.Join(root, dir))
		slices.Sort(dirs)
		for _, d := range dirs {
			for _, n := range loaderEquivalents(name) {
				if p := filepath.Join(d, n); isFile(p) {
					return p, true
				}
			}
		}
	}
	return "", false
}

// LoaderSearchPath is where FindLoader looks for a bare name, for
// messages.
func LoaderSearchPath() string { return strings.Join(loaderDirs(), ",") }

// ResolveGrub finds the shim and GRUB of every architecture of the
// tftp.shim and tftp.grub maps on this server. It returns the TFTP
// paths (GrubLoader) mapped to files, and the loaders it could not find,
// as "tftp.shim.00:07 (shimx64.efi)".
func ResolveGrub(root string, shims, grubs map[string]string) (files map[string]string, missing []string) {
	files = map[string]string{}
	for _, m := range []struct {
		key  string
		bins map[string]string
		grub bool
	}{{"tftp.shim", shims, false}, {"tftp.grub", grubs, true}} {
		codes := make([]string, 0, len(m.bins))
		for code := range m.bins {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		for _, code := range codes {
			l, ok := GrubLoader(code)
			if !ok {
				continue
			}
			name := l.Shim
			if m.grub {
				name = l.Grub
			}
			if _, done := files[name]; done {
				continue
			}
			if f, ok := FindLoader(root, m.bins[code]); ok {
				files[name] = f
			} else {
				missing = append(missing, m.key+"."+code+" ("+m.bins[code]+")")
			}
		}
	}
	return files, missing
}

// GrubConfig is the grub.cfg GRUB reads first: it reads the asset key
// and loads the node's own configuration from the daemon at authority
// (host:port), as Warewulf's host overlay grub.cfg does. Served by TFTP
// (GrubConfigNames, viaTFTP) it loads it by TFTP too, from the same
// path, which the TFTP server answers as HTTP (Options.Dynamic): a GRUB
// booted by TFTP may have no HTTP, as Debian's signed network GRUB has
// none. Served over HTTP (/efiboot/grub.cfg), it uses HTTP.
func GrubConfig(authority string, viaTFTP bool) []byte {
	conf := contract.GrubConfigURL(authority)
	if viaTFTP {
		host, _, err := net.SplitHostPort(authority)
		if err != nil {
			host = authority
		}
		conf = "(tftp," + host + ")" + strings.TrimPrefix(conf, "(http,"+authority+")")
	}
	return []byte(`# wwboot: GRUB's first configuration; the node's own comes from /grub/.
echo "wwboot: loading this node's GRUB configuration from ` + authority + `"
# The asset key is the SMBIOS chassis asset tag (type 3, field 8: the number of a
# string, 0 when the firmware has none, as AAVMF and QEMU's machines): reading a
# string that is not there prints an error on the console, so only one that is.
set assetkey=""
set assettag=0
smbios --type 3 --get-byte 8 --set assettag
if [ "${assettag}" != 0 ]; then
    smbios --type 3 --get-string 8 --set assetkey
fi
export assetkey
set timeout=2
menuentry "Boot this node" --id node {
    configfile "` + conf + `"
}
menuentry "UEFI firmware settings" --id uefi-firmware {
    fwsetup
}
menuentry "Restart" --id restart {
    reboot
}
`)
}
