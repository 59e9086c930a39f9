package bootstrap

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
	"github.com/wwboot/wwboot/internal/image"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Config
		wantErr string
	}{
		{
			name: "v3 style with += and =",
			in: "# comment\nclasses = network\ndrivers += kernel/drivers/net/, kernel/drivers/block/virtio_blk.ko\n" +
				"modprobe += ib_ipoib\nmodules += mlx*\nfirmware = bnx2/*\nfirmware += tigon/\nexclude = e1000\ncompress = zstd\n",
			want: &Config{Classes: []string{"network"}, Drivers: []string{"kernel/drivers/net/", "kernel/drivers/block/virtio_blk.ko"},
				Modules: []string{"ib_ipoib", "mlx*"}, Firmware: []string{"bnx2/*", "tigon/"}, Exclude: []string{"e1000"}, Compress: compress.Zstd},
		},
		{
			name: "= replaces what came before",
			in:   "modules = a b\nmodules = c\n",
			want: &Config{Modules: []string{"c"}, Compress: compress.Gzip},
		},
		{
			name: "programs added to",
			in:   "programs = sh, sfdisk\nprograms += mkfs.xfs\n",
			want: &Config{Programs: []string{"sh", "sfdisk", "mkfs.xfs"}, Compress: compress.Gzip},
		},
		{name: "no programs", in: "programs = sh\nprograms =\n", want: &Config{Compress: compress.Gzip}},
		{name: "unknown key", in: "\n\nkernel = 6\n", wantErr: `conf:3: unknown key "kernel"`},
		{name: "unknown class", in: "classes = network, sound\n", wantErr: `conf:1: unknown class "sound"`},
		{name: "no equals sign", in: "modules virtio\n", wantErr: "conf:1: want KEY = VALUE"},
		{name: "bad compression", in: "compress = xz\n", wantErr: `conf:1: compress "xz"`},
		{name: "bad glob", in: "firmware = [\n", wantErr: `conf:1: firmware: bad pattern "["`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), "conf")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := Default()
	if diff := cmp.Diff([]string{"network", "storage", "filesystem"}, c.Classes); diff != "" {
		t.Errorf("default classes (-want +got):\n%s", diff)
	}
	if c.Compress != compress.Gzip {
		t.Errorf("default compression %s, want gzip", c.Compress)
	}
	// What the stock sfdisk, mkfs and mkswap overlays' scripts run.
	for _, p := range []string{"sh", "sfdisk", "blockdev", "wipefs", "mkfs", "mkfs.ext4", "mkfs.xfs", "mkswap"} {
		if !slices.Contains(c.Programs, p) {
			t.Errorf("default programs %q lack %s", c.Programs, p)
		}
	}
	c, err := Load(filepath.Join(t.TempDir(), "missing.conf"))
	if err != nil || len(c.Classes) != 3 {
		t.Errorf("Load of a missing file: %v, %v; want the defaults", c, err)
	}
}

// A Debian-like modules.dep: virtio_net needs net_failover and failover
// (depmod lists the last to load first).
const modulesDep = `kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.zst:
kernel/drivers/block/virtio_blk.ko.xz:
kernel/drivers/net/mdio/mdio-bitbang.ko:
`

