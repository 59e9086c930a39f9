#!/bin/bash
# The README's "Install on a head node", in a fresh Debian 12 system
# container booted with systemd (systemd-nspawn -b, no network but its own
# loopback): apt-get install ./wwboot_*.deb, wwctl configure --all,
# systemctl enable --now warewulfd, /ipxe/<mac> answered, systemctl reload,
# an upgrade keeping an edited warewulf.conf, a removal keeping /etc/warewulf.
# Usage: scripts/container-check.sh DIST (the directory make deb wrote).
# The debootstrap root is cached in /var/cache/wwboot-nspawn.
set -euo pipefail
say() { echo "container-check: $*"; }
fail() { say "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root: it boots a container"
dist=$(realpath "${1:?usage: $0 DIST}")
deb=$(ls -t "$dist"/wwboot_*.deb | head -1)
[ -f "$deb" ] || fail "no wwboot_*.deb in $dist (make deb)"
start=$SECONDS

for p in systemd-nspawn:systemd-container debootstrap:debootstrap; do
  command -v "${p%%:*}" >/dev/null || [ -x "/usr/sbin/${p%%:*}" ] ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${p#*:}" >/dev/null
done

cache=${NSPAWN_CACHE:-/var/cache/wwboot-nspawn}
# The packages the test needs that wwboot's dependencies bring (the
# container has no network): a new list makes a new cached root.
pkgs="systemd systemd-sysv dbus ipxe procps curl iproute2"
base=$cache/bookworm-$(echo "$pkgs" | sha256sum | cut -c1-8)
if [ ! -e "$base/.complete" ]; then
  say "making a Debian 12 root with systemd and ipxe in $base (cached for later runs)"
  rm -rf "$base.new"; mkdir -p "$cache"
  if [ -e /var/cache/wwboot-fresh/bookworm-minbase/.complete ]; then
    cp -a /var/cache/wwboot-fresh/bookworm-minbase "$base.new"
  else
    PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase bookworm "$base.new" >/dev/null
  fi
  rm -f "$base.new/.complete"
  systemd-nspawn -q --register=no --keep-unit -D "$base.new" --pipe /bin/sh -c \
    'export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null &&
     apt-get install -y -q --no-install-recommends '"$pkgs"' >/dev/null && apt-get clean'
  touch "$base.new/.complete"; mv "$base.new" "$base"
fi

work=$(mktemp -d /var/tmp/wwboot-nspawn.XXXXXX)
root=$work/root
nspawn=
cleanup() {
  local rc=$?
  if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
    kill "$nspawn" 2>/dev/null; wait "$nspawn" 2>/dev/null || true
  fi
  [ -n "${NSPAWN_KEEP:-}" ] && say "kept $root" || rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
cp -a "$base" "$root"
mkdir -p "$root/dist" && cp "$deb" "$root/dist/"

say "booting the container (systemd as PID 1; log in $work/boot.log)"
systemd-nspawn -q --register=no --keep-unit --private-network -D "$root" -b >"$work/boot.log" 2>&1 </dev/null &
nspawn=$!
leader=
for _ in $(seq 100); do
  leader=$(pgrep -P "$nspawn" | head -1 || true)
  [ -n "$leader" ] && [ "$(cat /proc/"$leader"/comm 2>/dev/null)" = systemd ] && break
  sleep 0.2
done
[ -n "$leader" ] || fail "systemd did not start: $(tail -5 "$work/boot.log")"
inside() { nsenter -t "$leader" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# Until systemd's bus is up, systemctl cannot ask it.
state=
for _ in $(seq 120); do
  state=$(nsenter -t "$leader" -a -- systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 0.5
done
say "system: $state"
[ "$state" = running ] || [ "$state" = degraded ] || fail "the container's systemd is $state"

step() { say "$*"; }
step "apt-get install ./dist/$(basename "$deb")"
inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ./dist/$(basename "$deb")" >"$work/apt.log" 2>&1 ||
  fail "apt-get install: $(tail -5 "$work/apt.log")"
inside systemctl is-enabled warewulfd >/dev/null 2>&1 && fail "the package enabled warewulfd"
inside systemctl is-active warewulfd >/dev/null 2>&1 && fail "the package started warewulfd"

# The cluster network: a veth pair inside the container's own network
# namespace (this kernel has no dummy interfaces); nothing leaves it.
inside ip link add wwnet type veth peer name wwpeer
inside ip addr add 10.0.0.1/24 dev wwnet
inside ip link set wwpeer up
inside ip link set wwnet up
step "set ipaddr in /etc/warewulf/warewulf.conf"
inside sed -i 's|^#ipaddr: 10.0.0.1/24$|ipaddr: 10.0.0.1/24|' /etc/warewulf/warewulf.conf
inside grep -q '^ipaddr: 10.0.0.1/24$' /etc/warewulf/warewulf.conf || fail "no ipaddr line to set"
step "wwctl configure --all"
inside wwctl configure --all || fail "wwctl configure --all"

step "systemctl enable --now warewulfd"
inside systemctl enable --now warewulfd
for _ in $(seq 50); do inside systemctl is-active --quiet warewulfd && break; sleep 0.2; done
inside systemctl is-active warewulfd || { inside journalctl -u warewulfd --no-pager | tail -20; fail "warewulfd is not active"; }
script=
for _ in $(seq 50); do
  script=$(inside curl -fsS http://127.0.0.1:9873/ipxe/00:11:22:33:44:55 2>/dev/null) && break
  sleep 0.2
done
case "$script" in '#!ipxe'*) say "/ipxe/00:11:22:33:44:55 answered an iPXE script" ;;
  *) inside journalctl -u warewulfd --no-pager | tail -20; fail "/ipxe/<mac> answered: $script" ;; esac

step "systemctl reload warewulfd"
pid=$(inside systemctl show -p MainPID --value warewulfd)
inside systemctl reload warewulfd
# The daemon says it re-read its files (wwctl server logs at info).
reloaded=
for _ in $(seq 50); do
  inside journalctl -u warewulfd --no-pager | grep -q "reloaded warewulf.conf" && { reloaded=1; break; }
  sleep 0.2
done
[ -n "$reloaded" ] || { inside journalctl -u warewulfd --no-pager | tail -20; fail "no \"reloaded\" line in the daemon's journal after systemctl reload"; }
[ "$(inside systemctl show -p MainPID --value warewulfd)" = "$pid" ] || fail "reload restarted the daemon"

step "upgrade to a newer package, warewulf.conf edited"
inside sh -c 'echo "# edited by the administrator" >> /etc/warewulf/warewulf.conf'
version=$(dpkg-deb -f "$deb" Version)
(cd build/pkg && go run . deb -out "$root/dist/new" -version "$version.1" -epoch "${SOURCE_DATE_EPOCH:-0}" >/dev/null)
inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold ./dist/new/wwboot_${version}.1_*.deb" >"$work/apt.log" 2>&1 ||
  fail "upgrade: $(tail -5 "$work/apt.log")"
[ "$(inside dpkg-query -W -f '${Version}' wwboot)" = "$version.1" ] || fail "not upgraded"
inside grep -q "edited by the administrator" /etc/warewulf/warewulf.conf || fail "the upgrade replaced the edited warewulf.conf"
inside systemctl is-active --quiet warewulfd || fail "warewulfd is not active after the upgrade"

step "apt-get remove wwboot"
inside sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q wwboot' >"$work/apt.log" 2>&1 || fail "remove: $(tail -5 "$work/apt.log")"
inside test -f /etc/warewulf/warewulf.conf || fail "the removal took /etc/warewulf/warewulf.conf"
inside test -f /etc/warewulf/nodes.conf || fail "the removal took /etc/warewulf/nodes.conf"
inside test ! -e /usr/bin/wwctl || fail "/usr/bin/wwctl is still there"
inside systemctl is-active --quiet warewulfd && fail "warewulfd still runs after the removal"

inside systemctl poweroff || true
wait "$nspawn" || true
nspawn=
say "passed in $((SECONDS - start)) s"
