#!/usr/bin/env bash
# "make demo": a virtual cluster on this machine. Installs what it needs
# (QEMU, OVMF, iPXE: scripts/deps.sh --e2e), then runs test/e2e/demo:
# a busybox image with Debian's kernel, two nodes, wwctl server as their
# DHCP, TFTP and HTTP server in a private network namespace, two QEMU VMs
# booting from it, and "wwctl node status" as they progress. Ctrl-C stops
# it and removes the VMs, the daemon and the namespace. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin}
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (sudo make demo): the virtual cluster needs a network namespace and taps" >&2
  exit 1
fi
scripts/deps.sh --e2e
export PATH="/usr/local/go/bin:$PATH"
go build -o "$bin/wwboot-demo" ./test/e2e/demo
# exec: Ctrl-C reaches the demo itself, which then cleans up.
exec "$bin/wwboot-demo" -bin "$bin"
