#!/usr/bin/env bash
# Installs what building and testing need on a Debian machine: Go (the
# go.mod toolchain is fetched through the Go module proxy when the
# installed one is older) and the modules. Safe to run again: it only
# installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v gcc >/dev/null || need_apt+=(gcc)
# Tests check archives with the real tools when they are there.
command -v cpio >/dev/null || need_apt+=(cpio)
command -v zstd >/dev/null || need_apt+=(zstd)
# A real OCI registry for the import tests, and a static busybox for the
# image that needs no network.
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || need_apt+=(busybox-static)
command -v file >/dev/null || need_apt+=(file)
# Stage one's block-device identification is checked against blkid and
# partx on images the real mkfs and partitioning tools make (they live
# in /usr/sbin, which a user's PATH may lack).
have_sbin() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have_sbin mkfs.ext4 || need_apt+=(e2fsprogs)
have_sbin mkfs.xfs || need_apt+=(xfsprogs)
have_sbin mkfs.btrfs || need_apt+=(btrfs-progs)
have_sbin mkfs.vfat || need_apt+=(dosfstools)
have_sbin sgdisk || need_apt+=(gdisk)
have_sbin sfdisk || need_apt+=(fdisk)
# Real DHCP and TFTP clients for the embedded servers' tests, which run
# in network namespaces of their own.
command -v ip >/dev/null || need_apt+=(iproute2)
command -v dhclient >/dev/null || need_apt+=(isc-dhcp-client)
command -v tftp >/dev/null || need_apt+=(tftp-hpa)
command -v curl >/dev/null || need_apt+=(curl)
# The iPXE binaries the embedded TFTP server hands to PXE firmware.
[ -e /usr/lib/ipxe/undionly.kpxe ] || need_apt+=(ipxe)
# --e2e: what the virtual cluster (make e2e, make demo) needs: QEMU with
# SeaBIOS and the NICs' iPXE ROMs, OVMF, iPXE's binaries for TFTP,
# apt-get download + dpkg-deb for the test image's kernel, depmod,
# mkfs.ext4 and debugfs for the disk root of scenario h.
e2e_apt=()
if [ "${1:-}" = --e2e ]; then
  command -v qemu-system-x86_64 >/dev/null || e2e_apt+=(qemu-system-x86)
  [ -d /usr/lib/ipxe/qemu ] || e2e_apt+=(ipxe-qemu)
  [ -f /usr/share/seabios/bios-256k.bin ] || e2e_apt+=(seabios)
  [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || e2e_apt+=(ovmf)
  [ -f /usr/lib/ipxe/snponly.efi ] || e2e_apt+=(ipxe)
  command -v dpkg-deb >/dev/null || e2e_apt+=(dpkg-dev)
  command -v depmod >/dev/null || e2e_apt+=(kmod)
  [ -x /sbin/mkfs.ext4 ] && [ -x /sbin/debugfs ] || e2e_apt+=(e2fsprogs)
  command -v debootstrap >/dev/null || e2e_apt+=(debootstrap)
fi
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  need_apt+=(golang-go)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "deps: installing ${need_apt[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ ${#e2e_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: the virtual cluster needs ${e2e_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "deps: installing ${e2e_apt[*]}" >&2
  apt-get update -qq
  # Without recommends: qemu-system-x86 would pull in some 200 packages.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${e2e_apt[@]}" >/dev/null
fi
if ! command -v go >/dev/null; then
  export PATH="/usr/local/go/bin:$PATH"
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
go mod download
