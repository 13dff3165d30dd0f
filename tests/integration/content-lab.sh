#!/bin/sh
# Disks that name their content, through the binary on a real sandbox: a node (start: false)
# whose boot disk is {path: x.vmdk} gets a qcow2 overlay in the lab's pool backed by the vmdk
# (qemu-img says so: backing file and backing format vmdk); the vmdk's bytes are the same after
# up and after down (sha256); the domain the daemon defined has the ISO on a read-only CD-ROM
# before the seed and UEFI with secure boot (as libvirt's real QEMU driver took it), and once
# started by hand (TCG) libvirt picked Debian's secure-boot OVMF for it; a missing
# ISO is refused by plan at its line before anything is made; down removes the overlay and
# keeps x.vmdk. Facts from qemu-img, sha256sum, virsh and the file system. Root only. TAP.
#   content-lab.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
LAB=cnt$(($$ % 100000))
POOL=$KVMLAB_STATE_DIR/labs/$LAB/pool
cleanup() {
  "$K" -q down --lab "$LAB" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
# one field of `qemu-img info --output=json FILE`
info() { qemu-img info -U --output=json "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }
uri() { echo "qemu+unix:///system?socket=$KVMLAB_STATE_DIR/sandbox/$LAB/sock/libvirt-sock"; }

echo "TAP version 13"
mkdir "$T/lab" "$T/isos"
qemu-img create -q -f vmdk "$T/lab/x.vmdk" 64M
qemu-io -f vmdk -c 'write -P 0x5a 0 1M' "$T/lab/x.vmdk" >/dev/null
echo "a CD's bytes" > "$T/isos/tools.iso"
SUM=$(sha256sum "$T/lab/x.vmdk" | cut -d' ' -f1)
MTIME=$(stat -c %Y "$T/lab/x.vmdk")
lab() { # ISO
  cat > "$T/lab/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
nodes:
  - name: v
    start: false
    firmware: efi
    secure_boot: true
    accel: tcg
    disks: [{path: x.vmdk, controller: lsilogic}]
    cdroms: [$1, null]
EOL
}
lab ../isos/gone.iso
check "validate accepts the lab" 0 "$K" validate "$T/lab/lab.yaml"
check "plan refuses a missing ISO" 1 "$K" plan "$T/lab/lab.yaml"
grep_out "  ... at its line and column" err "lab.yaml:10:14: CD-ROM 0 of node 'v': cannot read '$T/isos/gone.iso'"
check "  ... before anything exists" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB/pool"
lab ../isos/tools.iso
check "plan" 0 "$K" plan "$T/lab/lab.yaml"
grep_out "plan makes the overlay on the vmdk" out "^+ *volume *$LAB-pool/v-0.qcow2 .*boot disk, 64 MiB, an overlay on vmdk file $T/lab/x.vmdk (never written)"
check "disk explain before up" 0 "$K" disk explain v "$T/lab/lab.yaml"
grep_out "disk explain says why the bus (VMware's lsilogic)" out "v-0 .*the VMware disk was on lsilogic"
check "up" 0 "$K" up "$T/lab/lab.yaml"
check "the overlay is in the pool" 0 test -f "$POOL/v-0.qcow2"
check "its format is qcow2" 0 test "$(info "$POOL/v-0.qcow2" format)" = qcow2
check "its backing file is x.vmdk" 0 test "$(info "$POOL/v-0.qcow2" backing-filename)" = "$T/lab/x.vmdk"
check "its backing format is vmdk" 0 test "$(info "$POOL/v-0.qcow2" backing-filename-format)" = vmdk
check "it reads the vmdk's data" 0 qemu-io -r -U -f qcow2 -c 'read -P 0x5a 0 1M' "$POOL/v-0.qcow2"
check "the vmdk's bytes are unchanged after up" 0 test "$(sha256sum "$T/lab/x.vmdk" | cut -d' ' -f1)" = "$SUM"
check "  ... and its modification time" 0 test "$(stat -c %Y "$T/lab/x.vmdk")" = "$MTIME"
check "virsh dumpxml of the defined domain" 0 virsh -c "$(uri)" dumpxml --inactive "$LAB-v"
grep_out "the daemon keeps UEFI" out "<os firmware='efi'>"
grep_out "  ... with secure boot" out "<feature enabled='yes' name='secure-boot'/>"
grep_out "  ... and enrolled keys" out "<feature enabled='yes' name='enrolled-keys'/>"
grep_out "  ... and SMM on" out "<smm state='on'/>"
grep_out "the ISO is a CD-ROM" out "<source file='$T/isos/tools.iso'/>"
cp "$T/out" "$T/dom.xml"
x() { xmllint --xpath "$1" "$T/dom.xml" 2>/dev/null; }
check "three CD-ROMs: the ISO, the empty drive, the seed" 0 test "$(x "count(//disk[@device='cdrom'])")" = 3
check "the ISO is on sata after the boot disk (sdb), read-only" 0 test "$(x "string(//disk[source/@file='$T/isos/tools.iso']/target/@dev)")$(x "count(//disk[source/@file='$T/isos/tools.iso']/readonly)")" = sdb1
check "the empty drive follows it (sdc)" 0 test "$(x "string(//disk[@device='cdrom'][not(source)]/target/@dev)")" = sdc
check "the seed comes last (sdd)" 0 test "$(x "string(//disk[contains(source/@file, '/seed-')]/target/@dev)")" = sdd
# QEMU on it, by hand: libvirt resolves the firmware from Debian's ovmf descriptors at start
check "virsh start (the node is start: false; started here by hand)" 0 virsh -c "$(uri)" start "$LAB-v"
check "virsh dumpxml of the running domain" 0 virsh -c "$(uri)" dumpxml "$LAB-v"
grep_out "libvirt chose the secure-boot OVMF with Microsoft's keys" out "<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>"
grep_out "  ... with an NVRAM of the node's own" out "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>"
check "virsh destroy" 0 virsh -c "$(uri)" destroy "$LAB-v"
check "the vmdk's bytes are unchanged after QEMU ran on it" 0 test "$(sha256sum "$T/lab/x.vmdk" | cut -d' ' -f1)" = "$SUM"
check "plan after up" 0 "$K" plan "$T/lab/lab.yaml"
grep_out "plan's Disks section says why the bus (VMware's lsilogic)" out "v-0 .*scsi .*the VMware disk was on lsilogic (SCSI)"
check "second up changes nothing" 0 "$K" up "$T/lab/lab.yaml"
grep_out "  ... it says so" out "is up to date: nothing changed"
lab null
check "plan with the ISO taken out" 0 "$K" plan "$T/lab/lab.yaml"
grep_out "  ... makes the node again for it" out "^-/+ *node *$LAB-v .*recreate .*cdrom"
grep_out "  ... and keeps the overlay" out "^= *volume *$LAB-pool/v-0.qcow2 .*unchanged"
check "down" 0 "$K" down "$T/lab/lab.yaml"
check "the overlay is gone" 1 test -e "$POOL/v-0.qcow2"
check "x.vmdk is kept" 0 test -f "$T/lab/x.vmdk"
check "the vmdk's bytes are unchanged after down" 0 test "$(sha256sum "$T/lab/x.vmdk" | cut -d' ' -f1)" = "$SUM"
check "the ISO is kept" 0 test -f "$T/isos/tools.iso"
check "nothing of the lab is left" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB"

echo "1..$n"
[ "$bad" = 0 ]
