#!/bin/bash
# Acceptance: `kvmlab image build debian-12` makes a bootable image in the shared image store,
# checked by tools other than kvmlab: qemu-img (a standalone qcow2), the bzImage magic of the
# kernel, debugfs (files inside the ext4 file system without mounting it), and a plain QEMU that
# boots the image's own kernel and initrd with a NoCloud seed until cloud-init's runcmd prints
# a marker on the serial port. Then a build from a mirror that does not answer fails clearly and
# leaves nothing in the store. TAP; root; minutes (debootstrap from the host's Debian mirror).
#
# usage: image-build.sh KVMLAB
# KVMLAB_IMAGE_STATE: the state directory to build into and keep (the nodes' acceptance test
# runs this script first with it, then uses the image); unset: a fresh directory under the
# build directory, removed at the end.
set -u
K=${1:?usage: image-build.sh KVMLAB}
K=$(realpath "$K")
BUILD=${KVMLAB_BUILD_ROOT:-$(dirname "$(dirname "$K")")}
n=0
bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; bad=1; }
check() { if [ "$2" ]; then ok "$1"; else nok "$1"; fi; }
diag() { sed 's/^/# /'; }

for tool in qemu-img:qemu-utils debugfs:e2fsprogs qemu-system-x86_64:qemu-system-x86 \
            genisoimage:genisoimage debootstrap:debootstrap; do
    command -v "${tool%%:*}" >/dev/null || { nok "'${tool%%:*}' is installed (Debian package ${tool#*:})"; }
done
[ "$(id -u)" = 0 ] || nok "runs as root (debootstrap needs it)"
[ "$bad" = 0 ] || { echo "1..$n"; exit 1; }

if [ -n "${KVMLAB_IMAGE_STATE:-}" ]; then
    STATE=$KVMLAB_IMAGE_STATE
    KEEP=1
else
    STATE=$(mktemp -d "$BUILD/image-build-state.XXXXXX")
    KEEP=
fi
mkdir -p "$STATE"
export KVMLAB_STATE_DIR=$STATE
T=$(mktemp -d "$BUILD/image-build-work.XXXXXX")
QPID=
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null
    rm -rf "$T"
    [ -z "$KEEP" ] && rm -rf "$STATE"
}
trap cleanup EXIT
STORE=$STATE/images

# ---- the build --------------------------------------------------------------------------
t0=$(date +%s)
"$K" image build debian-12 > "$T/out" 2> "$T/err"
rc=$?
t1=$(date +%s)
diag < "$T/err"
check "image build debian-12 succeeds ($((t1 - t0)) s)" "$([ $rc = 0 ] && echo y)"
NAME=$(awk '{print $1; exit}' "$T/out")
check "it prints the image's name ('$NAME')" "$(echo "$NAME" | grep -Ex 'debian-12-[0-9a-f]{12}')"
IMG=$STORE/$NAME.qcow2
KERNEL=$STORE/$NAME.vmlinuz
INITRD=$STORE/$NAME.initrd
REC=$STORE/$NAME.record

qemu-img info --output=json "$IMG" > "$T/info" 2>&1
check "the image is a qcow2" "$(grep -E '"format": "qcow2"' "$T/info")"
check "the image has no backing file" "$([ -s "$T/info" ] && ! grep -q backing-filename "$T/info" && echo y)"
vsize=$(sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p' "$T/info")
fsize=$(stat -c %b "$IMG" 2>/dev/null); fsize=$(( ${fsize:-0} * 512 / 1048576 ))
echo "# image: virtual $((${vsize:-0} / 1048576)) MiB, $fsize MiB on disk"
check "the image is at least 4 GiB" "$([ "${vsize:-0}" -ge $((4 << 30)) ] && echo y)"
check "the kernel is a bzImage ('HdrS' at 0x202)" \
    "$([ "$(dd if="$KERNEL" bs=1 skip=$((0x202)) count=4 2>/dev/null)" = HdrS ] && echo y)"
check "the kernel is 0644" "$([ "$(stat -c %a "$KERNEL" 2>/dev/null)" = 644 ] && echo y)"
check "the initrd is there, 0644" "$([ -s "$INITRD" ] && [ "$(stat -c %a "$INITRD")" = 644 ] && echo y)"
check "the record says kind=build" "$(grep -x 'kind=build' "$REC" 2>/dev/null)"
check "the record says source=debian-12" "$(grep -x 'source=debian-12' "$REC" 2>/dev/null)"
check "the record names the kernel" "$(grep -x "kernel=$NAME.vmlinuz" "$REC" 2>/dev/null)"
check "the record names the initrd" "$(grep -x "initrd=$NAME.initrd" "$REC" 2>/dev/null)"
check "the record says os=debian12" "$(grep -x 'os=debian12' "$REC" 2>/dev/null)"
check "no build tree is left" "$(ls -A "$STORE" | grep -q '^\.build-' || echo y)"
check "no temporary file is left" "$(ls -A "$STORE" | grep -vx '.lock' | grep -Eq '\.tmp$|\.raw$|\.lock$|\.part$' || echo y)"
"$K" image list > "$T/list" 2>&1
check "image list shows the kernel" "$(grep -E "^$NAME .* yes " "$T/list")"
"$K" --json image list > "$T/list.json" 2>&1
check "image list --json gives the kernel's path" "$(grep -F "\"kernel\":\"$KERNEL\"" "$T/list.json")"

