#!/usr/bin/env bash
# "make fresh-check": runs the README's two set-up commands, exactly as the
# README writes them, on a fresh Debian machine: a minbase Debian root
# (debootstrap --variant=minbase) with only make, git and ca-certificates
# added, into which the committed tree is cloned. The demo runs until both
# nodes reach RUNTIME_OVERLAY and is then stopped with Ctrl-C (SIGINT to
# its process group, as a terminal sends it), and nothing may be left
# running; then the test command must pass. Needs root.
#
# The root is made once and cached in $FRESH_CACHE (default
# /var/cache/wwboot-fresh); each run works on a copy of it, in its own
# mount and PID namespaces, and removes the copy at the end. What the
# copy gets from this machine is what any new machine of this workplace
# has: its DNS settings and its trusted certificate authorities. apt's
# downloaded packages are kept in the cache between runs (they are still
# installed by the commands under test).
#
# Settings: FRESH_SUITE (bookworm), FRESH_CACHE, FRESH_KEEP=1 keeps the
# copy (its path is printed), FRESH_DEMO_TIMEOUT (seconds until both
# nodes must have reached RUNTIME_OVERLAY, 1200).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mfresh-check: %s\033[0m\n' "$*"; }
fail() {
  say "FAILED: $*"
  exit 1
}

# The README's set-up commands: the lines of the first sh block after
# "## Set-up", without their comments.
readme_commands() {
  awk '/^## Set-up/ { s = 1 } s && /^```sh/ { b = 1; next } b && /^```/ { exit } b' README.md |
    sed -E 's/[[:space:]]*#.*$//; /^[[:space:]]*$/d'
}

