#!/usr/bin/env bash
# Installs what building and testing need on Debian 12 or newer, as root,
# and says what it does:
#   - the Debian packages of every command the build and the tests use;
#   - the Go toolchain that go.mod's "go" line names, the one version the
#     build and the tests run on (see "Go toolchain" below);
#   - the Go modules.
# With --e2e also what the virtual cluster (make e2e, make demo) needs:
# QEMU, SeaBIOS, OVMF, iPXE, dpkg-dev, kmod, debootstrap. With --e2e-full
# also what the slow scenarios of make e2e-full need: QEMU for aarch64 and
# AAVMF, shim and GRUB signed, arm64 among dpkg's architectures (for
# apt-get download), and for the custom iPXE builds make, perl, mtools,
# liblzma-dev, gcc-aarch64-linux-gnu and deb-src entries (apt-get source
# ipxe).
# Safe to run again: it installs only what is missing, and then is quiet.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'deps: %s\n' "$*" >&2; }

e2e=false full=false
case "${1:-}" in
  --e2e) e2e=true ;;
  --e2e-full) e2e=true full=true ;;
  "") ;;
  *) say "unknown option $1 (want --e2e, --e2e-full or nothing)"; exit 2 ;;
esac

# apt_install WHAT PKG...: installs PKGs, showing apt's progress (what is
# downloaded and set up) without its per-file chatter.
apt_updated=false
apt_install() {
  local what=$1
  shift
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "$what needs $*: run as root, or install them"
    exit 1
  fi
  say "installing $what: $*"
  if ! $apt_updated; then
    say "apt-get update"
    apt-get update -q 2>&1 | sed -E '/^(Hit|Ign):/d; s/^/  /'
    apt_updated=true
  fi
  # The tests start the servers they use themselves (sshd, the OCI
  # registry): the packages must not start theirs on this machine. A
  # policy-rc.d that denies every start does that for the install, and
  # is removed after it; one the machine has already is left alone.
  local policy=/usr/sbin/policy-rc.d ours=false
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs packages.\nexit 101\n' >$policy
    chmod 755 $policy
    ours=true
  fi
  # Without recommends: qemu-system-x86 alone would pull in some 200
  # packages. What a recommended package would have brought is listed.
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "$@" 2>&1 |
    sed -E '/^(Selecting previously unselected|Preparing to unpack|\(Reading database|Unpacking |Processing triggers|Reading |Building |debconf: )/d; s/^/  /' || rc=$?
  if $ours; then rm -f $policy; fi
  return $rc
}

