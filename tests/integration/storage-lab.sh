#!/bin/sh
# Storage on a real sandbox, through the binary: the lab's pool, its base image in the shared
# store and its volumes (root disks as qcow2 overlays, data disks) are made; a second up changes
# nothing; a volume deleted by hand is drift and is made again; a data disk grown in the file is
# grown in place with its data kept (qemu-io writes a pattern and reads it back); a smaller size
# is refused at its line; a changed pool path is refused; a volume creation that fails half way
# (injected into a second binary with -Wl,--wrap) rolls everything back; down leaves nothing of
# the lab and keeps the base image that another lab uses. Facts come from qemu-img, qemu-io,
# virsh and the file system. Root only. TAP output.
#   storage-lab.sh KVMLAB_BINARY KVMLAB_FAULTY_BINARY
set -u
K=$(realpath "$1")
KF=$(realpath "$2")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
LAB=sto$(($$ % 100000))
LAB2=st2$(($$ % 100000))
POOL=$KVMLAB_STATE_DIR/labs/$LAB/pool
cleanup() {
  "$K" -q down --lab "$LAB" >/dev/null 2>&1
  "$K" -q down --lab "$LAB2" >/dev/null 2>&1
  [ -n "${IMG:-}" ] && "$K" -q image rm "$IMG" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
# one field of `qemu-img info --output=json FILE`
info() { qemu-img info --output=json "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }
uri() { echo "qemu+unix:///system?socket=$KVMLAB_STATE_DIR/sandbox/$LAB/sock/libvirt-sock"; }

echo "TAP version 13"
qemu-img create -q -f qcow2 "$T/base.qcow2" 64M
qemu-io -c 'write -P 0x5a 0 1M' "$T/base.qcow2" >/dev/null
lab() { # DATA-SIZE
  cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
images:
  base: {path: base.qcow2, os: debian12}
nodes:
  - {name: a, image: base, start: false, disks: [{size: 1G}, {size: $1}]}
  - {name: b, image: base, start: false}
EOL
}
lab 256M
check "plan before up" 0 "$K" plan "$T/lab.yaml"
grep_out "plan makes the pool" out "^+ *pool *$LAB-pool "
grep_out "plan imports the image" out "^+ *image *base-[0-9a-f]\{12\} .*imported from base.qcow2"
IMG=$(sed -n 's/^+ *image *\(base-[0-9a-f]\{12\}\) .*/\1/p' "$T/out")
grep_out "plan makes a's root disk" out "^+ *volume *$LAB-pool/a-0.qcow2 .*root disk, 1 GiB"
grep_out "plan makes a's data disk" out "^+ *volume *$LAB-pool/a-1.qcow2 .*data disk, 256 MiB"
grep_out "plan makes b's root disk at the image's size" out "^+ *volume *$LAB-pool/b-0.qcow2"
check "up" 0 "$K" up "$T/lab.yaml"
STORE=$KVMLAB_STATE_DIR/images/$IMG.qcow2
check "the base is in the shared store" 0 test -f "$STORE"
check "a-0 is an overlay on the stored base" 0 test "$(info "$POOL/a-0.qcow2" backing-filename)" = "$STORE"
check "a-0 is 1 GiB" 0 test "$(info "$POOL/a-0.qcow2" virtual-size)" = 1073741824
check "a-1 is 256 MiB without a base" 0 test "$(info "$POOL/a-1.qcow2" virtual-size)" = 268435456 -a -z "$(info "$POOL/a-1.qcow2" backing-filename)"
check "b-0 has the image's size (64 MiB)" 0 test "$(info "$POOL/b-0.qcow2" virtual-size)" = 67108864
check "b-0 reads the base's data through the overlay" 0 qemu-io -c 'read -P 0x5a 0 1M' "$POOL/b-0.qcow2"
check "status --json" 0 "$K" --json status "$T/lab.yaml"
grep_out "status lists a-0 with its size and base" out "{\"name\":\"$LAB-pool/a-0.qcow2\",\"key\":\"a-0\",\"capacity\":1073741824,\"backing\":\"$STORE\"}"
grep_out "  ... and a-1 as a data disk" out "\"key\":\"a-1\",\"capacity\":268435456,\"backing\":null}"
check "virsh sees the pool running" 0 virsh -c "$(uri)" pool-info "$LAB-pool"
grep_out "  ... and autostarted" out "Autostart: *yes"
check "second plan" 0 "$K" --json plan "$T/lab.yaml"
grep_out "a second up would change nothing" out '"changes":0'
check "second up" 0 "$K" up "$T/lab.yaml"
grep_out "a second up changes nothing" out "is up to date: nothing changed"

# --- a volume deleted by hand is drift and made again
check "virsh deletes a-1 by hand" 0 virsh -c "$(uri)" vol-delete a-1.qcow2 --pool "$LAB-pool"
check "plan after the hand delete" 0 "$K" plan "$T/lab.yaml"
grep_out "plan shows the deleted volume as drift" out "^+ *volume *$LAB-pool/a-1.qcow2 .*drift: .*deleted outside"
check "up remakes it" 0 "$K" up "$T/lab.yaml"
check "a-1 is back" 0 test "$(info "$POOL/a-1.qcow2" virtual-size)" = 268435456

# --- a data disk grown in the file is grown in place, its data kept
check "qemu-io writes a pattern into a-1" 0 qemu-io -c 'write -P 0xc3 1M 2M' "$POOL/a-1.qcow2"
lab 512M
check "plan with a-1 grown" 0 "$K" plan "$T/lab.yaml"
grep_out "plan grows a-1 in place" out "^~ *volume *$LAB-pool/a-1.qcow2 .*update in place"
check "up grows it" 0 "$K" up "$T/lab.yaml"
check "a-1 is 512 MiB now" 0 test "$(info "$POOL/a-1.qcow2" virtual-size)" = 536870912
check "a-1 still holds the pattern" 0 qemu-io -c 'read -P 0xc3 1M 2M' "$POOL/a-1.qcow2"

# --- a smaller size is refused, with the reason and the line
lab 128M
check "plan with a-1 shrunk is refused" 1 "$K" plan "$T/lab.yaml"
grep_out "the refusal names the line and says why" err "lab.yaml:6:[0-9]*: disk 1 of node 'a' is 512 MiB and the lab file asks 128 MiB: a disk never shrinks"
check "up with a-1 shrunk is refused" 1 "$K" up "$T/lab.yaml"
check "a-1 kept its size" 0 test "$(info "$POOL/a-1.qcow2" virtual-size)" = 536870912
lab 512M

# --- a disk taken off the end of a node's list: refused unless asked, then deleted
sed -e 's/disks: \[{size: 1G}, {size: 512M}\]/disks: [{size: 1G}, {size: 512M}, {size: 64M}]/' "$T/lab.yaml" > "$T/lab3.yaml"
check "up with a third disk on a" 0 "$K" up "$T/lab3.yaml"
check "a-2 was made" 0 test -f "$POOL/a-2.qcow2"
check "plan without it again is refused" 1 "$K" plan "$T/lab.yaml"
grep_out "  ... saying the data would go and how to ask" err "node 'a' lists 2 disks and has 'a-2' beyond them.*kvmlab up --delete-disks"
check "plan --delete-disks shows the delete" 0 "$K" plan --delete-disks "$T/lab.yaml"
grep_out "  ... with its reason" out "^- *volume *$LAB-pool/a-2.qcow2 .*the data on it are deleted"
check "up --delete-disks deletes it" 0 "$K" up --delete-disks "$T/lab.yaml"
check "a-2 is gone" 1 test -e "$POOL/a-2.qcow2"
check "a-1 kept its pattern" 0 qemu-io -c 'read -P 0xc3 1M 2M' "$POOL/a-1.qcow2"

# --- a second lab on the same base; down of the first keeps it
sed -e "s/^lab: $LAB/lab: $LAB2/" "$T/lab.yaml" > "$T/lab2.yaml"
check "up of a second lab on the same image" 0 "$K" up "$T/lab2.yaml"
check "image list" 0 "$K" image list
grep_out "image list names both labs" out "$LAB.*$LAB2\|$LAB2.*$LAB"
check "down of the first lab" 0 "$K" down "$T/lab.yaml"
check "its pool directory is gone" 1 test -e "$POOL"
check "its state is gone" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB"
check "the base stays for the second lab" 0 test -f "$STORE"
check "the second lab's root disk still reads the base" 0 qemu-io -c 'read -P 0x5a 0 1M' "$KVMLAB_STATE_DIR/labs/$LAB2/pool/a-0.qcow2"
check "image rm refuses an image in use" 1 "$K" image rm "$IMG"
grep_out "and names the lab" err "$LAB2"
check "down of the second lab" 0 "$K" down "$T/lab2.yaml"

# --- a volume creation that fails half way rolls everything back
check "up where the 2nd volume creation fails" 1 env KVMLAB_FAULT_VOLUME_CREATE=2 "$KF" up "$T/lab.yaml"
grep_out "the failure is reported" err "injected"
check "no pool directory is left" 1 test -e "$POOL"
check "a-0, made before the failure, was removed with it" 1 test -e "$POOL/a-0.qcow2"
check "no volume record is left" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB/volumes"
check "no state directory of the lab is left" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB"
check "image list after the rollback" 0 "$K" --json image list
no_grep_out "the lab no longer uses the image" out "\"$LAB\""
check "up after the rollback" 0 "$K" up "$T/lab.yaml"
check "down" 0 "$K" down "$T/lab.yaml"
check "nothing of the lab is left" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB"
check "the store kept the image after down" 0 test -f "$STORE"
check "image rm deletes it once no lab uses it" 0 "$K" image rm "$IMG"
check "  ... file and record" 1 sh -c "ls '$KVMLAB_STATE_DIR/images/' | grep -q '$IMG'"

echo "1..$n"
[ "$bad" = 0 ]
