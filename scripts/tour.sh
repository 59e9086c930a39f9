#!/usr/bin/env bash
# A scripted tour of wwctl against a throwaway tree ("make tour"):
# nothing outside a temporary directory is touched. "make demo" boots a
# virtual cluster instead (scripts/demo.sh).
set -euo pipefail
wwctl=$(realpath "${1:-bin/wwctl}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/warewulf.conf" <<CONF
ipaddr: 10.0.0.1/16
paths:
  sysconfdir: $tmp/etc
  hostroot: $tmp
  localstatedir: $tmp/var
CONF
export WAREWULFCONF="$tmp/warewulf.conf"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
fails() { printf '\n\033[1m$ %s\033[0m   (refused on purpose)\n' "$*"; if "$@"; then echo "tour: expected a refusal" >&2; exit 1; fi; }

echo "A throwaway cluster in $tmp"
step "$wwctl" profile list
step "$wwctl" profile add gpu --comment "GPU nodes" --tagadd gpu=a100 -A "nouveau.modeset=0"
step "$wwctl" node add 'n[001-004]' --ipaddr 10.0.1.1 --netmask 255.255.0.0 -N eth0 --ipmiaddr 10.0.2.1
step "$wwctl" node set 'n[003-004]' --profile default,gpu --yes
step "$wwctl" node set n001 --hwaddr AA-BB-CC-00-00-01 --yes
step "$wwctl" node list
step "$wwctl" node list -n
fails "$wwctl" node set n002 --hwaddr aa:bb:cc:00:00:01 --yes
fails "$wwctl" node set n002 --ipaddr 10.0.1.300 --yes
step "$wwctl" node list -a n003
step "$wwctl" node export n003
step "$wwctl" node delete n004 --yes
step cat "$tmp/etc/warewulf/nodes.conf"

# Overlays: keys, a site template, a render and an incremental build.
# configure ssh also makes root's key in $HOME/.ssh: a throwaway one here.
HOME="$tmp" step "$wwctl" configure ssh
step "$wwctl" overlay create site
EDITOR="$tmp/editor.sh"
printf '#!/bin/sh\nprintf "Welcome to {{.Id}} ({{.NetDevs.default.Ipaddr}}), cluster of {{len .AllNodes}} nodes\\n" > "$1"\n' >"$EDITOR"
chmod +x "$EDITOR"
export EDITOR
step "$wwctl" overlay edit --parents site etc/motd.ww
step "$wwctl" overlay show --render n002 site etc/motd.ww
step "$wwctl" node set 'n[001-003]' --runtime-overlays hosts,site --yes
step "$wwctl" overlay show --render n001 hosts etc/hosts.ww
step "$wwctl" overlay build
step "$wwctl" node set n003 --ipaddr 10.0.1.33 --yes
step "$wwctl" overlay build
step ls -l "$tmp/var/warewulf/provision/overlays"

# Images: a busybox image needs no network; exec needs root.
step "$wwctl" image create --list
step "$wwctl" image create bb --from busybox --build
step "$wwctl" image build bb
if [ "$(id -u)" -eq 0 ]; then
  step "$wwctl" image exec bb -- sh -c 'echo "inside $(hostname): $(uname -s), pid $$"; echo hello > /etc/motd'
fi
step "$wwctl" node set 'n[001-003]' --image bb --yes
step "$wwctl" image list
echo
echo "Done: every change above was validated and written atomically under a lock;"
echo "the second overlay build rebuilt only what the address change affected, and"
echo "the image, unchanged, was not built twice."
