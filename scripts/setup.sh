#!/bin/sh
# Install every build, test and runtime dependency from Debian packages, then build.
# Idempotent: installs only what is missing, reconfigures only when needed.
#   scripts/setup.sh [BUILDDIR]      (default: build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}

# build: compiler, meson, the libraries; runtime: libvirt daemon and client, QEMU, dnsmasq,
# iproute2 (namespaces), nftables/iptables (libvirt's NAT rules); tests: cmocka, the test guest
# (Debian kernel + static busybox + cpio/kmod), cidata seeds (genisoimage), virt-xml-validate
# (libvirt-clients, and xmllint from libxml2-utils, which --no-install-recommends leaves out).
PACKAGES="gcc pkg-config meson ninja-build clang-format python3
 libvirt-dev libxml2-dev libnl-3-dev libnl-route-3-dev libfyaml-dev libnftables-dev libcmocka-dev
 libvirt-daemon-system libvirt-clients libxml2-utils qemu-system-x86 qemu-utils dnsmasq-base iproute2
 nftables iptables
 busybox-static linux-image-amd64 kmod cpio gzip genisoimage"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages:$missing; run this script as root" >&2
    exit 1
  fi
  echo "setup: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends $missing
fi

# libvirt's packages may start the system daemon where an init system runs; kvmlab does not need
# it (labs default to their own sandbox when it is absent).
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" >&2
fi
ninja -C "$BUILD" >&2
