#!/bin/sh
# The bridge backend against the libvirt backend (issue 14), on one sandbox daemon: `kvmlab up`
# and `kvmlab down` of the same four-network lab on each backend, and the e2e test guest's time
# from `virsh start` to its DHCP lease on a NAT network of each backend. Root only; run
# bench/setup.sh once first. Each heavy step takes the shared lock /tmp/kvmlab-heavy.lock on its
# own (flock -o: a daemon started under it never inherits it). Writes bench/results/bridge/ and
# section 6 of bench/RESULTS.md (the rest of that file is left as it is).
#   bench/bridge.sh
# Environment: KVB_KVMLAB (the binary, default build/cli/kvmlab), KVB_BRIDGE_LAB (lab name,
# default kbb), KVB_STATE_DIR (default a temporary one, removed at the end), KVB_RUNS_BRIDGE (10 runs per command, in
# KVB_ROUNDS_BRIDGE rounds, default 5), KVB_BOOTS (5 boots per backend, one round each, after
# one warm-up boot each), KVB_BOOT_TIMEOUT (120 s), KVMLAB_BUILD_ROOT (where the test guest is
# cached, as the tests do: KVMLAB_BUILD_ROOT/test-state/guest; default the binary's build
# directory), KVMLAB_NETNS_PREFIX (the sandbox's namespace prefix, default kvmlab-).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
K=$(realpath "${KVB_KVMLAB:-$ROOT/build/cli/kvmlab}")
LAB=${KVB_BRIDGE_LAB:-kbb}
RUNS=${KVB_RUNS_BRIDGE:-10}
ROUNDS=${KVB_ROUNDS_BRIDGE:-5}
BOOTS=${KVB_BOOTS:-5}
TIMEOUT=${KVB_BOOT_TIMEOUT:-120}
BUILD=${KVMLAB_BUILD_ROOT:-$(dirname "$(dirname "$K")")}
LOCK=/tmp/kvmlab-heavy.lock
OUT=$HERE/results/bridge
NS=${KVMLAB_NETNS_PREFIX:-kvmlab-}$LAB
BL=$HERE/lib/boot-lease.sh

[ "$(id -u)" = 0 ] || { echo "bench/bridge.sh: needs root (sandboxes are network namespaces)" >&2; exit 1; }
for t in hyperfine virsh strace python3 dnsmasq qemu-system-x86_64; do
  command -v "$t" >/dev/null || { echo "bench/bridge.sh: '$t' is missing; run bench/setup.sh" >&2; exit 1; }
