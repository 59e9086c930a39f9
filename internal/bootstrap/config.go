// Package bootstrap builds the bootstrap initramfs of two-stage boot: a
// small cpio archive made from an image's own kernel modules and firmware,
// chosen by a Warewulf 3 style bootstrap.conf, with the static stage-one
// program (cmd/wwstage1) as /init. iPXE loads it instead of the image;
// stage one then fetches the image with Linux's network stack.
package bootstrap

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/compress"
)

// DefaultConf is the built-in bootstrap.conf, used when the site has none.
//
//go:embed bootstrap.conf
var DefaultConf string

// Config says what goes into a bootstrap.
type Config struct {
	// Classes name built-in module lists (see Classes).
	Classes []string
	// Modules are module names or globs on them.
	Modules []string
	// Drivers are globs on module paths relative to /lib/modules/VERSION;
	// one ending in "/" takes everything below it.
	Drivers []string
	// Exclude are module names or globs never taken.
	Exclude []string
	// Firmware are globs on paths relative to /lib/firmware; one ending
	// in "/" takes everything below it.
	Firmware []string
	// Programs are programs of the image (file names, looked up in
	// /usr/sbin, /usr/bin, /sbin and /bin) copied in with the libraries
	// they need, for the scripts stage one runs before it prepares the
	// root. Those the image lacks are skipped.
	Programs []string
	// Compress is the archive's compression: gzip or zstd.
	Compress compress.Format
}

// Classes are the built-in module lists. The network class covers the
// NICs of common servers and of virtual machines; the modules a NIC
// driver needs (virtio_pci for virtio_net, say) are in it too, since
// modules.dep does not name them.
var classes = map[string][]string{
	"network": {
		"virtio_pci", "virtio_net", "vmxnet3", "hv_netvsc", "ena", "gve", "xen_netfront",
		"e1000", "e1000e", "igb", "igc", "ixgbe", "ixgbevf", "i40e", "iavf", "ice",
		"bnxt_en", "bnx2", "bnx2x", "tg3", "r8169", "qede", "qlcnic", "be2net", "enic",
		"mlx4_en", "mlx5_core", "sfc", "cxgb4", "af_packet",
	},
	"storage": {
		"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "sr_mod", "nvme", "ahci", "ata_piix",
		"megaraid_sas", "mpt3sas", "smartpqi", "hpsa", "aacraid", "vmw_pvscsi", "hv_storvsc", "xen_blkfront",
	},
	"filesystem": {"ext4", "xfs", "btrfs", "vfat"},
	"infiniband": {"ib_core", "ib_ipoib", "mlx5_ib", "mlx4_ib"},
}

// ClassNames lists the built-in classes, sorted.
func ClassNames() []string {
	var out []string
	for c := range classes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Default returns the built-in configuration.
func Default() *Config {
	c, err := Parse(strings.NewReader(DefaultConf), "built-in bootstrap.conf")
	if err != nil {
		panic("bootstrap: the built-in bootstrap.conf: " + err.Error())
	}
	return c
}

// Load reads the bootstrap.conf at p; a file that does not exist gives
// the built-in configuration.
func Load(p string) (*Config, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("bootstrap configuration: %w", err)
	}
	defer f.Close()
	return Parse(f, p)
}

// Parse reads a bootstrap.conf; name is used in messages, which are
// "NAME:LINE: problem".
func Parse(r io.Reader, name string) (*Config, error) {
	c := &Config{Compress: compress.Gzip}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want KEY = VALUE or KEY += VALUE, got %q", name, line, text)
		}
		add := strings.HasSuffix(key, "+")
		key = strings.TrimSpace(strings.TrimSuffix(key, "+"))
		values := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		var list *[]string
		switch key {
		case "classes":
			for _, v := range values {
				if _, ok := classes[v]; !ok {
					return nil, fmt.Errorf("%s:%d: unknown class %q (want %s)", name, line, v, strings.Join(ClassNames(), ", "))
				}
			}
			list = &c.Classes
		case "modules", "modprobe":
			list = &c.Modules
		case "drivers":
			list = &c.Drivers
		case "exclude":
			list = &c.Exclude
		case "firmware":
			list = &c.Firmware
		case "programs":
			list = &c.Programs
		case "compress":
			if add || len(values) != 1 {
				return nil, fmt.Errorf("%s:%d: compress takes one value: gzip or zstd", name, line)
			}
			f, err := compress.ParseFormat(values[0])
			if err != nil || f == compress.None {
				return nil, fmt.Errorf("%s:%d: compress %q: want gzip or zstd", name, line, values[0])
			}
			c.Compress = f
			continue
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q (want classes, modules, drivers, exclude, firmware, programs or compress)", name, line, key)
		}
		for _, v := range values {
			if _, err := path.Match(v, ""); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: bad pattern %q", name, line, key, v)
			}
		}
		if !add {
			*list = nil
		}
		*list = append(*list, values...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// moduleNames are the module names the configuration asks for by name:
// its classes' and Modules, normalized.
func (c *Config) moduleNames() []string {
	var out []string
	for _, cl := range c.Classes {
		out = append(out, classes[cl]...)
	}
	out = append(out, c.Modules...)
	for i, n := range out {
		out[i] = ModuleName(n)
	}
	return out
}

// ModuleName normalizes a module name or file name as the kernel does:
// without directory and ".ko[.xz|.zst|.gz]", "-" read as "_".
func ModuleName(s string) string {
	s = path.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// matchTree reports whether rel matches pattern: a glob on the whole
// path, or, for a pattern ending in "/", any path below that directory.
func matchTree(pattern, rel string) bool {
	if strings.HasSuffix(pattern, "/") {
		dir := strings.TrimSuffix(pattern, "/")
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			if ok, _ := path.Match(dir, d); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, rel)
	return ok
}
