#!/bin/sh
# Stops a running daemon before its program is removed (not on upgrade:
# the package manager runs this with "upgrade" or "1" then).
set -e
case "$1" in
remove|0)
	if [ -d /run/systemd/system ]; then
		systemctl stop warewulfd.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
