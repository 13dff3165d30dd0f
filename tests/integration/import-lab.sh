#!/bin/sh
# `kvmlab import vmware` through the binary, then `up` of what it wrote, in a sandbox: VMware's
# network directory (networking, vmnet8's dhcpd.conf and nat.conf, vmnet1's dhcpd.conf) and two
# .vmx (tests/data/vmware/import) give networks with VMware's subnets, DHCP ranges, lease times,
# reservations and port forwards (as libvirt and the lab's nft table hold them), and nodes with
# their MACs, NIC models and disk buses (as the domain XML holds them), each disk an overlay on
# the VMware disk, whose bytes `up` and `down` leave alone. --convert puts a disk into the shared
# store as qcow2, following a snapshot chain and the extents of split and flat vmdks. Root only.
# TAP.
#   import-lab.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
chmod 755 "$T"
LAB=imp$(($$ % 100000))
cleanup() {
  "$K" -q down "$T/lab.yaml" >/dev/null 2>&1
  for i in $("$K" --json image list 2>/dev/null | tr '{' '\n' | grep -F "\"source\":\"$T/" |
    sed -n 's/^"name":"\([^"]*\)".*/\1/p'); do "$K" -q image rm "$i" >/dev/null 2>&1; done
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
echo "TAP version 13"

cp -r "$SRC/tests/data/vmware/import/vmnet" "$SRC/tests/data/vmware/import/vms" "$T/"
qemu-img create -q -f vmdk "$T/vms/web/web.vmdk" 64M
qemu-img create -q -f vmdk "$T/vms/win/win.vmdk" 64M
SUM=$(sha256sum "$T/vms/web/web.vmdk" "$T/vms/win/win.vmdk")

check "import" 0 "$K" import vmware --vmnet-dir "$T/vmnet" --lab "$LAB" \
  "$T/vms/web/web.vmx" "$T/vms/win/win.vmx" -o "$T/imported.yaml"
grep_out "summary: vmnet8 mapped" err "vmnet8: nat 172.16.1.0/24, 1 reservation, 2 port forwards"
grep_out "summary: the forward to an address no VM has is dropped, with why" err \
  "dropped: vmnet8 port forward tcp/9090 -> 172.16.1.99:22: no imported VM has that address"
grep_out "summary: the missing ISO" err "the ISO of sata0:1 cannot be found: an empty drive"
check "validate accepts what import wrote" 0 "$K" validate "$T/imported.yaml"
# the lab runs in a sandbox, under tcg; the rest is as import wrote it
{ sed -n '1,2p' "$T/imported.yaml"; echo "connect: sandbox"; echo "accel: tcg"
  sed -n '3,$p' "$T/imported.yaml"; } > "$T/lab.yaml"
check "up --start-only" 0 "$K" up --start-only "$T/lab.yaml"
URI="qemu+unix:///system?socket=$KVMLAB_STATE_DIR/sandbox/$LAB/sock/libvirt-sock"
NS=$KVMLAB_NETNS_PREFIX$LAB

check "vmnet8 in libvirt" 0 virsh -c "$URI" net-dumpxml "$LAB-vmnet8"
grep_out "VMware's subnet: host N.1" out "<ip address='172.16.1.1' prefix='24'"
grep_out "VMware's DHCP range" out "<range start='172.16.1.128' end='172.16.1.254'"
grep_out "VMware's lease time" out "<lease expiry='30' unit='minutes'/>"
grep_out "the printer's reservation" out "mac='00:0c:29:11:22:33'.*ip='172.16.1.60'"
grep_out "web's address from VMware's reservation" out "mac='00:0c:29:aa:bb:cc'.*ip='172.16.1.50'"
check "vmnet1 in libvirt" 0 virsh -c "$URI" net-dumpxml "$LAB-vmnet1"
grep_out "vmnet1's subnet" out "<ip address='192.168.56.1' prefix='24'"
grep_out "vmnet1's lease time (3600 s)" out "<lease expiry='1' unit='hours'/>"
check "the port forwards in the lab's table" 0 ip netns exec "$NS" nft list table ip "kvmlab-$LAB"
grep_out "8080 to web:80" out "tcp dport 8080 dnat to 172.16.1.50:80"
grep_out "2222 to web:22" out "tcp dport 2222 dnat to 172.16.1.50:22"
no_grep_out "no 9090" out "dport 9090"

check "web's domain" 0 virsh -c "$URI" dumpxml --inactive "$LAB-web-server"
grep_out "web's NAT NIC keeps its MAC" out "<mac address='00:0c:29:aa:bb:cc'/>"
grep_out "web's host-only NIC keeps its MAC" out "<mac address='00:0c:29:aa:bb:d6'/>"
grep_out "web (Ubuntu, virtio-net) gets virtio NICs" out "<model type='virtio'/>"
grep_out "web's SCSI disk stays SCSI (sda as the guest knows it) on virtio-scsi" out "<target dev='sda' bus='scsi'/>"
grep_out "  ... whose controller is virtio-scsi, not VMware's lsilogic" out "<controller type='scsi' index='0' model='virtio-scsi'"
grep_out "web's disk rests on its vmdk" out "$LAB-pool/web-server-0.qcow2\|web-server-0.qcow2"
check "win's domain" 0 virsh -c "$URI" dumpxml --inactive "$LAB-win-10"
grep_out "win's NIC keeps its static MAC" out "<mac address='00:50:56:01:02:03'/>"
grep_out "win's NIC is the e1000e it had" out "<model type='e1000e'/>"
grep_out "win's disk stays on SATA (no virtio drivers)" out "bus='sata'"
grep_out "win boots UEFI" out "firmware='efi'"
grep_out "win has secure boot" out "name='secure-boot'"
OV=$(ls "$KVMLAB_STATE_DIR"/labs/$LAB/pool/web-server-0.qcow2 2>/dev/null)
check "web's overlay" 0 qemu-img info -U "$OV"
grep_out "backed by web.vmdk" out "backing file: $T/vms/web/web.vmdk"
grep_out "backing format vmdk" out "backing file format: vmdk"

check "down" 0 "$K" down "$T/lab.yaml"
check "the VMware disks are byte for byte as before" 0 sh -c "[ \"\$(sha256sum '$T/vms/web/web.vmdk' '$T/vms/win/win.vmdk')\" = '$SUM' ]"

# --- --convert: the disk into the shared store as qcow2, the lab file naming it
check "import --convert" 0 "$K" import vmware --lab "${LAB}c" --convert "$T/vms/win/win.vmx" -o "$T/conv.yaml"
grep_out "it says what it converted" err "converted: $T/vms/win/win.vmdk"
check "the lab names the image" 0 grep -q "{image: win-10-disk0, controller: sata}" "$T/conv.yaml"
WIN=$("$K" --json image list | tr '{' '\n' | grep -F "\"source\":\"$T/vms/win/win.vmdk\"" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
check "the store holds it ($WIN)" 0 test -f "$WIN"
check "  ... as qcow2 (qemu-img says so)" 0 qemu-img info -U "$WIN"
grep_out "  ... file format qcow2" out "file format: qcow2"
check "  ... the same bytes as the vmdk" 0 qemu-img compare -q "$T/vms/win/win.vmdk" "$WIN"
check "validate accepts the converted lab" 0 "$K" validate "$T/conv.yaml"
# --- a VMware snapshot chain: the .vmx names the newest delta (-000001.vmdk) on its base;
# --convert follows the chain to the current state
mkdir -p "$T/vms/snap"
qemu-img create -q -f vmdk "$T/vms/snap/snap.vmdk" 64M
qemu-io -f vmdk -c "write -P 0x5a 0 64k" "$T/vms/snap/snap.vmdk" >/dev/null
qemu-img create -q -f vmdk -b snap.vmdk -F vmdk "$T/vms/snap/snap-000001.vmdk"
qemu-io -f vmdk -c "write -P 0x6b 1M 64k" "$T/vms/snap/snap-000001.vmdk" >/dev/null
printf 'displayName = "snap"\nguestOS = "debian11-64"\nscsi0.present = "TRUE"\nscsi0.virtualDev = "pvscsi"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "snap-000001.vmdk"\n' > "$T/vms/snap/snap.vmx"
check "import --convert of a snapshot chain" 0 "$K" import vmware --lab "${LAB}s" --convert "$T/vms/snap/snap.vmx" -o "$T/snap.yaml"
STORE=$("$K" --json image list | tr '{' '\n' | grep -F "\"source\":\"$T/vms/snap/snap-000001.vmdk\"" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
check "the store holds the converted chain ($STORE)" 0 test -f "$STORE"
check "  ... the same bytes as the chain's current state" 0 qemu-img compare -q "$T/vms/snap/snap-000001.vmdk" "$STORE"
check "  ... standalone (no backing file)" 0 sh -c "! qemu-img info '$STORE' | grep -q 'backing file'"
# (qemu-io prints "read" even when the pattern differs: the verdict is its own line)
pattern() { qemu-io -f qcow2 -r -c "read -P $1 $2 64k" "$STORE" > "$T/qio" 2>&1
  grep -q 'read 65536' "$T/qio" && ! grep -q 'Pattern verification failed' "$T/qio"; }
check "  ... the base's data is in it" 0 pattern 0x5a 0
check "  ... and the delta's" 0 pattern 0x6b 1M
check "  ... (a pattern that is not there is told apart)" 1 pattern 0x77 0

# --- a split and a flat vmdk (a descriptor and its extent files): --convert reads the extents
mkdir -p "$T/vms/flat"
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentFlat "$T/vms/flat/split.vmdk" 64M
qemu-img create -q -f vmdk -o subformat=monolithicFlat "$T/vms/flat/flat.vmdk" 64M
qemu-io -f vmdk -c "write -P 0x3c 0 64k" "$T/vms/flat/split.vmdk" >/dev/null
qemu-io -f vmdk -c "write -P 0x4d 2M 64k" "$T/vms/flat/flat.vmdk" >/dev/null
printf 'displayName = "flat"\nguestOS = "debian11-64"\nsata0.present = "TRUE"\nsata0:0.present = "TRUE"\nsata0:0.fileName = "split.vmdk"\nsata0:1.present = "TRUE"\nsata0:1.fileName = "flat.vmdk"\n' > "$T/vms/flat/flat.vmx"
check "import --convert of a split and a flat vmdk" 0 "$K" import vmware --lab "${LAB}f" --convert "$T/vms/flat/flat.vmx" -o "$T/flat.yaml"
for d in split flat; do
  P=$("$K" --json image list | tr '{' '\n' | grep -F "\"source\":\"$T/vms/flat/$d.vmdk\"" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
  check "  ... $d.vmdk stored ($P)" 0 test -f "$P"
  check "  ... $d.vmdk: the same bytes as its extents" 0 qemu-img compare -q "$T/vms/flat/$d.vmdk" "$P"
done
check "  ... both disks in the lab file" 0 sh -c "grep -q 'image: flat-disk0' '$T/flat.yaml' && grep -q 'image: flat-disk1' '$T/flat.yaml'"

echo "1..$n"
[ "$bad" = 0 ]
