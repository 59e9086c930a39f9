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
fi
