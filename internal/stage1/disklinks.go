package stage1

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// makeDiskLinks makes devDir/disk/by-label, by-uuid, by-partlabel and
// by-partuuid anew from the block devices of sysDir, each link leading
// to the device's node: what udev makes, for the scripts that name a
// disk or file system that way before any udev runs. Where two devices
// share a name the first (in the kernel's order) has the link, as a
// name in nodes.conf should be unique anyway.
func makeDiskLinks(sysDir, devDir string, mknod mknodFunc) error {
	devs, err := scanBlockDevs(sysDir, devDir, mknod)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range byLink {
		dir := filepath.Join(devDir, strings.TrimPrefix(l.dir, "/dev/"))
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range devs {
			v := d.id(l.key)
			if d.Err != nil || v == "" {
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				errs = append(errs, err)
				break
			}
			err := os.Symlink(d.Path, filepath.Join(dir, udevEscape(v)))
			if err != nil && !errors.Is(err, os.ErrExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// udevEscape writes a name as udev does in /dev/disk link names: bytes
// other than letters, digits, "#+-.:=@_" and those of UTF-8 sequences
// become \xNN (a label "my root" is by-label/my\x20root). udevUnescape
// undoes it.
func udevEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("#+-.:=@_", c) >= 0, c >= 0x80:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// Udevadm is stage one as the bootstrap's udevadm (a link to /init), for
// the wwinit.d scripts that ask udev, after partitioning, to make the
// new partitions' links and wait for it: "trigger" makes the /dev/disk
// links itself, "settle" has nothing to wait for. It returns the exit
// status.
func Udevadm(args []string, stderr io.Writer, links func() error) int {
	cmd := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			cmd = a
			break
		}
	}
	switch cmd {
	case "trigger":
		if err := links(); err != nil {
			fmt.Fprintf(stderr, "udevadm (wwstage1): /dev/disk links: %v\n", err)
			return 1
		}
		return 0
	case "settle", "control":
		return 0
	}
	fmt.Fprintf(stderr, "udevadm (wwstage1): %q: the bootstrap has no udev; this udevadm knows trigger and settle\n", cmd)
	return 2
}