done
[ -x "$K" ] || { echo "bench/bridge.sh: '$K' is missing; run bench/setup.sh" >&2; exit 1; }
W=$(mktemp -d /tmp/kbb-bridge.XXXXXX)
chmod 755 "$W" # the sandbox's QEMU writes the guests' console logs here
# a state directory of its own, removed with W, unless KVB_STATE_DIR names one; absolute:
# kvmlab hands its paths to dnsmasq, which does not run in our cwd
STATE=${KVB_STATE_DIR:-$W/state}
mkdir -p "$STATE" "$OUT"
STATE=$(realpath "$STATE")
SOCK=$STATE/sandbox/$LAB/sock/libvirt-sock
URI="qemu+unix:///system?socket=$SOCK"
rm -rf "${OUT:?}"/*
KQ="$K -q --state-dir $STATE"
GUESTS="${LAB}-glibvirt ${LAB}-gbridge"
NEWGUEST= # the test guest's cache directory when this script built it

log() { echo "bench: $(date -u +%T) $*" >&2; }
heavy() { flock -o "$LOCK" "$@"; }
kv() { "$K" --state-dir "$STATE" "$@"; }
vs() { virsh -q -c "$URI" "$@"; }
# hfr NAME ROUNDS RUNS WARMUP ARGS...: hyperfine ARGS in ROUNDS rounds of RUNS runs each (WARMUP
# warm-up runs in the first), each round under the lock, merged into NAME.json by
# lib/hfmerge.py. hyperfine runs one command's runs back to back: in rounds, a neighbour's burst
# of load on this shared machine falls on both backends alike. The exact command line of the
# first round goes to commands.txt.
hfr() {
  name=$1 nr=$2 runs=$3 warm=$4
  shift 4
  { printf '# round 1 of %s (the others: --warmup 0, NAME.rK.json)\nhyperfine' "$nr"
    for a in --warmup "$warm" --runs "$runs" --export-json "$OUT/$name.r1.json" "$@"; do printf " '%s'" "$a"; done
    printf '\n\n'; } >>"$OUT/commands.txt"
  r=1
  while [ "$r" -le "$nr" ]; do
    [ "$r" = 1 ] || warm=0
    heavy hyperfine --warmup "$warm" --runs "$runs" --export-json "$OUT/$name.r$r.json" "$@" >>"$OUT/$name.txt"
    r=$((r + 1))
  done
  python3 "$HERE/lib/hfmerge.py" "$OUT/$name.json" "$OUT/$name".r*.json
  rm -f "$OUT/$name".r*.json
}

cleanup() {
  set +e
  if [ -S "$SOCK" ]; then
    for g in $GUESTS; do
      sh "$BL" stop "$URI" "$g" "$W/$g.console" >/dev/null 2>&1
      vs undefine "$g" >/dev/null 2>&1
    done
    vs net-undefine "$LAB-keep" >/dev/null 2>&1
  fi
  kv -q down --lab "$LAB" # the sandbox goes with the lab: nothing foreign is left in it
  [ -n "$NEWGUEST" ] && rm -rf "$NEWGUEST"
  rm -rf "$W"
  if ip netns list | awk '{print $1}' | grep -qx "$NS"; then log "namespace '$NS' is still there"; fi
  if [ -e "$STATE/sandbox/$LAB" ]; then log "sandbox '$STATE/sandbox/$LAB' is still there"; fi
  if [ -e "$STATE/labs/$LAB/net" ]; then log "'$STATE/labs/$LAB/net' is still there"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the lab files ----------------------------------------------------------------------------
# the same four networks on each backend; NAT without port forwards (a forward needs a node)
for b in libvirt bridge; do
  cat >"$W/$b.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8: {type: nat, backend: $b, subnet: 192.168.218.0/24}
  vmnet1: {type: hostonly, backend: $b, subnet: 192.168.211.0/24}
  vmnet2: {type: isolated, backend: $b}
  vmnet3: {type: hostonly, backend: $b, subnet: 192.168.213.0/24}
EOL
done
# one NAT network of each backend side by side, each with a reservation for its guest's MAC
# (what kvmlab gives every node NIC: no dnsmasq ping check on either side)
cat >"$W/guest.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8:
    type: nat
    backend: libvirt
    subnet: 192.168.218.0/24
    reservations: [{mac: "52:54:00:b8:00:08", ip: 192.168.218.10}]
  vmnet5:
    type: nat
    backend: bridge
    subnet: 192.168.215.0/24
    reservations: [{mac: "52:54:00:b8:00:05", ip: 192.168.215.10}]
EOL
cp "$W"/*.yaml "$OUT/"

# --- one sandbox daemon for everything ----------------------------------------------------------
log "starting the sandbox of lab '$LAB' (up of the libvirt lab)"
heavy $KQ up "$W/libvirt.yaml"
# a network kvmlab did not make keeps the sandbox alive through `kvmlab down` (defined, never
# started: one more entry in every list, for both backends alike)
echo "<network><name>$LAB-keep</name><bridge name='${LAB}keep' stp='off' delay='0'/></network>" >"$W/keep.xml"
vs net-define "$W/keep.xml" >/dev/null
$KQ down --lab "$LAB"
[ -S "$SOCK" ] || { log "the sandbox did not survive 'down'"; exit 1; }
DPID=$(cat "$STATE/sandbox/$LAB/libvirtd.pid")

# --- 6a: up and down of four networks, libvirt backend against bridge backend -----------------------
L=$W/libvirt.yaml
B=$W/bridge.yaml
per=$((RUNS / ROUNDS))
log "6a: up + down, $RUNS runs per command in $ROUNDS rounds"
hfr updown "$ROUNDS" "$per" 1 \
  -n "libvirt backend: up + down" "$KQ up $L && $KQ down $L" \
  -n "bridge backend: up + down" "$KQ up $B && $KQ down $B"
log "6a: up alone (prepare: down)"
hfr up "$ROUNDS" "$per" 1 \
  -p "$KQ down --lab $LAB" -n "libvirt backend: up" "$KQ up $L" \
  -p "$KQ down --lab $LAB" -n "bridge backend: up" "$KQ up $B"
log "6a: down alone (prepare: up)"
hfr down "$ROUNDS" "$per" 1 \
  -p "$KQ up $L" -n "libvirt backend: down" "$KQ down $L" \
  -p "$KQ up $B" -n "bridge backend: down" "$KQ down $B"
$KQ down --lab "$LAB"

log "6a: where the time goes (strace -c -w, the daemon's CPU)"
cpu_of() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; } # utime+stime(+reaped children), ticks
profile() {
  for b in libvirt bridge; do
    # -b execve: the dnsmasq kvmlab starts is not followed (strace would wait for it to exit)
    strace -f -b execve -c -w -o "$OUT/strace-c-$b-up.txt" $KQ up "$W/$b.yaml"
    strace -f -b execve -c -w -o "$OUT/strace-c-$b-down.txt" $KQ down "$W/$b.yaml"
    a=$(cpu_of "$DPID")
    for i in 1 2 3 4 5; do $KQ up "$W/$b.yaml"; $KQ down "$W/$b.yaml"; done
    echo "$b $(($(cpu_of "$DPID") - a)) 5 $(getconf CLK_TCK)" >>"$OUT/daemon-cpu.txt"
  done
}
exec 9>"$LOCK"
flock 9
profile 9>&-
exec 9>&-

# --- 6b: a guest's start to lease on a NAT network of each backend ------------------------------------
log "6b: the test guest (tests/guest/mkguest.sh, cache $BUILD/test-state/guest)"
before=$(ls -d "$BUILD/test-state/guest"/*/ 2>/dev/null || true)
env=$(heavy "$ROOT/tests/guest/mkguest.sh" "$BUILD/test-state/guest")
gdir=$(dirname "$env")
case "$before" in *"$gdir/"*) ;; *) NEWGUEST=$gdir ;; esac
KERNEL=$(sed -n 's/^KERNEL=//p' "$env")
INITRD=$(sed -n 's/^INITRD=//p' "$env")
echo "kernel=$(sed -n 's/^KVER=//p' "$env") guest=$(basename "$gdir")" >"$OUT/guest.txt"
heavy $KQ up "$W/guest.yaml"
kv --json status "$W/guest.yaml" >"$OUT/guest-status.json"
BR5=$(python3 -c 'import json, sys
print(next(n["bridge"] for n in json.load(open(sys.argv[1]))["networks"] if n["key"] == "vmnet5"))' "$OUT/guest-status.json")
# the domain of tests/lib/fixture.c fixture_guest_start(): TCG, 256 MiB, 1 vCPU, pc, direct boot
for g in $GUESTS; do
  case $g in
  *glibvirt) nic="<interface type='network'><source network='$LAB-vmnet8'/><mac address='52:54:00:b8:00:08'/><model type='virtio'/></interface>" ;;
  *) nic="<interface type='bridge'><source bridge='$BR5'/><mac address='52:54:00:b8:00:05'/><model type='virtio'/></interface>" ;;
  esac
  cat >"$W/$g.xml" <<EOX
