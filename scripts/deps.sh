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
# Real DHCP and TFTP clients for the embedded servers' tests, which run
# in network namespaces of their own.
command -v ip >/dev/null || need_apt+=(iproute2)
command -v dhclient >/dev/null || need_apt+=(isc-dhcp-client)
command -v tftp >/dev/null || need_apt+=(tftp-hpa)
command -v curl >/dev/null || need_apt+=(curl)
# The iPXE binaries the embedded TFTP server hands to PXE firmware.
[ -e /usr/lib/ipxe/undionly.kpxe ] || need_apt+=(ipxe)
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
if ! command -v go >/dev/null; then
  export PATH="/usr/local/go/bin:$PATH"
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
go mod download
