#!/bin/sh
# Makes systemd see a new or changed warewulfd.service. Enables and starts
# nothing: "systemctl enable --now warewulfd" is the administrator's step.
# An upgrade of a running daemon asks it to restart into the new program.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if systemctl is-active --quiet warewulfd.service 2>/dev/null; then
		systemctl try-restart warewulfd.service >/dev/null 2>&1 || true
	fi
fi
exit 0
