package stage1

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRootDev(t *testing.T) {
	tests := []struct {
		name, root string
		want       rootDev
		wantErr    string
	}{
		{name: "plain device", root: "/dev/vda1", want: rootDev{Path: "/dev/vda1"}},
		{name: "by-partlabel", root: "/dev/disk/by-partlabel/rootfs", want: rootDev{Key: "PARTLABEL", Value: "rootfs"}},
		{name: "by-label, udev-escaped", root: `/dev/disk/by-label/my\x20root`, want: rootDev{Key: "LABEL", Value: "my root"}},
		{name: "by-uuid", root: "/dev/disk/by-uuid/1234-ABCD", want: rootDev{Key: "UUID", Value: "1234-ABCD"}},
		{name: "by-partuuid", root: "/dev/disk/by-partuuid/1234abcd-02", want: rootDev{Key: "PARTUUID", Value: "1234abcd-02"}},
		{name: "LABEL=", root: "LABEL=root=1", want: rootDev{Key: "LABEL", Value: "root=1"}},
		{name: "UUID=", root: "UUID=0fc63daf-8483-4772-8e79-3d69d8477de4", want: rootDev{Key: "UUID", Value: "0fc63daf-8483-4772-8e79-3d69d8477de4"}},
		{name: "PARTLABEL=", root: "PARTLABEL=rootfs", want: rootDev{Key: "PARTLABEL", Value: "rootfs"}},
		{name: "PARTUUID=", root: "PARTUUID=1234abcd-02", want: rootDev{Key: "PARTUUID", Value: "1234abcd-02"}},
		{name: "unknown form", root: "FOO=bar", wantErr: "FOO=bar: unknown form FOO=; stage one understands LABEL=, UUID=, PARTLABEL= and PARTUUID="},
		{name: "empty label", root: "LABEL=", wantErr: "LABEL=: empty LABEL"},
		{name: "by-id needs udev", root: "/dev/disk/by-id/ata-X", wantErr: "stage one has no udev"},
		{name: "by-label without a name", root: "/dev/disk/by-label/", wantErr: "want /dev/disk/by-label/NAME"},
		{name: "nfs", root: "nfs", wantErr: "nfs: stage one handles initramfs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRootDev(tt.root)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseRootDev (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeBlock is a block device of a fake sysfs: its image (nil: no
// /dev node, for mknod to make).
type fakeBlock struct {
	name, dev string
	disk      string // the disk of a partition
	n         int    // its partition number
	img       []byte
	empty     bool
}

// fakeSysfs writes /sys/class/block and /dev as the kernel would have
// them for devs.
func fakeSysfs(t *testing.T, devs []fakeBlock) (sysDir, devDir string) {
	t.Helper()
	root := t.TempDir()
	sysDir, devDir = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range devs {
		size := fmt.Sprint(len(d.img)/512 + 1)
		if d.empty {
			size = "0"
		}
		dirs := []string{filepath.Join(sysDir, d.name)}
		if d.disk != "" {
			// The partition's directory lies in its disk's too.
			dirs = append(dirs, filepath.Join(sysDir, d.disk, d.name))
		} else {
			write(filepath.Join(sysDir, d.name, "queue", "logical_block_size"), "512\n")
		}
		for _, dir := range dirs {
			write(filepath.Join(dir, "dev"), d.dev+"\n")
			write(filepath.Join(dir, "size"), size+"\n")
			if d.disk != "" {
				write(filepath.Join(dir, "partition"), fmt.Sprint(d.n)+"\n")
			}
		}
		if d.img != nil {
			write(filepath.Join(devDir, d.name), string(d.img))
		}
	}
	return sysDir, devDir
}

func TestFindRootDev(t *testing.T) {
	const (
		rootGUID = "5a3e6c1d-0b2f-4c3e-9a8b-7c6d5e4f3a2b"
		extUUID  = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	)
	disk := makeGPT(512, 64, 128, 128, []gptEntry{
		{slot: 0, name: "efi", guid: "00000000-0000-0000-0000-000000000001"},
		{slot: 1, name: "rootfs", guid: rootGUID},
	}, nil)
	sysDir, devDir := fakeSysfs(t, []fakeBlock{
		{name: "loop0", dev: "7:0", empty: true},
		{name: "fd0", dev: "2:0", img: makeExt("root", extUUID)},
		{name: "vda", dev: "253:0", img: disk},
		{name: "vda1", dev: "253:1", disk: "vda", n: 1, img: makeFAT("EFI", false)},
		{name: "vda2", dev: "253:2", disk: "vda", n: 2, img: makeExt("root", extUUID)},
		// A disk whose node devtmpfs did not make.
		{name: "vdb", dev: "253:16"},
		{name: "vdc", dev: "253:32", img: makeXFS("scratch", extUUID)},
		{name: "vdd", dev: "253:48", img: makeXFS("scratch", "11111111-2222-3333-4444-555555555555")},
	})
	var mknods []string
	mknod := func(path string, major, minor uint32) error {
		mknods = append(mknods, fmt.Sprintf("%s %d:%d", path, major, minor))
		return os.WriteFile(path, nil, 0o600)
	}
	devs, err := scanBlockDevs(sysDir, devDir, mknod)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Join(devDir, "vdb") + " 253:16"}, mknods); diff != "" {
		t.Errorf("mknod (-want +got):\n%s", diff)
	}
	tests := []struct {
		name, root string
		want       string // the device's name
		wantErr    string
	}{
		{name: "by-partlabel", root: "/dev/disk/by-partlabel/rootfs", want: "vda2"},
		{name: "PARTLABEL", root: "PARTLABEL=efi", want: "vda1"},
		{name: "PARTUUID in upper case", root: "PARTUUID=" + strings.ToUpper(rootGUID), want: "vda2"},
		{name: "LABEL", root: "LABEL=root", want: "vda2"},
		{name: "FAT UUID in lower case", root: "/dev/disk/by-uuid/1234-abcd", want: "vda1"},
		{name: "unpartitioned disk", root: "UUID=11111111-2222-3333-4444-555555555555", want: "vdd"},
		{name: "missing PARTLABEL", root: "PARTLABEL=data",
			wantErr: `no block device has PARTLABEL "data" (seen: vda1 PARTLABEL "efi", vda2 PARTLABEL "rootfs"; without a PARTLABEL: vda, vdb, vdc, vdd)`},
		{name: "missing LABEL", root: "LABEL=ROOT",
			wantErr: `no block device has LABEL "ROOT" (seen: vda1 LABEL "EFI", vda2 LABEL "root", vdc LABEL "scratch", vdd LABEL "scratch"; without a LABEL: vda, vdb)`},
		{name: "twice", root: "LABEL=scratch", wantErr: `LABEL "scratch" is on vdc and vdd: stage one will not choose`},
		{name: "twice by UUID", root: "UUID=" + extUUID, wantErr: `UUID "` + extUUID + `" is on vda2 and vdc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := parseRootDev(tt.root)
			if err != nil {
				t.Fatal(err)
			}
			got, err := findRootDev(rd, devs)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if want := filepath.Join(devDir, tt.want); got != want {
				t.Errorf("device %s, want %s", got, want)
			}
		})
	}
}

func TestScanBlockDevsUnreadable(t *testing.T) {
	disk := makeGPT(512, 64, 128, 128, nil, func(h []byte) { h[80] = 0xff; h[81] = 0xff; h[82] = 0xff })
	sysDir, devDir := fakeSysfs(t, []fakeBlock{
		{name: "sda", dev: "8:0", img: disk},
		{name: "sda1", dev: "8:1", disk: "sda", n: 1, img: makeExt("root", "0fc63daf-8483-4772-8e79-3d69d8477de4")},
	})
	devs, err := scanBlockDevs(sysDir, devDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = findRootDev(rootDev{Key: "PARTLABEL", Value: "rootfs"}, devs)
	want := `no block device has PARTLABEL "rootfs" (without a PARTLABEL: sda; unreadable: sda1 (partition table of sda: GPT of 16777215 entries of 128 bytes: more than 1048576 bytes))`
	if err == nil || err.Error() != want {
		t.Errorf("error %v,\nwant %s", err, want)
	}
}

func TestPreferType(t *testing.T) {
	kernel := []string{"ext3", "ext2", "ext4", "vfat"}
	for _, tc := range []struct {
		name, fs string
		want     []string
	}{
		{"found: first", "ext4", []string{"ext4", "ext3", "ext2", "vfat"}},
		{"already first", "ext3", kernel},
		{"unknown to the kernel", "xfs", kernel},
		{"no file system found", "", kernel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(kernel)
			if diff := cmp.Diff(tc.want, preferType(in, tc.fs)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(kernel, in); diff != "" {
				t.Errorf("the kernel's list was changed (-want +got):\n%s", diff)
			}
		})
	}
}

// checkErr checks err against wantErr, a part of the message expected
// ("" for none), and reports whether the test case goes on to check the
// result (no error was expected or returned).
func checkErr(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
		return false
	case err != nil:
		t.Fatal(err)
	}
	return true
}
