#!/bin/sh
# Install every build, test and runtime dependency from Debian packages, then build.
# Idempotent: installs only what is missing, reconfigures only when needed.
#   scripts/setup.sh [BUILDDIR [MESON-OPTION...]]   (default: build)
#   scripts/setup.sh --deps                         (install only, build nothing)
# KVMLAB_EXTRA_PACKAGES adds Debian packages to the list (bench/setup.sh uses it).
# The options apply when BUILDDIR is first configured, e.g. the sanitizer build of scripts/test:
#   scripts/setup.sh build-asan -Db_sanitize=address,undefined
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift

# build: compiler, meson, the libraries; runtime: libvirt daemon and client, QEMU, dnsmasq,
# iproute2 (namespaces), nftables/iptables (libvirt's NAT rules); tests: cmocka, the test guest
# (Debian kernel + static busybox + cpio/kmod), cidata seeds (genisoimage), virt-xml-validate
# (libvirt-clients, and xmllint from libxml2-utils, which --no-install-recommends leaves out);
# fuzzing (scripts/fuzz): clang, its libFuzzer and sanitizer runtimes (libclang-rt-14-dev, a
# Recommends that --no-install-recommends leaves out) and llvm-symbolizer (llvm) for stacks.
# The image store: downloads with libcurl (libcurl4-openssl-dev), sha256 with OpenSSL's EVP
# (libssl-dev), conversion with qemu-img (qemu-utils); its integration test serves images with
# busybox httpd (busybox-static, which honours Range requests) and measures bytes on the wire
# with iproute2. OS facts for the disk bus: libosinfo (libosinfo-1.0-dev) and its database
# (osinfo-db), both named: nothing else pulls the database in with --no-install-recommends.
# Nodes: the seed ISO in-process with libisofs (libisofs-dev), the node image with debootstrap and
# mkfs.ext4 -d (e2fsprogs), the bootstrap CA with OpenSSL (openssl checks its hash), `ssh` and
# the lab's key (openssh-client), `cloud-init schema` for rendered user-data (cloud-init), stub
# Kubernetes packages and their apt repository in tests (dpkg-dev, apt-utils). The bridge backend:
# its own dnsmasq (dnsmasq-base), iptables-nft for Docker-like firewalls in its tests, ping(8)
# (iputils-ping) as the tests' independent check that a gateway answers. Imported VMware machines
# with firmware = "efi": libvirt picks UEFI firmware from Debian's OVMF (ovmf).
PACKAGES="gcc pkg-config meson ninja-build clang-format python3
 clang libclang-rt-14-dev llvm
 libvirt-dev libxml2-dev libnl-3-dev libnl-route-3-dev libfyaml-dev libnftables-dev libcmocka-dev
 libcurl4-openssl-dev libssl-dev libosinfo-1.0-dev osinfo-db
 libvirt-daemon-system libvirt-clients libxml2-utils qemu-system-x86 qemu-utils dnsmasq-base iproute2
 nftables iptables iputils-ping ovmf
 busybox-static linux-image-amd64 kmod cpio gzip genisoimage
 libisofs-dev debootstrap e2fsprogs cloud-init openssh-client openssl apt-utils dpkg-dev"

# a caller's own extra packages (bench/setup.sh) go through the same check and install
PACKAGES="$PACKAGES ${KVMLAB_EXTRA_PACKAGES:-}"
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
[ "$BUILD" = --deps ] && exit 0
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" "$@" >&2
fi
ninja -C "$BUILD" >&2
