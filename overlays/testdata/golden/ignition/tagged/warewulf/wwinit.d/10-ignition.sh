#!/bin/sh
# Installed by wwboot's ignition overlay: partitions and formats the
# node's disks with Ignition's "disks" stage before the switch of root,
# from /warewulf/ignition.json. On success it leaves a mark that keeps
# ww-ignition.service from doing it again once systemd runs.
PATH=$PATH:/sbin:/usr/sbin:/bin:/usr/bin

# Our own, always: the runner of wwinit.d starts each script with sh, so
# its functions do not reach here, and "command -v info" would find
# texinfo's info program.
info() { printf '%s\n' "$*"; }
die() { printf '%s\n' "$*" >&2; exit 1; }

if ! command -v ignition >/dev/null; then
    info "warewulf: ignition not found"
    exit 0
fi
info "warewulf: ignition: partition and format disks"
ignition --config-cache="${PREFIX}/warewulf/ignition.json" --platform=metal --stage=disks ||
    die "warewulf: ignition: failed to partition/format disk"
mkdir -p "${PREFIX}/warewulf/run"
echo "ignition run by 10-ignition.sh" >"${PREFIX}/warewulf/run/.ignition-done"
