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
else
    info "warewulf: mkfs not found"
fi