t2=$(date +%s)
"$K" image build debian-12 > "$T/out2" 2> "$T/err2"
rc=$?
t3=$(date +%s)
check "a second build succeeds" "$([ $rc = 0 ] && echo y)"
check "it says cached" "$(grep -x "$NAME (cached)" "$T/out2")"
check "it takes < 5 s ($((t3 - t2)) s)" "$([ $((t3 - t2)) -lt 5 ] && echo y)"

# ---- inside the file system, without mounting it ------------------------------------------
if qemu-img convert -O raw "$IMG" "$T/root.raw" 2> "$T/conv"; then
    for f in /usr/bin/cloud-init /usr/bin/containerd /usr/sbin/sshd /usr/sbin/qemu-ga; do
        debugfs -R "stat $f" "$T/root.raw" > "$T/stat" 2>&1
        check "the image has $f" "$(grep -E '^Inode: [0-9]+ +Type: regular' "$T/stat")"
    done
    debugfs -R 'stat /etc/machine-id' "$T/root.raw" > "$T/stat" 2>&1
    check "/etc/machine-id is empty" "$(grep -E 'Size: 0$|Size: 0[^0-9]' "$T/stat")"
    debugfs -R 'ls /etc/ssh' "$T/root.raw" > "$T/ssh" 2>&1
    check "no ssh host keys" "$(grep -q sshd_config "$T/ssh" && ! grep -q ssh_host_ "$T/ssh" && echo y)"
    debugfs -R 'cat /etc/fstab' "$T/root.raw" > "$T/fstab" 2>&1
    check "fstab mounts the root by its label" \
        "$(grep -x 'LABEL=kvmlab-root / ext4 defaults,errors=remount-ro 0 1' "$T/fstab")"
    debugfs -R 'cat /etc/cloud/cloud.cfg.d/90_kvmlab.cfg' "$T/root.raw" > "$T/cc" 2>&1
    check "cloud-init reads NoCloud only" "$(grep -x 'datasource_list: \[ NoCloud, None \]' "$T/cc")"
    check "the file system is labelled kvmlab-root" "$(blkid -o value -s LABEL "$T/root.raw" | grep -x kvmlab-root)"
    rm -f "$T/root.raw"
else
    diag < "$T/conv"
    nok "qemu-img converts the image to raw"
fi

# ---- an independent boot: the image's kernel and initrd, a NoCloud seed, a marker ---------
MARK="kvmlab-image-booted-$$"
mkdir -p "$T/seed"
printf 'instance-id: iid-image-build-%s\nlocal-hostname: imgtest\n' "$$" > "$T/seed/meta-data"
cat > "$T/seed/user-data" <<EOF
#cloud-config
locale: C.UTF-8
runcmd:
  - [sh, -c, "echo $MARK > /dev/ttyS0"]
  - [poweroff]
EOF
genisoimage -quiet -o "$T/seed.iso" -V cidata -J -R "$T/seed/user-data" "$T/seed/meta-data"
qemu-img create -q -f qcow2 -F qcow2 -b "$IMG" "$T/overlay.qcow2"
t4=$(date +%s)
qemu-system-x86_64 -machine q35,accel=tcg -m 1024 -smp 2 -nographic -nic none \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append 'root=LABEL=kvmlab-root rw console=ttyS0 panic=-1' \
    -drive file="$T/overlay.qcow2",if=virtio -drive file="$T/seed.iso",media=cdrom \
    -serial file:"$T/serial.log" -monitor none -display none -no-reboot \
    > "$T/qemu.out" 2>&1 < /dev/null &
QPID=$!
booted=
while [ $(($(date +%s) - t4)) -lt 240 ]; do
    if grep -q "$MARK" "$T/serial.log" 2>/dev/null; then booted=$(($(date +%s) - t4)); break; fi
    kill -0 "$QPID" 2>/dev/null || break
    sleep 1
done
check "the image boots to cloud-init's runcmd (marker after ${booted:-no} s)" "$booted"
if [ -z "$booted" ]; then
    tail -30 "$T/serial.log" 2>/dev/null | diag
    diag < "$T/qemu.out"
fi
# it powers itself off after the marker; a QEMU that overruns is ended by its PID
for _ in $(seq 60); do kill -0 "$QPID" 2>/dev/null || break; sleep 1; done
if kill -0 "$QPID" 2>/dev/null; then
    kill "$QPID"
    nok "the guest powers off after runcmd"
else
    ok "the guest powers off after runcmd"
fi
wait "$QPID" 2>/dev/null
QPID=
echo "# boot to marker: ${booted:-none} s; build $((t1 - t0)) s"

# ---- a failing build leaves nothing ------------------------------------------------------
FSTATE=$T/failing
KVMLAB_STATE_DIR=$FSTATE KVMLAB_MIRROR=http://127.0.0.1:9/debian \
    "$K" image build debian-12 > "$T/fout" 2> "$T/ferr"
rc=$?
diag < "$T/ferr"
check "a build from a mirror that does not answer fails" "$([ $rc = 1 ] && echo y)"
check "the error names debootstrap and the mirror" \
    "$(grep -F "debootstrap" "$T/ferr" | grep -F "127.0.0.1:9")"
left=$(ls -A "$FSTATE/images" 2>/dev/null | grep -vx '.lock')
[ -n "$left" ] && echo "$left" | diag
check "it leaves nothing in the store (no .build-*, no temporary file, no record)" "$([ -z "$left" ] && echo y)"

echo "1..$n"
[ "$bad" = 0 ]
