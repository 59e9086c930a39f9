#!/bin/sh
# Installed by wwboot's sfdisk overlay: partitions the node's disks.
PATH=$PATH:/sbin:/usr/sbin:/bin:/usr/bin

# Our own, always: the runner of wwinit.d starts each script with sh, so
# its functions do not reach here, and "command -v info" would find
# texinfo's info program.
info() { printf '%s\n' "$*"; }
die() { printf '%s\n' "$*" >&2; exit 1; }

if ! command -v sfdisk >/dev/null ; then
    info "warewulf: sfdisk not found, skipping partitioning"
else :
    info "warewulf: sfdisk: partitioning /dev/sda"
    sfdisk --label gpt --wipe "always" "/dev/sda" < "${PREFIX}/warewulf/sfdisk/device-0" || die "warewulf: sfdisk: failed to partition /dev/sda"

    if command -v blockdev >/dev/null ; then
        info "warewulf: blockdev: re-reading partition table"
        blockdev --rereadpt /dev/sda
    fi
    if command -v udevadm >/dev/null ; then
        info "warewulf: udevadm: triggering udev events for block devices"
        udevadm trigger --subsystem-match=block --action=add
        udevadm settle
    fi
fi
