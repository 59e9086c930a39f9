#!/bin/sh
# Installed by wwboot's wwinit overlay. Runs each script of
# $PREFIX/warewulf/wwinit.d in name order under sh, with PREFIX exported:
# what the sfdisk, mkfs, mkswap and ignition overlays put there to set
# the node's disks up before its root is prepared. /init runs it with
# PREFIX empty; Warewulf's dracut module runs it with PREFIX=/tmp/wwinit,
# where it unpacked the system overlay. A script that fails is reported
# and the others still run.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH PREFIX
dir="${PREFIX}/warewulf/wwinit.d"
[ -d "$dir" ] || exit 0
for script in "$dir"/*; do
    [ -f "$script" ] || continue
    name=${script##*/}
    echo "wwinit: running wwinit.d/$name"
    sh "$script"
    rc=$?
    [ $rc -eq 0 ] || echo "wwinit: WARNING: wwinit.d/$name failed (exit status $rc); continuing" >&2
done
exit 0
