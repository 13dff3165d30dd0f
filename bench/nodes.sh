#!/bin/sh
# The nodes benchmark of bench/README.md (issue 13): kubeadm-ready nodes from the cached debian-12
# image, under TCG, one run of each (a boot takes minutes). Root only. The whole run holds the
# shared lock /tmp/kvmlab-heavy.lock (flock -o: the sandbox daemon never inherits it).
#   bench/nodes.sh
# 1. `kvmlab up` of a two-node lab to ready (its exit) against the same two guests made by
#    virt-install on the same sandbox daemon and waited for to the same readiness
#    (lib/virt-install-nodes.sh); `/usr/bin/time -v` of the `up` gives its peak memory.
# 2. `kvmlab up` of a one-node and a three-node lab (the worker's shape), to ready.
# Both sides start with the lab's networks up and its sandbox running: `kvmlab up` of the lab
# file with the networks only (nets.yaml) makes them, and after each timed `up` the same file
# removes the nodes again (domains, volumes, pool) and keeps the networks and the daemon.
# Environment: KVB_KVMLAB (the binary, default build/cli/kvmlab), KVB_STATE_DIR (default
# bench/.state), KVB_NODES_LAB (kn), KVB_NODES_IMAGE_FROM (a store to copy the built debian-12
# image from; without it `up` builds it first, untimed), KVB_NODES_TIMEOUT (1800 s per wait),
# KVB_NODES_STEPS ("pair growth"; the steps run in that order on one sandbox; "hpet": the peer
# again with kvmlab's clock, `--clock offset=utc,hpet_present=yes`, i.e. QEMU's default timers
# with the HPET, after a pair step of this run or an earlier one: its input in results/nodes/).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
LOCK=/tmp/kvmlab-heavy.lock
if [ -z "${KVB_NODES_LOCKED:-}" ]; then
  echo "bench: waiting for $LOCK" >&2
  KVB_NODES_LOCKED=1 exec flock -o "$LOCK" sh "$0" "$@"
fi
K=${KVB_KVMLAB:-$ROOT/build/cli/kvmlab}
LAB=${KVB_NODES_LAB:-kn}
STATE=${KVB_STATE_DIR:-$HERE/.state}
TIMEOUT=${KVB_NODES_TIMEOUT:-1800}
STEPS=${KVB_NODES_STEPS:-pair growth}
OUT=$HERE/results/nodes
SOCK=$STATE/sandbox/$LAB/sock/libvirt-sock
URI="qemu+unix:///system?socket=$SOCK"
PEER=$HERE/lib/virt-install-nodes.sh

[ "$(id -u)" = 0 ] || { echo "bench/nodes.sh: needs root (sandboxes are network namespaces)" >&2; exit 1; }
for t in hyperfine virsh virt-install qemu-img isoinfo genisoimage python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench/nodes.sh: '$t' is missing; run bench/setup.sh" >&2; exit 1; }
done
[ -x "$K" ] || { echo "bench/nodes.sh: '$K' is missing; run bench/setup.sh" >&2; exit 1; }
mkdir -p "$STATE/images" "$OUT"
W=$(mktemp -d /tmp/kvb-nodes.XXXXXX)

log() { echo "bench: $(date -u +%T) $*" >&2; }
kv() { "$K" --state-dir "$STATE" "$@"; }
vs() { virsh -q -c "$URI" "$@"; }
# hf NAME ARGS...: one hyperfine call, JSON to NAME.json, its exact command line to commands.txt
hf() {
  name=$1
  shift
  { printf 'hyperfine'
    for a in --runs 1 --export-json "$OUT/$name.json" "$@"; do printf " '%s'" "$a"; done
    printf '\n\n'; } >>"$OUT/commands.txt"
  hyperfine --runs 1 --export-json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1
}
machine() { # machine LABEL: the load and the time, before or after a timed step
  echo "$1 $(date -u +%T) load=$(cut -d' ' -f1-3 /proc/loadavg) mem_avail_mib=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)" >>"$OUT/load.txt"
}

