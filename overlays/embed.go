// Package overlays holds the stock overlays shipped inside the binary:
// wwinit, wwclient, hosts, hostname, issue, resolv, fstab, localtime,
// chrony, ssh.host_keys, ssh.authorized_keys, syncuser, udev.netname,
// systemd.netname, ifcfg, ifupdown, NetworkManager, systemd.networkd,
// netplan, wicked, debug; the disk overlays ignition, sfdisk, mkfs,
// mkswap, systemd.mount, systemd.swap; mig (NVIDIA MIG partitions); and
// host, the server's own files (/etc/hosts, dhcpd and dnsmasq
// configuration, NFS exports, ssh set-up at login, GRUB's first menu).
// They render the same files as Warewulf v4.7's stock overlays of those
// names, from the same template data, so a node sees what it would
// under Warewulf; where Warewulf's output is wrong, the template says
// how and why ours differs.
//
// Layout: every overlay is a directory <name>/ holding
//
//   - rootfs/: the tree laid over the node's root. A file whose name ends
//     in .ww is a Go template (Warewulf's data and functions) rendered
//     without that suffix; any other file is copied as is.
//   - attrs (optional): what embedding cannot carry. One entry per line,
//     "path mode [uid gid]" with path relative to rootfs and an octal
//     mode, or "path -> target" for a symbolic link (no file is needed
//     at path); a line starting with "#" is a comment. Files not listed
//     are 0644 and directories 0755, owned by root. Modes matter here:
//     they are the modes of the rendered files (private keys 0600).
//
// A site overlay or a distribution overlay on disk of the same name
// shadows the built-in one (see overlay.Store).
package overlays

import (
	"embed"
	"io/fs"
)

// all: keeps names that start with a dot (root/.ssh).
//
//go:embed all:*/rootfs */attrs
var files embed.FS

// FS returns the built-in overlays, rooted so that
// hosts/rootfs/etc/hosts.ww is at that path.
func FS() fs.FS { return files }