have() { command -v "$1" >/dev/null; }
# Tools in /usr/sbin, which a user's PATH may lack.
have_sbin() { have "$1" || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

pkgs=()
have git || pkgs+=(git)
# cgo and the race detector (make test runs -race).
have gcc || pkgs+=(gcc)
[ -e /usr/include/stdlib.h ] || pkgs+=(libc6-dev)
# Tests check archives with the real tools when they are there.
have cpio || pkgs+=(cpio)
have zstd || pkgs+=(zstd)
have bzip2 || pkgs+=(bzip2)
have file || pkgs+=(file)
# A real OCI registry for the import tests, and a static busybox for the
# image that needs no network.
have docker-registry || pkgs+=(docker-registry)
{ [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static; } || pkgs+=(busybox-static)
# Stage one's block-device identification is checked against blkid and
# partx on images the real mkfs and partitioning tools make.
have_sbin mkfs.ext4 || pkgs+=(e2fsprogs)
have_sbin mkfs.xfs || pkgs+=(xfsprogs)
have_sbin mkfs.btrfs || pkgs+=(btrfs-progs)
have_sbin mkfs.vfat || pkgs+=(dosfstools)
have_sbin sgdisk || pkgs+=(gdisk)
have_sbin sfdisk || pkgs+=(fdisk)
# Network namespaces (ip, ss), sysctl inside them, and real DHCP and TFTP
# clients for the embedded servers' tests.
have_sbin ip || pkgs+=(iproute2)
have_sbin sysctl || pkgs+=(procps)
have_sbin dhclient || pkgs+=(isc-dhcp-client)
# ISC's DHCP relay agent between the test's networks (dhcp's relay test,
# the relay scenario).
have_sbin dhcrelay || pkgs+=(isc-dhcp-relay)
have tftp || pkgs+=(tftp-hpa)
have curl || pkgs+=(curl)
# The real sshd and ssh that check the nodes' host certificates (overlays'
# ssh test, which runs its own sshd; apt_install starts none).
have_sbin sshd || pkgs+=(openssh-server)
have ssh || pkgs+=(openssh-client)
# The external DHCP servers whose checks (dhcpd -t, dnsmasq --test,
# kea-dhcp4 -t) the configurations "wwctl configure dhcp" writes pass.
have_sbin dhcpd || pkgs+=(isc-dhcp-server)
have_sbin dnsmasq || pkgs+=(dnsmasq-base)
have_sbin kea-dhcp4 || pkgs+=(kea-dhcp4-server)
# OpenIPMI's BMC simulator, the real BMC of the power and sensors tests,
# and ipmitool, the reference of the power bench (Warewulf's way).
have ipmi_sim || pkgs+=(openipmi)
have ipmitool || pkgs+=(ipmitool)
# The real exportfs that checks "wwctl configure nfs"'s exports, and
# mount.nfs for the fake mounts of the nodes' fstab.
have_sbin exportfs || pkgs+=(nfs-kernel-server)
# rpm reads the header of the package "make rpm" builds (build/pkg's
# TestRPM: %config(noreplace), requires).
have rpm || pkgs+=(rpm)
# The iPXE binaries the embedded TFTP server hands to PXE firmware.
[ -e /usr/lib/ipxe/undionly.kpxe ] || pkgs+=(ipxe)
if $e2e; then
  have qemu-system-x86_64 || pkgs+=(qemu-system-x86)
  [ -d /usr/lib/ipxe/qemu ] || pkgs+=(ipxe-qemu)
  [ -f /usr/share/seabios/bios-256k.bin ] || pkgs+=(seabios)
  [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || pkgs+=(ovmf)
  # apt-get download + dpkg-deb for the test image's kernel, depmod,
  # mkfs.ext4 and debugfs for the disk root of scenario h.
  have dpkg-deb || pkgs+=(dpkg-dev)
  have_sbin depmod || pkgs+=(kmod)
  have_sbin debugfs || pkgs+=(e2fsprogs)
  have_sbin debootstrap || pkgs+=(debootstrap)
fi
if $full; then
  # Debian's signed shim and network GRUB: the Secure Boot scenario.
  [ -f /usr/lib/shim/shimx64.efi.signed ] || pkgs+=(shim-signed)
  [ -f /usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed ] || pkgs+=(grub-efi-amd64-signed)
  # The arm64 node pieces: qemu-system-aarch64 with its UEFI firmware
  # (AAVMF).
  have qemu-system-aarch64 || pkgs+=(qemu-system-arm)
  [ -f /usr/share/AAVMF/AAVMF_CODE.fd ] || pkgs+=(qemu-efi-aarch64)
  # "wwctl ipxe build" on Debian's ipxe source package (apt-get source
  # needs dpkg-source, from dpkg-dev): what its make uses, the arm64 cross
  # compiler, mtools for the .usb/.iso targets.
  have make || pkgs+=(make)
  have perl || pkgs+=(perl)
  have objcopy || pkgs+=(binutils)
  have mcopy || pkgs+=(mtools)
  [ -e /usr/include/lzma.h ] || pkgs+=(liblzma-dev)
  have aarch64-linux-gnu-gcc || pkgs+=(gcc-aarch64-linux-gnu)
fi
# The arm64 kernel and busybox-static of the arm64 test image are
# fetched with "apt-get download PKG:arm64" (never installed), which
# needs arm64 in dpkg's architectures and their package lists: added
# once, with an apt-get update.
if $full && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  if [ "$(id -u)" -ne 0 ]; then
    say "the arm64 e2e pieces need dpkg --add-architecture arm64: run as root"
    exit 1
  fi
  say "dpkg --add-architecture arm64 (arm64 packages are downloaded for the e2e cache, never installed)"
  dpkg --add-architecture arm64
  say "apt-get update"
  apt-get update -q 2>&1 | sed -E '/^(Hit|Ign):/d; s/^/  /'
  apt_updated=true
fi
# deb-src for "apt-get source ipxe" (the custom iPXE build tests): the
# same mirrors and suites as the machine's deb822 sources. Written once;
# apt-get update is then needed for it to count.
src_list=/etc/apt/sources.list.d/wwboot-src.sources
if $full && [ ! -e $src_list ] && [ "$(id -u)" -eq 0 ]; then
  awk 'BEGIN { RS = ""; FS = "\n" }
    /(^|\n)Types:[^\n]*deb([ \t\n]|$)/ && !/(^|\n)Types:[^\n]*deb-src/ {
      out = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^#/) continue
        if ($i ~ /^Types:/) $i = "Types: deb-src"
        out = out $i "\n"
      }
      if (out ~ /URIs:[^\n]*\/debian/) printf "%s\n", out
    }' /etc/apt/sources.list.d/*.sources 2>/dev/null >$src_list.new || true
  if [ -s $src_list.new ]; then
    mv $src_list.new $src_list
    say "added deb-src entries for apt-get source: $src_list"
    apt_updated=false
    if [ ${#pkgs[@]} -eq 0 ]; then
      say "apt-get update"
      apt-get update -q 2>&1 | sed -E '/^(Hit|Ign):/d; s/^/  /'
    fi
  else
    rm -f $src_list.new
  fi
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  # A package can be named twice (e2fsprogs); apt takes it once.
  if $e2e; then apt_install "what the build, the tests and the virtual cluster use" "${pkgs[@]}"; else
    apt_install "what the build and the tests use" "${pkgs[@]}"
  fi
fi

# Go toolchain. go.mod's "go" line is the one Go version the build, the
# tests and CI use: the Makefile sets GOTOOLCHAIN to it, so a newer or
# older Go (1.21 or later) fetches it itself through the Go module proxy,
# checked against the checksum database. A Go older than 1.21, or none at
# all (Debian 12's golang-go is 1.19), cannot; then the same module is
# fetched with Debian's go command and installed in /usr/local/go, where
# the Makefile looks first.
want=$(awk '$1 == "go" { print $2; exit }' go.mod)
export PATH="/usr/local/go/bin:$PATH"
# version_ge A B: A >= B as Go versions (1.26.8 >= 1.21).
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }
# The version of a go command itself, never the one go.mod would switch to.
installed_go() { (cd / && GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null | sed 's/^go//'); }

gocmd=$(command -v go || true)
have_go=""
[ -z "$gocmd" ] || have_go=$(installed_go "$gocmd")
if [ -z "$gocmd" ] || ! version_ge "${have_go:-0}" 1.21; then
  if [ -e /usr/local/go ]; then
    say "/usr/local/go holds go${have_go:-?}, which cannot fetch go$want itself (that needs Go 1.21 or later): remove it, or install Go $want there"
    exit 1
  fi
  boot=$gocmd
  if [ -z "$boot" ]; then
    apt_install "a Go to fetch go$want with (Debian's golang-go)" golang-go
    boot=$(command -v go)
  fi
  say "go$want is needed and $boot is go$(installed_go "$boot"): fetching go$want through the Go module proxy"
  platform=$("$boot" env GOHOSTOS)-$("$boot" env GOHOSTARCH)
  tmp=$(mktemp -d)
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
  # go mod download checks the module against the checksum database.
  dir=$(cd "$tmp" && GO111MODULE=on GOFLAGS=-modcacherw GOPATH="$tmp/gopath" GOMODCACHE="$tmp/mod" \
    "$boot" mod download -json "golang.org/toolchain@v0.0.1-go$want.$platform" |
    awk -F'"' '$2 == "Dir" { print $4 } $2 == "Error" { print "error: " $4 > "/dev/stderr"; exit 1 }')
  # Module zips keep no modes: the commands are made executable, as the
  # go command does when it switches toolchains itself.
  cp -r "$dir" /usr/local/go.new
  chmod -R u+w,go-w /usr/local/go.new
  chmod 755 /usr/local/go.new/bin/* /usr/local/go.new/pkg/tool/*/*
  mv /usr/local/go.new /usr/local/go
  say "installed go$(installed_go /usr/local/go/bin/go) in /usr/local/go"
  gocmd=/usr/local/go/bin/go
elif [ "$have_go" != "$want" ]; then
  say "$gocmd is go$have_go; go.mod names go$want, which the go command fetches itself through the Go module proxy"
fi
export GOTOOLCHAIN="go$want"
(cd / && "$gocmd" version >/dev/null)

if ! GOPROXY=off go mod download 2>/dev/null; then
  say "downloading the Go modules (go mod download)"
  go mod download
fi