cleanup() {
  set +e
  if [ -S "$SOCK" ]; then sh "$PEER" clean "$URI" "$W/peer" >/dev/null 2>&1; fi
  if [ "${KVB_NODES_KEEP:-0}" != 1 ]; then
    kv -q down --lab "$LAB"
    NS=${KVMLAB_NETNS_PREFIX:-kvmlab-}$LAB
    if ip netns list | awk '{print $1}' | grep -qx "$NS"; then log "namespace '$NS' is still there"; fi
    if [ -e "$STATE/sandbox/$LAB" ]; then log "sandbox '$STATE/sandbox/$LAB' is still there"; fi
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the image and the lab files -----------------------------------------------------------------
if [ -n "${KVB_NODES_IMAGE_FROM:-}" ] && ! ls "$STATE"/images/debian-12-*.qcow2 >/dev/null 2>&1; then
  cp -p "$KVB_NODES_IMAGE_FROM"/debian-12-*.* "$STATE/images/"
fi
head='connect: sandbox
accel: tcg
networks:
  vmnet8: {type: nat}
  vmnet1: {type: hostonly}'
printf 'lab: %s\n%s\n' "$LAB" "$head" >"$W/nets.yaml"
body() { # body NODE-LINE...: the lab with these nodes
  printf 'lab: %s\n%s\nimages:\n  debian12: {build: debian-12}\nnodes:\n' "$LAB" "$head"
  for l in "$@"; do printf '  - %s\n' "$l"; done
  printf 'kubernetes: {version: "1.31", install_packages: false}\n'
}
wk() { echo "{name: $1, role: worker, image: debian12, cpus: 1, memory: 1536, networks: [vmnet8, vmnet1]}"; }
body "{name: cp, role: control-plane, image: debian12, cpus: 2, memory: 2048, networks: [vmnet8, vmnet1]}" \
  "$(wk worker)" >"$W/two.yaml"
body "$(wk w1)" >"$W/one.yaml"
body "$(wk w1)" "$(wk w2)" "$(wk w3)" >"$W/three.yaml"
cp "$W"/*.yaml "$OUT/"

log "the image (built once if the store lacks it, untimed) and the lab's networks"
kv -q image build debian-12
BASE=$(ls "$STATE"/images/debian-12-*.qcow2 | head -1)
kv -q up -f "$W/nets.yaml"
[ -S "$SOCK" ] || { log "no sandbox daemon at '$SOCK'"; exit 1; }
# the base in the page cache for every timed step alike (the first would read it from disk)
cat "$BASE" "${BASE%.qcow2}.vmlinuz" "${BASE%.qcow2}.initrd" >/dev/null

# timed_up NAME LABFILE: one `kvmlab up` to ready under /usr/bin/time -v, then its nodes removed
timed_up() {
  machine "before $1"
  hf "$1" -n "kvmlab up, $1" \
    "/usr/bin/time -v -o $OUT/$1.time-v.txt $K --state-dir $STATE up -f $2 --timeout $TIMEOUT >$OUT/$1.out 2>&1"
  machine "after $1"
  for d in $(vs list --all --name); do
    vs dumpxml "$d" >"$OUT/$1.$d.xml"
    n=${d#"$LAB"-}
    cp "$STATE/labs/$LAB/nodes/$n/console.log" "$OUT/$1.$n.console.log"
  done
}

for step in $STEPS; do
  case $step in
  pair)
    log "1: kvmlab up of the two-node lab, to ready"
    timed_up up2 "$W/two.yaml"
    # what kvmlab made, for the peer: each node's seed taken apart, its domain, its root overlay
    mkdir -p "$W/peer"
    echo "${LAB}p-" >"$W/peer/prefix"
    for n in cp worker; do
      mkdir -p "$W/peer/$n"
      for f in user-data meta-data network-config; do
        isoinfo -R -i "$STATE/labs/$LAB/nodes/$n/seed.iso" -x "/$f" >"$W/peer/$n/$f"
      done
      vs dumpxml "$LAB-$n" >"$W/peer/$n/domain.xml"
      vs vol-dumpxml --pool "$LAB-pool" "$n-0.qcow2" >"$W/peer/$n/volume.xml"
    done
    python3 "$HERE/lib/nodes-peer.py" "$W/peer" "$LAB" cp worker >"$W/peer/nodes.txt"
    for net in vmnet8 vmnet1; do
      vs net-dumpxml "$LAB-$net" | grep -o "<host [^>]*mac=[^>]*>" | sed "s|^|$LAB-$net |" >>"$W/peer/dhcp-hosts"
    done
    cp -r "$W/peer" "$OUT/peer-input"
    kv -q up -f "$W/nets.yaml" # the nodes go; the networks and the daemon stay
    log "1: virt-install of the same two nodes on the same daemon, to the same readiness"
    machine "before peer2"
    hf peer2 -n "virt-install, two nodes" "sh $PEER up '$URI' $W/peer $BASE $TIMEOUT" || log "the peer failed"
    machine "after peer2"
    for n in cp worker; do
      cp "$W/peer/$n.console.log" "$OUT/peer2.$n.console.log" || true
      vs dumpxml "${LAB}p-$n" >"$OUT/peer2.${LAB}p-$n.xml" || true
    done
    cp "$W/peer/virt-install.log" "$OUT/peer2.virt-install.log" || true
    sh "$PEER" clean "$URI" "$W/peer"
    ;;
  growth)
    log "2: kvmlab up of a one-node lab, to ready"
    timed_up up1 "$W/one.yaml"
    kv -q up -f "$W/nets.yaml"
    log "2: kvmlab up of a three-node lab, to ready"
    timed_up up3 "$W/three.yaml"
    kv -q up -f "$W/nets.yaml"
    ;;
  hpet)
    log "the peer again with kvmlab's timers: the HPET present, no tick policies"
    [ -d "$W/peer" ] || cp -r "$OUT/peer-input" "$W/peer"
    machine "before peer2hpet"
    hf peer2hpet -n "virt-install, two nodes, HPET present" \
      "KVB_PEER_CLOCK=offset=utc,hpet_present=yes sh $PEER up '$URI' $W/peer $BASE $TIMEOUT" || log "the peer failed"
    machine "after peer2hpet"
    for n in cp worker; do
      cp "$W/peer/$n.console.log" "$OUT/peer2hpet.$n.console.log" || true
      vs dumpxml "${LAB}p-$n" >"$OUT/peer2hpet.${LAB}p-$n.xml" || true
    done
    sh "$PEER" clean "$URI" "$W/peer"
    ;;
  *) log "unknown step '$step'"; exit 2 ;;
  esac
done

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "mem_total_mib=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "libvirt=$(libvirtd --version | awk '{print $NF}')"
  echo "qemu=$(qemu-system-x86_64 --version | awk 'NR == 1 {print $4}')"
  echo "virt-install=$(virt-install --version)"
  echo "hyperfine=$(hyperfine --version | awk '{print $2}')"
  echo "kvmlab=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench' || echo '+dirty')"
  echo "image=$(basename "$BASE")"
  echo "steps=$STEPS"
} >"$OUT/machine.txt"
log "done: raw data in $OUT"
