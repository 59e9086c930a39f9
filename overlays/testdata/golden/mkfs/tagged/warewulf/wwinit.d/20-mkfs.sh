#!/bin/sh
# Installed by wwboot's mkfs overlay: formats the node's file systems.
PATH=$PATH:/sbin:/usr/sbin:/bin:/usr/bin

# Our own, always: the runner of wwinit.d starts each script with sh, so
# its functions do not reach here, and "command -v info" would find
# texinfo's info program.
info() { printf '%s\n' "$*"; }
die() { printf '%s\n' "$*" >&2; exit 1; }

# already_formatted DEVICE: true when DEVICE holds a signature (a file
# system, swap, a RAID member...), or when that cannot be checked.
already_formatted() {
    if ! command -v wipefs >/dev/null; then
        info "warewulf: wipefs not found, cannot check if device is already formatted"
        return 0
    fi
    if [ -n "$(wipefs --noheadings --output TYPE "$1" 2>/dev/null)" ]; then
        info "warewulf: $1 already formatted"
        return 0
    fi
    return 1
}

if command -v mkfs >/dev/null ; then :
    if true || ! already_formatted /dev/disk/by-partlabel/tmp; then
        info "warewulf: mkfs: formatting /dev/disk/by-partlabel/tmp"
        mkfs --type=ext4 -L tmp  -m 0 -F /dev/disk/by-partlabel/tmp  || die "warewulf: mkfs: failed to format /dev/disk/by-partlabel/tmp"
    else
        info "warewulf: mkfs: skipping /dev/disk/by-partlabel/tmp"
    fi
    if false || ! already_formatted /dev/disk/by-partlabel/data; then
        info "warewulf: mkfs: formatting /dev/disk/by-partlabel/data"
        mkfs --type=xfs  -U 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0   /dev/disk/by-partlabel/data  || die "warewulf: mkfs: failed to format /dev/disk/by-partlabel/data"
    else
        info "warewulf: mkfs: skipping /dev/disk/by-partlabel/data"
    fi
else
    info "warewulf: mkfs not found"
fi