# inside runs in the fresh root, in the clone, as PID 1's child of a new
# PID namespace: the README's commands as a new user would type them.
inside() {
  local cmds demo test
  mapfile -t cmds < <(readme_commands)
  demo=${cmds[0]:-}
  test=${cmds[1]:-}
  if [ ${#cmds[@]} -ne 2 ] || [ "$demo" != "make demo" ] || [ "$test" != "make test" ]; then
    fail "the README's set-up commands are now: ${cmds[*]}; teach scripts/fresh-check.sh to drive them"
  fi

  say "\$ $demo   (until both nodes reach RUNTIME_OVERLAY, then Ctrl-C)"
  local log=/root/demo.log start=$SECONDS
  # A process group of its own, as a shell's foreground job has, so that
  # the SIGINT reaches make and the demo at once as a terminal's Ctrl-C.
  : >"$log" # before tail follows it
  setsid bash -c "$demo" >>"$log" 2>&1 </dev/null &
  local pid=$!
  tail -n +1 -f "$log" --pid=$pid | sed -u 's/^/  demo| /' &
  local follow=$!
  local pgrp tries=0
  # setsid makes its own process group as it starts.
  while read -r _ _ _ _ pgrp _ <"/proc/$pid/stat" && [ "$pgrp" != "$pid" ] && [ $tries -lt 20 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  [ "$pgrp" = "$pid" ] || fail "the demo is not the leader of its process group ($pgrp)"
  local reached=false
  while kill -0 $pid 2>/dev/null && [ $((SECONDS - start)) -lt "${FRESH_DEMO_TIMEOUT:-1200}" ]; do
    if grep -Eq '^n1 +RUNTIME_OVERLAY' "$log" && grep -Eq '^n2 +RUNTIME_OVERLAY' "$log"; then
      reached=true
      break
    fi
    sleep 1
  done
  if ! kill -0 $pid 2>/dev/null; then
    wait $pid || true
    fail "$demo exited before both nodes reached RUNTIME_OVERLAY (log: $log)"
  fi
  if $reached; then
    say "both nodes at RUNTIME_OVERLAY $((SECONDS - start)) s after '$demo' started; Ctrl-C"
  else
    say "both nodes did not reach RUNTIME_OVERLAY within ${FRESH_DEMO_TIMEOUT:-1200} s; Ctrl-C"
  fi
  kill -INT -- -$pid
  local waited=0
  while kill -0 $pid 2>/dev/null && [ $waited -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  kill -0 $pid 2>/dev/null && fail "$demo still running 60 s after Ctrl-C"
  wait $pid || true
  sleep 1
  $reached || fail "the nodes did not boot"
  grep -q 'Done; nothing is left running' "$log" || fail "the demo did not say it removed everything (log: $log)"
  wait $follow || true
  # Nothing of the demo may be left: no process but this script (PID 1
  # of the namespace), no network namespace (and so no tap or bridge).
  local left=() p comm state
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = 1 ] || [ "$p" = "$BASHPID" ] && continue
    read -r comm <"/proc/$p/comm" 2>/dev/null || continue
    read -r _ _ state _ <"/proc/$p/stat" 2>/dev/null || continue
    [ "$state" = Z ] && continue
    left+=("$p:$comm")
  done
  [ ${#left[@]} -eq 0 ] || fail "left running after Ctrl-C: ${left[*]}"
  local ns
  ns=$(ip netns list 2>/dev/null || true)
  [ -z "$ns" ] || fail "network namespaces left after Ctrl-C: $ns"
  say "after Ctrl-C nothing is left running: no process, no network namespace"

  say "\$ $test"
  start=$SECONDS
  bash -c "$test" </dev/null || fail "$test failed"
  say "'$test' passed in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
}

if [ "${1:-}" = --inside ]; then
  inside
  exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "run as root: it makes a Debian root and mounts in it"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  say "note: uncommitted changes are not checked; the committed tree ($(git rev-parse --short HEAD)) is"
readme_commands >/dev/null

suite=${FRESH_SUITE:-bookworm}
cache=${FRESH_CACHE:-/var/cache/wwboot-fresh}
base=$cache/$suite-minbase
total=$SECONDS

if [ ! -e "$base/.complete" ]; then
  if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
    say "installing debootstrap"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
  fi
  say "making a minbase Debian $suite root with make, git and ca-certificates in $base (cached for later runs)"
  rm -rf "$base.new"
  mkdir -p "$cache"
  PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --include=make,git,ca-certificates \
    "$suite" "$base.new" 2>&1 | sed -u -E '/^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) /d; s/^/  /'
  touch "$base.new/.complete"
  mv "$base.new" "$base"
fi

work=$(mktemp -d /var/tmp/wwboot-fresh.XXXXXX)
root=$work/root
cleanup() {
  local rc=$?
  # The PID namespace took its processes along; what is mounted in the
  # copy is gone with the mount namespace. Both are checked, not assumed.
  if grep -q " $root" /proc/self/mounts; then
    say "mounts left under $root:"
    grep " $root" /proc/self/mounts | sed 's/^/  /'
    umount -R "$root" 2>/dev/null || umount -lR "$root" || true
    rc=1
  fi
  if [ -n "${FRESH_KEEP:-}" ]; then
    say "kept $root"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
say "copying the cached root to $root"
cp -a "$base" "$root"
rm -f "$root/.complete"

# The machine's environment, as a new machine of this workplace has it:
# name servers, and any certificate authority this machine trusts that
# Debian's bundle lacks (a proxy's, say), added the Debian way.
cp /etc/resolv.conf "$root/etc/resolv.conf"
awk -v bundle="$root/etc/ssl/certs/ca-certificates.crt" -v out="$root/usr/local/share/ca-certificates" '
  BEGIN { while ((getline l < bundle) > 0) { b = b l "\n"; if (l ~ /END CERTIFICATE/) { have[b] = 1; b = "" } } }
  { blk = blk $0 "\n" }
  /END CERTIFICATE/ { if (!(blk in have)) { n++; f = out "/machine-" n ".crt"; printf "%s", blk > f; close(f) } blk = "" }
' /etc/ssl/certs/ca-certificates.crt
if ls "$root"/usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  chroot "$root" update-ca-certificates >/dev/null
fi

say "cloning the committed tree ($(git rev-parse --short HEAD)) into /root/wwboot"
git clone -q "$PWD" "$root/root/wwboot"
mkdir -p "$cache/apt-archives/partial"

say "running the README's commands in the fresh root"
# A new mount and PID namespace: a root that is a mount, /proc, /sys and
# /run of its own, the machine's devices (taps need /dev/net/tun), and
# every process of the run ends with it.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  TERM="${TERM:-dumb}" FRESH_DEMO_TIMEOUT="${FRESH_DEMO_TIMEOUT:-1200}" ROOT="$root" CACHE="$cache" \
  WWBOOT_FRESH_CHECK=1 \
  unshare --mount --pid --fork --propagation private bash -euc '
    # The root a mount point of its own, as on a machine ("ip netns exec"
    # remounts / as a slave).
    mount --bind "$ROOT" "$ROOT"
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sysfs "$ROOT/sys"
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
    mount --bind "$CACHE/apt-archives" "$ROOT/var/cache/apt/archives"
    exec chroot "$ROOT" bash -c "cd /root/wwboot && exec bash scripts/fresh-check.sh --inside"
  '
say "passed in $(((SECONDS - total) / 60)) min $(((SECONDS - total) % 60)) s"
