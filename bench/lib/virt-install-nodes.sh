#!/bin/sh
# The peer of `kvmlab up` in bench/nodes.sh: the nodes kvmlab made, made again with qemu-img,
# genisoimage and virt-install on the same daemon and waited for to the same readiness.
#   virt-install-nodes.sh up URI DIR BASE TIMEOUT
#   virt-install-nodes.sh clean URI DIR
# DIR/nodes.txt names the nodes; DIR/NODE/ holds kvmlab's own seed files taken apart (user-data,
# meta-data, network-config) and node.env (lib/nodes-peer.py: cpus, memory, machine, kernel,
# initrd, command line, root disk capacity and bus, seed bus, NICs with kvmlab's MACs on the lab's
# networks); DIR/dhcp-hosts the networks' DHCP reservations kvmlab made for those MACs ("NETWORK
# <host .../>" a line). `up`: the reservations (`virsh net-update add-last ip-dhcp-host`, live
# and config, as kvmlab's update in place), then per node a qcow2 overlay on BASE (`qemu-img
# create`, kvmlab's capacity), a NoCloud seed ISO (`genisoimage -V cidata -J -R`, what
# cloud-localds and virt-install's --cloud-init run) and `virt-install --import` with a serial
# console logged to DIR/NODE.console.log; then it waits until every console log holds
# "KVMLAB-REPORT: end" (the line kvmlab's guest report ends with), polling every 0.5 s as kvmlab's
# wait does, at most TIMEOUT s (exit 1 past it). Not `--cloud-init`: virt-install writes that ISO
# into /var/lib/libvirt/boot and makes it a pool, a directory a sandbox daemon does not have
# ("cannot open directory '/var/lib/libvirt/boot'"). virt-install makes a pool of the disks'
# directory (named after it: DIR's base name) by itself. The domains are named DIR/prefix + NODE.
# `clean` destroys and undefines them, removes that pool, the reservations, overlays, seeds and
# logs. `--osinfo debian11`: osinfo-db 20221203 has no debian12 (kvmlab places it as debian11
# too); every device is given explicitly anyway. KVB_PEER_CLOCK, when set, is passed as
# `--clock` (virt-install's own default for Linux on QEMU: rtc catchup, pit delay, no HPET).
set -eu
cmd=$1 URI=$2 DIR=$3
PFX=$(cat "$DIR/prefix")
vs() { virsh -q -c "$URI" "$@"; }

if [ "$cmd" = clean ]; then
  for n in $(cat "$DIR/nodes.txt"); do
    vs destroy "$PFX$n" >/dev/null 2>&1 || true
    vs undefine "$PFX$n" --nvram >/dev/null 2>&1 || vs undefine "$PFX$n" >/dev/null 2>&1 || true
    rm -f "$DIR/$n.qcow2" "$DIR/$n.seed.iso" "$DIR/$n.console.log"
  done
  vs pool-destroy "$(basename "$DIR")" >/dev/null 2>&1 || true
  vs pool-undefine "$(basename "$DIR")" >/dev/null 2>&1 || true
  while read -r net host; do
    vs net-update "$net" delete ip-dhcp-host "$host" --live --config >/dev/null 2>&1 || true
  done <"$DIR/dhcp-hosts"
  exit 0
fi

BASE=$4 TIMEOUT=$5
while read -r net host; do
  vs net-update "$net" add-last ip-dhcp-host "$host" --live --config >/dev/null
done <"$DIR/dhcp-hosts"
for n in $(cat "$DIR/nodes.txt"); do
  . "$DIR/$n/node.env"
  qemu-img create -q -f qcow2 -b "$BASE" -F qcow2 "$DIR/$n.qcow2" "$CAPACITY"
  (cd "$DIR/$n" && genisoimage -quiet -o "$DIR/$n.seed.iso" -V cidata -J -R user-data meta-data network-config)
  set --
  for nic in $NICS; do
    IFS=, read -r net mac model <<E
$nic
E
    set -- "$@" --network "network=$net,mac=$mac,model=$model"
  done
  [ -z "${KVB_PEER_CLOCK:-}" ] || set -- "$@" --clock "$KVB_PEER_CLOCK"
  virt-install --connect "$URI" --name "$PFX$n" --import --noautoconsole --wait 0 \
    --virt-type "$TYPE" --arch x86_64 --machine "$MACHINE" --osinfo debian11 \
    --vcpus "$CPUS" --memory "$MEMORY" \
    --boot "kernel=$KERNEL,initrd=$INITRD,kernel_args=\"$CMDLINE\"" \
    --disk "path=$DIR/$n.qcow2,format=qcow2,bus=$ROOTBUS" \
    "$@" \
    --serial "pty,log.file=$DIR/$n.console.log,log.append=off" \
    --channel unix,target.type=virtio,target.name=org.qemu.guest_agent.0 \
    --rng /dev/urandom --memballoon none --controller usb,model=none \
    --graphics none --video none --sound none \
    --disk "path=$DIR/$n.seed.iso,device=cdrom,bus=$SEEDBUS" \
    >>"$DIR/virt-install.log" 2>&1
done

# every node's report has ended, or TIMEOUT has passed
end=$(($(date +%s) + TIMEOUT))
while :; do
  left=0
  for n in $(cat "$DIR/nodes.txt"); do
    grep -q 'KVMLAB-REPORT: end' "$DIR/$n.console.log" 2>/dev/null || left=$((left + 1))
  done
  [ $left = 0 ] && exit 0
  [ "$(date +%s)" -lt $end ] || { echo "virt-install-nodes.sh: $left node(s) not ready after $TIMEOUT s" >&2; exit 1; }
  sleep 0.5
done
