//go:build linux

package stage1

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Linux is the real System: it mounts, loads modules and switches root.
// Only the stage-one program uses it, as PID 1 of the bootstrap.
type Linux struct{}

// MountKernelFS mounts /proc, /sys and /dev (devtmpfs), which wwinit
// finds mounted after the switch.
func (Linux) MountKernelFS() error {
	var errs []error
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		_ = os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s: %w", m.dir, err))
		}
	}
	return errors.Join(errs...)
}

// LoadModule loads a module file; the kernel decompresses .ko.xz itself
// (CONFIG_MODULE_DECOMPRESS), as the bootstrap keeps those compressed.
func (Linux) LoadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The file is in the bootstrap's RAM and is read only this once:
	// dropping it leaves that memory to the image.
	defer os.Remove(path)
	flags := 0
	if strings.HasSuffix(path, ".xz") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	switch {
	case errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.ENOENT):
		// The file was opened: the kernel is missing symbols.
		return fmt.Errorf("%w: unknown symbols (a module it needs did not load)", err)
	}
	return err
}

// MountRoot mounts a tmpfs (interleaved over NUMA nodes, as Warewulf
// does), a ramfs, or the block device root names at dir, waiting up to
// 30 s for the device to appear and trying each file system the kernel
// knows.
func (Linux) MountRoot(root, size, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	switch root {
	case "ramfs":
		return unix.Mount("wwroot", dir, "ramfs", 0, "mode=0755")
	case "initramfs", "tmpfs":
		opts := "mode=0755,mpol=interleave"
		if size != "" {
			opts += ",size=" + size
		}
		err := unix.Mount("wwroot", dir, "tmpfs", 0, opts)
		if errors.Is(err, unix.EINVAL) {
			// A kernel without NUMA refuses mpol.
			opts = strings.Replace(opts, ",mpol=interleave", "", 1)
			err = unix.Mount("wwroot", dir, "tmpfs", 0, opts)
		}
		return err
	default:
		rd, err := parseRootDev(root)
		if err != nil {
			return err
		}
		dev, err := waitRootDev(rd, 30*time.Second)
		if err != nil {
			return err
		}
		types, err := blockFilesystems()
		if err != nil {
			return err
		}
		// The superblock names the type: tried first, the kernel logs
		// no refusals of the others (ext4 as ext3, then as ext2).
		if id, err := probeDev(dev); err == nil {
			types = preferType(types, id.Type)
		}
		var errs []string
		for _, t := range types {
			err := unix.Mount(dev, dir, t, 0, "")
			if err == nil {
				return nil
			}
			errs = append(errs, t+": "+err.Error())
		}
		if rd.Key != "" {
			dev += " (" + rd.String() + ")"
		}
		return fmt.Errorf("mount %s: %s", dev, strings.Join(errs, "; "))
	}
}

// waitRootDev is the node of the root device, once it appears: modules
// were just loaded, and disks show up a while after their driver. The
// block devices are scanned again each time, as the bootstrap has no
// udev to make /dev/disk/by-* links.
func waitRootDev(rd rootDev, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		if rd.Key == "" {
			if _, err = os.Stat(rd.Path); err == nil {
				return rd.Path, nil
			}
		} else {
			var devs []blockDev
			devs, err = scanBlockDevs("/sys/class/block", "/dev", mknodBlock)
			if err == nil {
				var dev string
				dev, err = findRootDev(rd, devs)
				var nf *notFoundError
				if !errors.As(err, &nf) {
					return dev, err
				}
			}
		}
		if time.Now().After(deadline) {
			if rd.Key == "" {
				devs, _ := scanBlockDevs("/sys/class/block", "/dev", mknodBlock)
				names := make([]string, len(devs))
				for i, d := range devs {
					names[i] = d.Name
				}
				return "", fmt.Errorf("root device %s did not appear within %.0f s (block devices: %s; is its driver in bootstrap.conf?)",
					rd.Path, timeout.Seconds(), strings.Join(names, ", "))
			}
			return "", fmt.Errorf("root %s not found within %.0f s: %w (is its driver in bootstrap.conf?)", rd, timeout.Seconds(), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func mknodBlock(path string, major, minor uint32) error {
	return unix.Mknod(path, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor)))
}

// preferType moves t to the front of types when the kernel knows it.
func preferType(types []string, t string) []string {
	i := slices.Index(types, t)
	if i <= 0 {
		return types
	}
	return append(append([]string{t}, types[:i]...), types[i+1:]...)
}

// blockFilesystems lists the file systems of /proc/filesystems that
// live on a device.
func blockFilesystems() ([]string, error) {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 1 {
			out = append(out, fields[0])
		}
	}
	return out, sc.Err()
}

// UnmountRoot detaches the new root; its tmpfs is freed.
func (Linux) UnmountRoot(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if errors.Is(err, unix.EINVAL) {
		return nil // not mounted
	}
	return err
}

// SwitchRoot does what busybox switch_root does, and moves /proc, /sys
// and /dev along: it deletes the bootstrap's files (they would stay in
// RAM for good), moves dir onto /, chroots into it and executes init.
func (Linux) SwitchRoot(dir, init string, env []string) error {
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		target := filepath.Join(dir, m)
		_ = os.MkdirAll(target, 0o755)
		if err := unix.Mount(m, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	if err := os.Chdir(dir); err != nil {
		return err
	}
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return err
	}
	deleteContents("/", root.Dev)
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", dir, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return unix.Exec(init, []string{init}, env)
}

// deleteContents removes what lies under dir on the device dev, never
// crossing into another file system (the new root, /proc...).
func deleteContents(dir string, dev uint64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if e.IsDir() {
			deleteContents(p, dev)
			_ = unix.Rmdir(p)
		} else {
			_ = unix.Unlink(p)
		}
	}
}

// Reboot restarts the machine.
func (Linux) Reboot() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

// Mount mounts the block device dev as fstype at dir.
func (Linux) Mount(dev, fstype, dir string) error {
	return unix.Mount(dev, dir, fstype, 0, "")
}

// DiskLinks makes /dev/disk/by-label, by-uuid, by-partlabel and
// by-partuuid, as udev would.
func (Linux) DiskLinks() error {
	return makeDiskLinks("/sys/class/block", "/dev", mknodBlock)
}
