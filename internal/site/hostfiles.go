package site

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/tftp"
)

// ConfigureHostfile writes the server's /etc/hosts (<hostroot>/etc/hosts)
// from the host overlay's etc/hosts.ww, as Warewulf's "configure
// hostfile" does: what the file holds above the template's marker line
// is kept, the first file replaced is kept as hosts.wwbackup, and an
// unchanged file is not written.
func (s *Site) ConfigureHostfile(_ context.Context, opts ConfigureOptions) (*ConfigureReport, error) {
	files, err := s.renderHostFiles("etc/hosts.ww")
	if err != nil {
		return nil, err
	}
	r := &ConfigureReport{}
	r.Files, err = installHostFiles(files, opts.Show)
	return r, err
}

// ConfigureTFTP lays out the iPXE binaries of tftp.ipxe for an external
// TFTP server, as Warewulf's "configure tftp" does: each is copied to
// <tftp.tftproot>/warewulf/<base name> (what the DHCP configurations
// name), an identical copy is left alone, and a binary that cannot be
// found is reported, not fatal. With warewulf.grubboot the signed shim
// and GRUB (tftp.shim, tftp.grub) are copied too, as warewulf/shim.efi
// and grubx64.efi (arm64: shimaa64.efi, grubaa64.efi), with the
// grub.cfg GRUB reads first; a loader missing for this server's
// architecture is an error. Then the TFTP service (tftp.systemd
// name) is enabled and (re)started. With tftp.mode embedded wwctl server
// serves the binaries itself and nothing is copied.
func (s *Site) ConfigureTFTP(ctx context.Context, opts ConfigureOptions) (*ConfigureReport, error) {
	t := s.cfg.Tftp
	r := &ConfigureReport{}
	if !t.Enabled {
		r.note("TFTP is not enabled in warewulf.conf (tftp.enabled): nothing to configure")
		return r, nil
	}
	if t.Mode != config.ModeExternal {
		r.note("TFTP is served by wwctl server (tftp.mode %s) from the iPXE binaries of paths.ipxesource (%s): nothing to copy", t.Mode, s.cfg.Paths.Ipxesource)
		return r, nil
	}
	files, missing := tftp.ResolveIpxe(s.cfg.Paths.Ipxesource, t.IpxeBinaries, tftp.DefaultIpxeDirs())
	for _, m := range missing {
		r.note("iPXE binary %s is not in %s: nodes that need it cannot boot (install iPXE, or set tftp.ipxe)", m, strings.Join(tftp.IpxeSearchPath(s.cfg.Paths.Ipxesource, tftp.DefaultIpxeDirs()), " or "))
	}
	var inline map[string][]byte
	if s.cfg.Warewulf.GrubBoot {
		loaders, grubCfg, err := s.grubFiles(r)
		if err != nil {
			return r, err
		}
		maps.Copy(files, loaders)
		inline = grubCfg
	}
	for _, name := range slices.Sorted(maps.Keys(inline)) {
		c, err := writeFile(inline[name], filepath.Join(t.TftpRoot, filepath.FromSlash(name)), opts.Show)
		if err != nil {
			return r, err
		}
		r.Files = append(r.Files, c)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		c, err := copyBinary(files[name], filepath.Join(t.TftpRoot, filepath.FromSlash(name)), opts.Show)
		if err != nil {
			return r, err
		}
		r.Files = append(r.Files, c)
	}
	return r, s.systemdStart(ctx, r, t.SystemdName, r.Changed(), opts.Show)
}

// grubFiles finds the shims and GRUBs of tftp.shim and tftp.grub for
// warewulf.grubboot, and renders the grub.cfg GRUB reads first. A loader
// missing for this server's own architecture is an error naming it; one
// for another architecture is a note.
func (s *Site) grubFiles(r *ConfigureReport) (loaders map[string]string, grubCfg map[string][]byte, err error) {
	loaders, missing := tftp.ResolveGrub("", s.cfg.Tftp.ShimBinaries, s.cfg.Tftp.GrubBinaries)
	own := map[string][]string{"amd64": {"00:07", "00:09"}, "arm64": {"00:0B"}}[runtime.GOARCH]
	var fatal []string
	for _, m := range missing {
		if slices.ContainsFunc(own, func(code string) bool { return strings.Contains(m, "."+code+" ") }) {
			fatal = append(fatal, m)
		} else {
			r.note("warewulf.grubboot: %s is not installed: nodes of that architecture boot iPXE", m)
		}
	}
	if len(fatal) > 0 {
		return nil, nil, fmt.Errorf("warewulf.grubboot: no signed loader for %s in %s: install shim-signed and grub-efi-amd64-signed (Debian) or shim and grub2-efi (Enterprise Linux), or set tftp.shim and tftp.grub to their paths",
			strings.Join(fatal, ", "), tftp.LoaderSearchPath())
	}
	if s.cfg.Ipaddr == "" {
		return nil, nil, errors.New("warewulf.grubboot: set ipaddr in warewulf.conf: the grub.cfg in the TFTP root names the server GRUB loads each node's configuration from")
	}
	cfg := tftp.GrubConfig(net.JoinHostPort(s.cfg.Ipaddr, strconv.Itoa(s.cfg.Warewulf.Port)), false)
	grubCfg = map[string][]byte{}
	for _, name := range tftp.GrubConfigNames() {
		grubCfg[name] = cfg
	}
	return loaders, grubCfg, nil
}

// copyBinary copies src to dst unless dst has the same content.
func copyBinary(src, dst string, show bool) (FileChange, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return FileChange{Path: dst, Change: Created}, err
	}
	c, err := writeFile(data, dst, show)
	if show && c.Change != Unchanged {
		c.Diff = fmt.Sprintf("copy %s to %s\n", src, dst)
	}
	return c, err
}

// writeFile writes data to dst unless dst has the same content.
func writeFile(data []byte, dst string, show bool) (FileChange, error) {
	c := FileChange{Path: dst, Change: Created}
	if old, err := os.ReadFile(dst); err == nil {
		if string(old) == string(data) {
			c.Change = Unchanged
			return c, nil
		}
		c.Change = Updated
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	if show {
		c.Diff = fmt.Sprintf("write %s (%d bytes)\n", dst, len(data))
		return c, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return c, err
	}
	return c, atomicfile.WriteFile(dst, data, 0o644)
}

// ConfigureWarewulfd enables and starts the provisioning daemon's
// service (warewulf.systemd name, else warewulfd).
func (s *Site) ConfigureWarewulfd(ctx context.Context, opts ConfigureOptions) (*ConfigureReport, error) {
	unit := s.cfg.Warewulf.SystemdName
	if unit == "" {
		unit = "warewulfd"
	}
	r := &ConfigureReport{}
	return r, s.systemdStart(ctx, r, unit, false, opts.Show)
}

// hostPath is where a host overlay path lands on the server.
func (s *Site) hostPath(p string) (string, error) {
	p = path.Clean(p)
	rest, ok := strings.CutPrefix(p, "etc/")
	if !ok {
		return "", fmt.Errorf("host overlay file %s is not under etc/", p)
	}
	return filepath.Join(s.HostEtc(), filepath.FromSlash(rest)), nil
}