func TestLoadOrder(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(modulesDep))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		roots   []string
		want    []string
		wantErr string
	}{
		{
			name:  "dependencies first",
			roots: []string{"kernel/drivers/net/virtio_net.ko"},
			want:  []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"},
		},
		{
			name:  "each module once",
			roots: []string{"kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko", "kernel/net/core/failover.ko"},
			want:  []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"},
		},
		{
			name:  "several dependencies in depmod's order",
			roots: []string{"kernel/drivers/virtio/virtio_pci.ko"},
			want: []string{"kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
				"kernel/drivers/virtio/virtio_pci.ko"},
		},
		{name: "unknown module", roots: []string{"kernel/x.ko"}, wantErr: "kernel/x.ko is not in modules.dep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := md.LoadOrder(tt.roots)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModulesDepErrors(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"no colon", "kernel/a.ko\n", "modules.dep:1: want"},
		{"escaping path", "kernel/a.ko: ../../etc/shadow\n", `modules.dep:1: module path "../../etc/shadow"`},
		{"absolute path", "/kernel/a.ko:\n", "not a clean relative path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseModulesDep(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
	md, err := ParseModulesDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.LoadOrder([]string{"a.ko"}); err == nil || !strings.Contains(err.Error(), "cycle: a.ko -> b.ko -> a.ko") {
		t.Errorf("cycle: error %v", err)
	}
}

func TestSelect(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(modulesDep))
	if err != nil {
		t.Fatal(err)
	}
	builtin := map[string]bool{"sd_mod": true}
	tests := []struct {
		name string
		conf string
		want *Selection
	}{
		{
			name: "names, builtin and missing",
			conf: "modules = virtio_net, sd_mod, nosuch, mdio_bitbang\n",
			want: &Selection{
				Load: []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
					"kernel/drivers/net/mdio/mdio-bitbang.ko"},
				Builtin: []string{"sd_mod"}, Missing: []string{"nosuch"},
			},
		},
		{
			name: "driver directory and exclude",
			conf: "drivers = kernel/drivers/net/ethernet/\nexclude = e1000\n",
			want: &Selection{Load: []string{"kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.zst"}},
		},
		{
			name: "glob on names; excluded dependencies stay",
			conf: "modules = virtio_*\nexclude = failover\n",
			want: &Selection{Load: []string{"kernel/drivers/block/virtio_blk.ko.xz", "kernel/net/core/failover.ko",
				"kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
				"kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
				"kernel/drivers/virtio/virtio_pci.ko"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.conf), "conf")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Select(md, builtin)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selection (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeImage writes an image tree with a kernel's modules and firmware.
func fakeImage(t *testing.T) (root, stage1 string) {
	t.Helper()
	root = t.TempDir()
	write := func(p, content string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Debian's layout: /lib is a link to usr/lib.
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	mod := "/usr/lib/modules/6.1.0-1-amd64/"
	write(mod+"modules.dep", modulesDep)
	write(mod+"modules.builtin", "kernel/drivers/scsi/sd_mod.ko\n")
	for _, p := range []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
		"kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/drivers/virtio/virtio_pci.ko",
		"kernel/drivers/net/ethernet/intel/e1000/e1000.ko", "kernel/drivers/block/virtio_blk.ko.xz", "kernel/drivers/net/mdio/mdio-bitbang.ko"} {
		write(mod+p, "ELF "+p)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	write(mod+"kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.zst", string(enc.EncodeAll([]byte("ELF e1000e"), nil)))
	write("/usr/lib/firmware/bnx2/bnx2-mips.fw", "fw1")
	write("/usr/lib/firmware/tigon/tg3.bin", "fw2")
	write("/usr/lib/firmware/other/x.bin", "fw3")
	write("/etc/shadow", "secret")
	if err := os.Symlink("../tigon/tg3.bin", filepath.Join(root, "usr/lib/firmware/bnx2/link.fw")); err != nil {
		t.Fatal(err)
	}
	// A link that would lead out of the image resolves inside it (to
	// nothing), so the host's file never gets in.
	if err := os.Symlink("../../../../../../../../etc/hostname", filepath.Join(root, "usr/lib/firmware/bnx2/escape.fw")); err != nil {
		t.Fatal(err)
	}
	stage1 = filepath.Join(t.TempDir(), "wwstage1")
	if err := os.WriteFile(stage1, []byte("#!stage1"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, stage1
}

func TestBuildReproducible(t *testing.T) {
	root, stage1 := fakeImage(t)
	conf := "classes = network\nfirmware = bnx2/*\n"
	for _, f := range []compress.Format{compress.Gzip, compress.Zstd} {
		t.Run(f.String(), func(t *testing.T) {
			c, err := Parse(strings.NewReader(conf+"compress = "+f.String()+"\n"), "conf")
			if err != nil {
				t.Fatal(err)
			}
			var sums []string
			var bodies [][]byte
			for i := range 2 {
				out := filepath.Join(t.TempDir(), "img"+string(rune('a'+i)), "debian.bootstrap.img"+f.Ext())
				res, err := Build(context.Background(), Options{Root: root, Version: "6.1.0-1-amd64", Config: c, Stage1: stage1, Out: out})
				if err != nil {
					t.Fatal(err)
				}
				body, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				// Modules and firmware of the image: not for other users.
				if st, err := os.Stat(out); err != nil {
					t.Fatal(err)
				} else if st.Mode().Perm()&0o004 != 0 {
					t.Errorf("archive mode %v, want no world read", st.Mode())
				}
				recorded, err := image.ReadSHA256(out)
				if err != nil || recorded != res.SHA256 {
					t.Fatalf("recorded sha256 %q (%v), want %q", recorded, err, res.SHA256)
				}
				sums = append(sums, res.SHA256)
				bodies = append(bodies, body)
			}
			if sums[0] != sums[1] || !bytes.Equal(bodies[0], bodies[1]) {
				t.Fatalf("two builds differ: %s and %s", sums[0], sums[1])
			}
			got := listArchive(t, bodies[0], f)
			want := map[string]string{
				".": "dir", "dev": "dir", "dev/console": "dev 5:1", "etc": "dir", "etc/wwstage1": "dir",
				"etc/wwstage1/kernel": "6.1.0-1-amd64\n",
				"etc/wwstage1/modules": "/lib/modules/6.1.0-1-amd64/kernel/drivers/virtio/virtio_pci_modern_dev.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/drivers/virtio/virtio_pci_legacy_dev.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/drivers/virtio/virtio_pci.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/net/core/failover.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/drivers/net/net_failover.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/drivers/net/virtio_net.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000/e1000.ko\n" +
					"/lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko\n",
				"init": "#!stage1", "lib": "dir", "lib/firmware": "dir", "lib/firmware/bnx2": "dir",
				"lib/firmware/bnx2/bnx2-mips.fw": "fw1", "lib/firmware/bnx2/link.fw": "fw2",
				"lib/modules": "dir", "lib/modules/6.1.0-1-amd64": "dir", "lib/modules/6.1.0-1-amd64/kernel": "dir",
				"lib/modules/6.1.0-1-amd64/kernel/drivers": "dir", "lib/modules/6.1.0-1-amd64/kernel/drivers/net": "dir",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet": "dir", "lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel": "dir",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000":            "dir",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000/e1000.ko":   "ELF kernel/drivers/net/ethernet/intel/e1000/e1000.ko",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000e":           "dir",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko": "ELF e1000e",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/net_failover.ko":                 "ELF kernel/drivers/net/net_failover.ko",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/net/virtio_net.ko":                   "ELF kernel/drivers/net/virtio_net.ko",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/virtio":                              "dir",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/virtio/virtio_pci.ko":                "ELF kernel/drivers/virtio/virtio_pci.ko",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/virtio/virtio_pci_legacy_dev.ko":     "ELF kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
				"lib/modules/6.1.0-1-amd64/kernel/drivers/virtio/virtio_pci_modern_dev.ko":     "ELF kernel/drivers/virtio/virtio_pci_modern_dev.ko",
				"lib/modules/6.1.0-1-amd64/kernel/net":                                         "dir",
				"lib/modules/6.1.0-1-amd64/kernel/net/core":                                    "dir",
				"lib/modules/6.1.0-1-amd64/kernel/net/core/failover.ko":                        "ELF kernel/net/core/failover.ko",
				"newroot": "dir", "proc": "dir", "run": "dir", "sys": "dir", "tmp": "dir",
				"usr": "dir", "usr/bin": "dir", "usr/bin/udevadm": "-> /init",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("archive (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	root, stage1 := fakeImage(t)
	out := filepath.Join(t.TempDir(), "b.img.gz")
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"no such kernel", Options{Root: root, Version: "9.9", Config: Default(), Stage1: stage1, Out: out}, "modules.dep (run depmod in the image)"},
		{"version escaping", Options{Root: root, Version: "../x", Config: Default(), Stage1: stage1, Out: out}, `bad kernel version "../x"`},
		{"no stage one", Options{Root: root, Version: "6.1.0-1-amd64", Config: Default(), Stage1: filepath.Join(root, "nope"), Out: out}, "stage-one program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed build wrote %s", out)
			}
		})
	}
}

// listArchive maps each entry of a compressed archive to "dir",
// "dev MAJ:MIN" or its content.
func listArchive(t *testing.T, data []byte, f compress.Format) map[string]string {
	t.Helper()
	zr, err := compress.NewReader(bytes.NewReader(data), f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	r := cpio.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Mode.IsDir():
			out[h.Name] = "dir"
		case h.Mode&os.ModeSymlink != 0:
			out[h.Name] = "-> " + h.Linkname
		case h.Mode&os.ModeDevice != 0:
			out[h.Name] = "dev " + itoa(h.Rdevmajor) + ":" + itoa(h.Rdevminor)
		default:
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = string(b)
		}
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func TestSoftdeps(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(
		"kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko\nkernel/lib/crc16.ko:\nkernel/arch/x86/crypto/crc32c-intel.ko:\n" +
			"kernel/crypto/crc32c_generic.ko:\nkernel/fs/jbd2/jbd2.ko:\nkernel/a.ko: kernel/b.ko\nkernel/b.ko:\n"))
	if err != nil {
		t.Fatal(err)
	}
	// As Debian's: aliases, names without pre:/post: (ignored, as
	// modprobe does), lines of other kinds.
	soft, err := ParseSoftdep(strings.NewReader("# Soft dependencies\nsoftdep ext4 pre: crypto-crc32c nosuch post: jbd2\n" +
		"softdep b pre: a\nsoftdep cifs gcm\noptions ext4 x=1\nsoftdep\n"))
	if err != nil {
		t.Fatal(err)
	}
	aliases, err := ParseAliases(strings.NewReader("alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\n" +
		"alias pci:v00008086d*sv*sd*bc*sc*i* e1000\nalias crypto-nosuch nosuch_mod\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"crypto-crc32c": {"crc32c_intel", "crc32c_generic"}, "crypto-nosuch": {"nosuch_mod"}}, aliases); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
	md.SetSoftdeps(soft, aliases)
	tests := []struct {
		name  string
		roots []string
		want  []string
	}{
		{name: "pre (through an alias) before, post after, missing skipped", roots: []string{"kernel/fs/ext4/ext4.ko"},
			want: []string{"kernel/arch/x86/crypto/crc32c-intel.ko", "kernel/crypto/crc32c_generic.ko", "kernel/lib/crc16.ko",
				"kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko"}},
		{name: "a soft cycle is broken, not an error", roots: []string{"kernel/a.ko"},
			want: []string{"kernel/b.ko", "kernel/a.ko"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := md.LoadOrder(tt.roots)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(SoftDep{}, soft["cifs"]); diff != "" {
		t.Errorf("cifs softdep without pre:/post: (-want +got):\n%s", diff)
	}
}