<domain type='qemu'>
  <name>$g</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$INITRD</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 kvmlab.name=$g kvmlab.hold=forever</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    $nic
    <serial type='file'><source path='$W/$g.console'/><target port='0'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOX
  vs define "$W/$g.xml" >/dev/null
  cp "$W/$g.xml" "$OUT/"
done
# one warm-up boot each (page cache, QEMU's first start), not counted
warm() {
  for g in $GUESTS; do
    sh "$BL" stop "$URI" "$g" "$W/$g.console"
    sh "$BL" start "$URI" "$g" "$W/$g.console" "$TIMEOUT" "$OUT/warmup.txt"
    sh "$BL" stop "$URI" "$g" "$W/$g.console"
  done
}
log "6b: one warm-up boot per backend"
exec 9>"$LOCK"
flock 9
warm 9>&-
exec 9>&-
log "6b: $BOOTS boots per backend, one round each, the backends' order alternating"
GL="${LAB}-glibvirt" GB="${LAB}-gbridge"
cmd() { # cmd GUEST LABEL: hyperfine's arguments for one boot
  echo "-p|sh $BL stop '$URI' $1 $W/$1.console|-n|$2|sh $BL start '$URI' $1 $W/$1.console $TIMEOUT $OUT/boots.txt"
}
r=1
: >"$OUT/boots.txt"
while [ "$r" -le "$BOOTS" ]; do
  a=$(cmd "$GL" "libvirt backend: start to lease") b=$(cmd "$GB" "bridge backend: start to lease")
  if [ $((r % 2)) = 1 ]; then set -- "$a" "$b"; else set -- "$b" "$a"; fi
  old=$IFS IFS='|'
  set -f # the URI's '?' is no pattern
  set -- $1 $2
  set +f
  IFS=$old
  if [ "$r" = 1 ]; then
    { printf '# round 1 of %s (the others: NAME.rK.json, the two commands in the other order every second round)\nhyperfine' "$BOOTS"
      for x in --runs 1 --export-json "$OUT/boot.r1.json" "$@"; do printf " '%s'" "$x"; done
      printf '\n\n'; } >>"$OUT/commands.txt"
  fi
  heavy hyperfine --runs 1 --export-json "$OUT/boot.r$r.json" "$@" >>"$OUT/boot.txt"
  r=$((r + 1))
done
python3 "$HERE/lib/hfmerge.py" "$OUT/boot.json" "$OUT"/boot.r*.json
rm -f "$OUT"/boot.r*.json
for g in $GUESTS; do
  cp "$W/$g.console" "$OUT/$g.console.log" 2>/dev/null || true
  sh "$BL" stop "$URI" "$g" "$W/$g.console"
done

# --- the machine and the report ---------------------------------------------------------------
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "kernel=$(uname -r)"
  echo "libvirt=$(libvirtd --version | awk '{print $NF}')"
  echo "qemu=$(qemu-system-x86_64 --version | awk 'NR == 1 {print $4}')"
  echo "dnsmasq=$(dnsmasq --version | awk 'NR == 1 {print $3}')"
  echo "hyperfine=$(hyperfine --version | awk '{print $2}')"
  echo "kvmlab=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench' || echo '+dirty')"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "runs=updown:$RUNS rounds:$ROUNDS boots:$BOOTS"
} >"$OUT/machine.txt"
python3 "$HERE/lib/bridge-report.py" "$OUT" "$HERE/RESULTS.md"
log "wrote section 6 of $HERE/RESULTS.md; raw data in $OUT"
