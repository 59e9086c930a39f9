package mkchroot

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// findBusybox returns a statically linked busybox of the host: a dynamic
// one would not run in an image without the host's libraries.
func findBusybox(h host) (string, error) {
	var candidates []string
	if p, err := h.lookPath("busybox"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, h.path("/bin/busybox"), h.path("/usr/bin/busybox"))
	var dynamic string
	for _, p := range candidates {
		static, err := isStatic(p)
		if err != nil {
			continue
		}
		if static {
			return p, nil
		}
		dynamic = p
	}
	if dynamic != "" {
		return "", fmt.Errorf("a statically linked busybox (%s is dynamically linked; apt-get install busybox-static)", dynamic)
	}
	return "", fmt.Errorf("busybox-static (apt-get install busybox-static)")
}

// isStatic reports whether the ELF file at p has no program interpreter.
func isStatic(p string) (bool, error) {
	f, err := elf.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// createBusybox makes a tree that boots with busybox init into a root
// shell on the console and runs a shell under "wwctl image exec".
func createBusybox(ctx context.Context, h host, dest string, opts Options) error {
	bb, err := findBusybox(h)
	if err != nil {
		return err
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
		{"etc", 0o755}, {"etc/init.d", 0o755}, {"usr/share/udhcpc", 0o755},
		{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"run", 0o755},
		{"tmp", os.ModeSticky | 0o777}, {"var", 0o755}, {"var/log", 0o755}, {"var/tmp", os.ModeSticky | 0o777},
		{"root", 0o700}, {"home", 0o755}, {"mnt", 0o755},
	} {
		p := filepath.Join(dest, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		// Explicit chmod: MkdirAll's mode is filtered by the umask.
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	if err := copyFile(bb, filepath.Join(dest, "bin", "busybox"), 0o755); err != nil {
		return fmt.Errorf("copy busybox: %w", err)
	}
	applets, err := busyboxApplets(ctx, bb)
	if err != nil {
		return err
	}
	// init is what wwinit execs; make sure it is there whatever --list said.
	applets = append(applets, "sbin/init")
	for _, a := range applets {
		link := filepath.Join(dest, a)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", link); err != nil {
			return err
		}
	}
	version := busyboxVersion(ctx, bb)
	for _, f := range busyboxFiles(version) {
		if err := os.WriteFile(filepath.Join(dest, f.path), []byte(f.content), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(dest, f.path), f.mode); err != nil {
			return err
		}
	}
	opts.Log.Info("created busybox tree", "dest", dest, "applets", len(applets), "version", version)
	return nil
}

// busyboxApplets lists the applets as paths relative to the root
// ("usr/bin/awk"), from --list-full, or --list (all in bin) for a busybox
// built without it.
func busyboxApplets(ctx context.Context, bb string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	prefix := ""
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		if out, err = exec.CommandContext(ctx, bb, "--list").Output(); err != nil {
			return nil, fmt.Errorf("%s --list: %w", bb, err)
		}
		prefix = "bin/"
	}
	var applets []string
	for _, line := range strings.Fields(string(out)) {
		p := filepath.Clean(prefix + strings.TrimPrefix(line, "/"))
		if p == "bin/busybox" || strings.HasPrefix(p, "..") || filepath.IsAbs(p) {
			continue
		}
		applets = append(applets, p)
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s lists no applets", bb)
	}
	return applets, nil
}

var busyboxVersionRE = regexp.MustCompile(`BusyBox v([0-9][^ ]*)`)

// busyboxVersion returns busybox's version, or "unknown".
func busyboxVersion(ctx context.Context, bb string) string {
	out, _ := exec.CommandContext(ctx, bb).Output()
	if m := busyboxVersionRE.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "unknown"
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

type treeFile struct {
	path    string
	mode    os.FileMode
	content string
}

// busyboxFiles is the minimal /etc (and udhcpc hook) of the busybox tree.
// root's password is locked ("*", no shadow file): the console gets a
// root shell from inittab, and there is no network login to protect.
func busyboxFiles(version string) []treeFile {
	return []treeFile{
		{"etc/passwd", 0o644, "root:*:0:0:root:/root:/bin/sh\nnobody:*:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", 0o644, "root:x:0:\nnogroup:x:65534:\n"},
		{"etc/hostname", 0o644, "busybox\n"},
		{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
		{"etc/shells", 0o644, "/bin/sh\n/bin/ash\n"},
		{"etc/fstab", 0o644, "# The kernel filesystems are mounted by /etc/init.d/rcS.\n"},
		{"etc/os-release", 0o644, "NAME=BusyBox\nID=busybox\nVERSION_ID=" + version +
			"\nPRETTY_NAME=\"BusyBox " + version + "\"\n"},
		{"etc/profile", 0o644, `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
[ -n "$PS1" ] || PS1='\h:\w\$ '
`},
		{"etc/inittab", 0o644, `# busybox init: see busybox's examples/inittab.
::sysinit:/etc/init.d/rcS
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
::restart:/sbin/init
`},
		{"etc/init.d/rcS", 0o755, `#!/bin/sh
# Mount the kernel filesystems, name the node, bring up lo, then start the
# S* scripts in /etc/init.d (overlays add their own there).
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
[ -e /proc/mounts ] || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts devpts /dev/pts
mounted /run || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
[ -s /etc/hostname ] && hostname -F /etc/hostname
ip link set lo up
for s in /etc/init.d/S*; do
	[ -x "$s" ] && "$s" start
done
`},
		{"usr/share/udhcpc/default.script", 0o755, `#!/bin/sh
# udhcpc hook: apply the lease ("udhcpc -i eth0").
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
	: > /etc/resolv.conf
	[ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
	;;
esac
exit 0
`},
	}
}
