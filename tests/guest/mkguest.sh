#!/bin/bash
# Build (or reuse) the kvmlab e2e test guest: the Debian kernel (linux-image-amd64) plus a
# small busybox (busybox-static) initramfs whose /init (tests/guest/init) reports what the
# guest sees on the serial console. See tests/guest/README.md for the console protocol.
#
# usage: tests/guest/mkguest.sh CACHE_DIR
#   Prints the absolute path of CACHE_DIR/<key>/guest.env as its only stdout line; that file
#   holds KERNEL=, INITRD= and KVER= lines. Progress and errors go to stderr.
#   <key> = <kernel version>-<sha256 of mkguest.sh, init and udhcpc.script>, so editing any of
#   them (or installing a newer Debian kernel) builds a new guest; otherwise it is reused.
#   Safe to run concurrently: builds happen under flock(CACHE_DIR/.lock) into a temporary
#   directory that is renamed into place when complete.
#   KVMLAB_GUEST_KVER=KVER picks a kernel version instead of the newest usable one.
# needs: busybox-static, linux-image-amd64, kmod (modprobe), cpio, gzip, util-linux (flock)
set -euo pipefail

PROG=mkguest
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 CACHE_DIR" >&2; exit 2; }
T0=$(date +%s.%N)
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
for f in mkguest.sh init udhcpc.script; do
	[ -f "$HERE/$f" ] || die "missing $HERE/$f"
done
for tool in modprobe cpio gzip flock sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (apt-get install kmod cpio gzip util-linux coreutils)"
done

# --- a static busybox ---------------------------------------------------------------------
BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null || true)"; do
	[ -n "$b" ] && [ -x "$b" ] && { BUSYBOX=$(readlink -f "$b"); break; }
done
[ -n "$BUSYBOX" ] || die "busybox not found: install busybox-static (apt-get install busybox-static)"
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
	# not from the Debian package: accept it only if it really is static
	LC_ALL=C ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic executable' ||
		die "$BUSYBOX is dynamically linked: install busybox-static (apt-get install busybox-static)"
fi

# --- the newest Debian kernel that has both an image and its modules ------------------------
usable_kver() { [ -f "/boot/vmlinuz-$1" ] && [ -f "/lib/modules/$1/modules.dep" ]; }
if [ -n "${KVMLAB_GUEST_KVER:-}" ]; then
	KVER=$KVMLAB_GUEST_KVER
	usable_kver "$KVER" || die "KVMLAB_GUEST_KVER=$KVER: need /boot/vmlinuz-$KVER and /lib/modules/$KVER/modules.dep"
else
	KVER=$(for k in /boot/vmlinuz-*; do
		[ -e "$k" ] || continue
		v=${k#/boot/vmlinuz-}
		usable_kver "$v" && echo "$v"
	done | sort -V | tail -n 1)
	[ -n "$KVER" ] || die "no usable Debian kernel: need /boot/vmlinuz-KVER with /lib/modules/KVER/modules.dep (apt-get install linux-image-amd64)"
fi

# --- cache lookup ---------------------------------------------------------------------------
mkdir -p "$1"
CACHE=$(cd "$1" && pwd)
HASH=$(cd "$HERE" && sha256sum mkguest.sh init udhcpc.script | sha256sum | cut -c1-16)
KEY=$KVER-$HASH
OUT=$CACHE/$KEY
if [ -f "$OUT/guest.env" ]; then
	log "reusing $OUT"
	echo "$OUT/guest.env"
	exit 0
fi

exec 9>"$CACHE/.lock"
flock -w 900 9 || die "timed out waiting for $CACHE/.lock"
if [ -f "$OUT/guest.env" ]; then # another caller built it while we waited
	log "reusing $OUT (built concurrently)"
	echo "$OUT/guest.env"
	exit 0
fi
# leftovers of interrupted builds (only the lock holder ever builds, so these are stale)
rm -rf "$CACHE"/.build.* "$OUT"
TMP=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
log "building guest $KEY (kernel $KVER, busybox $BUSYBOX)"

ROOT=$TMP/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,mnt,lib/modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh" # the rest of the applet links are made by /init at boot
install -m 0755 "$HERE/init" "$ROOT/init"
install -m 0755 "$HERE/udhcpc.script" "$ROOT/etc/udhcpc.script"

# --- drivers: storage buses, NICs, seed ISO; resolved for KVER without loading anything ------
MODS="virtio_pci virtio_blk virtio_scsi virtio_net
      ahci ata_piix ata_generic sd_mod sr_mod
      sym53c8xx mptsas mptspi megaraid_sas vmw_pvscsi nvme
      e1000 e1000e 8139cp vmxnet3
      isofs"
: >"$ROOT/etc/modules.order"
for m in $MODS; do
	deps=$(modprobe -d / -S "$KVER" --show-depends "$m" 2>/dev/null) ||
		{ log "warning: module $m not found for $KVER, skipped"; continue; }
	printf '%s\n' "$deps" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko##*/lib/modules/"$KVER"/}
	# CPU-specific crypto accelerators: optional, and they fail to load under TCG
	case "$rel" in kernel/arch/x86/crypto/*) continue ;; esac
	dst=$ROOT/lib/modules/${rel%.ko*}.ko
	mkdir -p "${dst%/*}"
	case "$ko" in
	*.ko) cp "$ko" "$dst" ;;
	*.ko.xz) xz -dc "$ko" >"$dst" ;;
	*.ko.zst) zstd -qdc "$ko" >"$dst" ;;
	*.ko.gz) gzip -dc "$ko" >"$dst" ;;
	*) die "unexpected module file $ko" ;;
	esac
	echo "${rel%.ko*}.ko" >>"$ROOT/etc/modules.order"
done
NMODS=$(wc -l <"$ROOT/etc/modules.order")
[ "$NMODS" -gt 0 ] || die "no modules resolved for $KVER"

mkdir -p "$TMP/out"
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$TMP/out/initrd.gz"
cp "/boot/vmlinuz-$KVER" "$TMP/out/vmlinuz"
cat >"$TMP/out/guest.env" <<EOF
KERNEL=$OUT/vmlinuz
INITRD=$OUT/initrd.gz
KVER=$KVER
EOF
mv -T "$TMP/out" "$OUT"
log "built $OUT: initrd $(du -k "$OUT/initrd.gz" | cut -f1) KiB, $NMODS modules, $(echo "$(date +%s.%N) - $T0" | awk '{printf "%.1f", $1 - $3}') s"
echo "$OUT/guest.env"
