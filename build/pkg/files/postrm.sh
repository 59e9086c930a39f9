#!/bin/sh
# Makes systemd forget the removed unit. /etc/warewulf and
# /var/lib/warewulf stay: they hold the site's inventory, keys and images.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
