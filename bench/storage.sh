#!/bin/sh
# The storage benchmarks of bench/README.md (issue 12) on one sandbox daemon: overlay creation on
# a 1 GiB and a 20 GiB base, and the volumes of a 20-node lab, kvmlab against virsh. Root only;
# bench/run.sh calls it, and it runs alone too (then it rewrites bench/RESULTS.md from
# bench/results/, the network results there included). Each heavy step takes the shared lock
# /tmp/kvmlab-heavy.lock on its own (flock -o).
#   bench/storage.sh
# Environment: KVB_KVMLAB (the binary, default build/cli/kvmlab), KVB_STORAGE_LAB (lab name,
# default kvbs), KVB_STATE_DIR (default bench/.state), KVB_RUNS_STORAGE (10 runs per command, in
# KVB_ROUNDS_STORAGE rounds, default 5), KVB_NODES (20), KVB_REPORT (1: rewrite RESULTS.md;
# run.sh sets 0 and writes it itself).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
K=${KVB_KVMLAB:-$ROOT/build/cli/kvmlab}
LAB=${KVB_STORAGE_LAB:-kvbs}
STATE=${KVB_STATE_DIR:-$HERE/.state}
RUNS=${KVB_RUNS_STORAGE:-10}
ROUNDS=${KVB_ROUNDS_STORAGE:-5}
NODES=${KVB_NODES:-20}
LOCK=/tmp/kvmlab-heavy.lock
OUT=$HERE/results/storage
NS=${KVMLAB_NETNS_PREFIX:-kvmlab-}$LAB
SOCK=$STATE/sandbox/$LAB/sock/libvirt-sock
URI="qemu+unix:///system?socket=$SOCK"
VV=$HERE/lib/virsh-vols.sh
POOL=$LAB-pool    # kvmlab's pool for the lab
VPOOL=${LAB}v-pool # the virsh side's pool

[ "$(id -u)" = 0 ] || { echo "bench/storage.sh: needs root (sandboxes are network namespaces)" >&2; exit 1; }
for t in hyperfine virsh qemu-img qemu-io strace python3; do
  command -v "$t" >/dev/null || { echo "bench/storage.sh: '$t' is missing; run bench/setup.sh" >&2; exit 1; }
done
[ -x "$K" ] || { echo "bench/storage.sh: '$K' is missing; run bench/setup.sh" >&2; exit 1; }
mkdir -p "$STATE" "$OUT"
rm -rf "${OUT:?}"/*
W=$(mktemp -d /tmp/kvb-storage.XXXXXX)
KQ="$K -q --state-dir $STATE"

log() { echo "bench: $(date -u +%T) $*" >&2; }
heavy() { flock -o "$LOCK" "$@"; }
# hfr NAME ARGS...: hyperfine ARGS in $ROUNDS rounds of $RUNS/$ROUNDS runs each (one warm-up run
# in the first), each round under the lock, merged into NAME.json by lib/hfmerge.py. hyperfine
# runs a command's runs back to back: in rounds, a neighbour's burst of load on this shared
# machine falls on every command alike rather than on one. The exact command line of a round
# goes to commands.txt.
hfr() {
  name=$1
  shift
  { printf '# round 1 of %s (the others: --warmup 0, NAME.rK.json)\nhyperfine' "$ROUNDS"
    for a in -N --warmup 1 --runs $((RUNS / ROUNDS)) --export-json "$OUT/$name.r1.json" "$@"; do printf " '%s'" "$a"; done
    printf '\n\n'; } >>"$OUT/commands.txt"
  r=1
  while [ $r -le "$ROUNDS" ]; do
    heavy hyperfine -N --warmup $((r == 1)) --runs $((RUNS / ROUNDS)) --export-json "$OUT/$name.r$r.json" "$@" \
      >>"$OUT/$name.txt"
    r=$((r + 1))
  done
  python3 "$HERE/lib/hfmerge.py" "$OUT/$name.json" "$OUT/$name".r*.json
  rm -f "$OUT/$name".r*.json
}
kv() { "$K" --state-dir "$STATE" "$@"; }
vs() { virsh -q -c "$URI" "$@"; }

cleanup() {
  set +e
  if [ -S "$SOCK" ]; then
    sh "$VV" batch clean "$URI" "$VPOOL" "$W" >/dev/null 2>&1
    vs net-undefine "$LAB-keep" >/dev/null 2>&1
  fi
  kv -q down --lab "$LAB" # the sandbox goes with the lab: nothing foreign is left in it
  # the base images this script imported into the shared store (their sources are in $W)
  for img in $(cat "$W/images" 2>/dev/null); do kv -q image rm "$img"; done
  rm -rf "$W"
  if ip netns list | awk '{print $1}' | grep -qx "$NS"; then log "namespace '$NS' is still there"; fi
  if [ -e "$STATE/sandbox/$LAB" ]; then log "sandbox '$STATE/sandbox/$LAB' is still there"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the bases and the lab files --------------------------------------------------------------
# mkbase FILE GIB: a qcow2 base of GIB GiB holding 20 chunks of 16 MiB (320 MiB of data) spread
# evenly over its whole size, each chunk its own byte pattern
mkbase() {
  f=$1 step=$(($2 * 1024 / 20))
  qemu-img create -q -f qcow2 "$f" "$2G"
  set --
  i=0
  while [ $i -lt 20 ]; do
    set -- "$@" -c "write -q -P $((i + 1)) $((i * step * 1048576)) 16M"
    i=$((i + 1))
  done
  qemu-io "$@" "$f"
}
log "making the bases (1 GiB and 20 GiB, 320 MiB of data each)"
exec 9>"$LOCK" # held by this shell; fd 9 is closed for every child
flock 9
mkbase "$W/base-1g.qcow2" 1 9>&-
mkbase "$W/base-20g.qcow2" 20 9>&-
exec 9>&-
for b in 1g 20g; do
  echo "== base-$b.qcow2"
  qemu-img info "$W/base-$b.qcow2" | grep -E '^(virtual size|disk size|cluster_size):'
done >"$OUT/bases.txt"

for b in 1g 20g; do
  cat >"$W/o$b.yaml" <<EOL
lab: $LAB
connect: sandbox
images:
  b$b: {path: $W/base-$b.qcow2, os: debian11}
nodes:
  - {name: n1, image: b$b, start: false}
EOL
done
{
  echo "lab: $LAB"
  echo "connect: sandbox"
  echo "images:"
  echo "  b1g: {path: $W/base-1g.qcow2, os: debian11}"
  echo "nodes:"
  i=1
  while [ $i -le "$NODES" ]; do
    printf '  - {name: n%02d, image: b1g, start: false, disks: [{size: 8G}, {size: 2G}]}\n' $i
    i=$((i + 1))
  done
} >"$W/lab$NODES.yaml"
# the same lab without os: ids: nothing asks osinfo-db (the bus falls back to kvmlab's default)
sed 's/, os: debian11}/}/' "$W/lab$NODES.yaml" >"$W/lab$NODES-noos.yaml"
cp "$W"/*.yaml "$OUT/"

# vol_list FILE: kvmlab's volumes in its pool, as virsh-vols.sh reads them ("NAME CAPACITY BACKING")
vol_list() {
  for v in $(vs vol-list "$POOL" | awk '{print $1}'); do
    case $v in .*) continue ;; esac
    vs vol-dumpxml --pool "$POOL" "$v" | python3 -c '
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.stdin).getroot()
b = r.find("backingStore/path")
print(r.find("name").text, r.find("capacity").text, b.text if b is not None else "-")'
  done >"$1"
}

# --- one sandbox daemon; the bases imported into the shared store once ---------------------------
log "starting the sandbox of lab '$LAB' and importing the bases into the image store"
heavy "$K" -q --state-dir "$STATE" up "$W/o1g.yaml"
# a network kvmlab did not make keeps the sandbox alive through `kvmlab down` (defined, never
# started; kvmlab lists it on every up and down, virsh's volume commands never look at it)
echo "<network><name>$LAB-keep</name><bridge name='${LAB}keep' stp='off' delay='0'/></network>" >"$W/keep.xml"
vs net-define "$W/keep.xml" >/dev/null
# the virsh side's pool: kvmlab's own definition, renamed, in a directory of its own
vs pool-dumpxml --inactive "$POOL" |
  sed -e '/<uuid>/d' -e "s|<name>.*</name>|<name>$VPOOL</name>|" -e "s|<path>.*</path>|<path>$W/vpool</path>|" \
    >"$W/pool.xml"
cp "$W/pool.xml" "$OUT/virsh-pool.xml"
vol_list "$W/o1g.vols"
kv -q down --lab "$LAB"
heavy "$K" -q --state-dir "$STATE" up "$W/o20g.yaml"
vol_list "$W/o20g.vols"
kv -q down --lab "$LAB"
[ -S "$SOCK" ] || { log "the sandbox did not survive 'down'"; exit 1; }
kv --json image list | python3 -c '
import json, sys
w = sys.argv[1] + "/"
for i in json.load(sys.stdin):
    if (i.get("source") or "").startswith(w):
        print(i["name"])' "$W" >"$W/images"
[ "$(wc -l <"$W/images")" = 2 ] || { log "the store does not hold the two bases"; exit 1; }
cat "$W/o1g.vols" "$W/o20g.vols" >"$OUT/overlay-volumes.txt"
DPID=$(cat "$STATE/sandbox/$LAB/libvirtd.pid")

# --- 1: an overlay on a 1 GiB and on a 20 GiB base -----------------------------------------------
log "storage 1: overlay creation on a 1 GiB and a 20 GiB base"
# the virsh side works in its own running pool; only vol-create-as is timed
: >"$W/empty.vols"
mkdir -p "$W/vs"
cp "$W/pool.xml" "$W/vs/pool.xml"
: >"$W/vs/volumes.txt"
sh "$VV" batch up "$URI" "$VPOOL" "$W/vs"
set --
for b in 1g 20g; do
  read -r name cap backing <"$W/o$b.vols"
  set -- "$@" -p "sh $VV batch clean-vols '$URI' $VPOOL $W/vs" -n "virsh vol-create-as, overlay on the $b base" \
    "virsh -q -c '$URI' vol-create-as $VPOOL $name $cap --allocation 0 --format qcow2 --backing-vol $backing --backing-vol-format qcow2"
done
hfr overlay \
  -p "$KQ down --lab $LAB" -n "kvmlab up from nothing, 1g base" "$KQ up $W/o1g.yaml" \
  -p "$KQ down --lab $LAB" -n "kvmlab up from nothing, 20g base" "$KQ up $W/o20g.yaml" \
  -p "sh -c '$KQ down --lab $LAB && $KQ up $W/o1g.yaml && virsh -q -c \"$URI\" vol-delete --pool $POOL n1-0.qcow2'" \
  -n "kvmlab up remaking the overlay only, 1g base" "$KQ up $W/o1g.yaml" \
  -p "sh -c '$KQ down --lab $LAB && $KQ up $W/o20g.yaml && virsh -q -c \"$URI\" vol-delete --pool $POOL n1-0.qcow2'" \
  -n "kvmlab up remaking the overlay only, 20g base" "$KQ up $W/o20g.yaml" \
  "$@"
sh "$VV" batch clean "$URI" "$VPOOL" "$W/vs"
kv -q down --lab "$LAB"

# --- 2: the volumes of a 20-node lab -------------------------------------------------------------
log "storage 2: the volumes of a $NODES-node lab, kvmlab up against virsh vol-create-as"
heavy "$K" -q --state-dir "$STATE" up "$W/lab$NODES.yaml"
mkdir -p "$W/v$NODES"
cp "$W/pool.xml" "$W/v$NODES/pool.xml"
vol_list "$W/v$NODES/volumes.txt"
cp "$W/v$NODES/volumes.txt" "$OUT/lab$NODES-volumes.txt"
kv -q down --lab "$LAB"
V="$W/v$NODES"
hfr lab \
  -p "$KQ down --lab $LAB" -n "kvmlab up" "$KQ up $W/lab$NODES.yaml" \
  -p "$KQ down --lab $LAB" -n "kvmlab up, the lab without os: ids" "$KQ up $W/lab$NODES-noos.yaml" \
  -p "$KQ down --lab $LAB" -n "kvmlab plan from nothing" "$KQ plan $W/lab$NODES.yaml" \
  -p "$KQ down --lab $LAB" -n "kvmlab validate" "$KQ validate $W/lab$NODES.yaml" \
  -p "sh $VV batch clean '$URI' $VPOOL $V" -n "virsh, one process per step" \
  "sh $VV per-command up '$URI' $VPOOL $V" \
  -p "sh $VV batch clean '$URI' $VPOOL $V" -n "virsh, one batch process" \
  "sh $VV batch up '$URI' $VPOOL $V"
sh "$VV" batch clean "$URI" "$VPOOL" "$V"

log "profiling the $NODES-node up"
cpu_of() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; } # libvirtd's and its reaped children's (qemu-img) CPU, ticks
profile() {
  kv -q down --lab "$LAB"
  strace -c -f -o "$OUT/strace-c-up.txt" "$K" -q --state-dir "$STATE" up "$W/lab$NODES.yaml"
  kv -q down --lab "$LAB"
  strace -f -tt -T -o "$OUT/strace-tt-up.txt" "$K" -q --state-dir "$STATE" up "$W/lab$NODES.yaml"
  gzip -9f "$OUT/strace-tt-up.txt" # 1.4 MiB of text, most of it osinfo-db's files being read
  kv -q down --lab "$LAB"
  strace -c -f -o "$OUT/strace-c-virsh.txt" sh "$VV" batch up "$URI" "$VPOOL" "$V"
  sh "$VV" batch clean "$URI" "$VPOOL" "$V"
  # where the client's CPU goes before anything is made: 3 plans, call graphs through DWARF
  # (kvmlab and the libraries have no frame pointers; a whole 64 KiB stack copy, or libxml2's deep
  # stacks stop short of main), inclusive ("children") shares per function
  if command -v perf >/dev/null; then
    perf record -q -F 500 --call-graph dwarf,65528 -o "$W/perf.data" -- sh -c \
      "for i in 1 2 3; do $K -q --state-dir $STATE plan $W/lab$NODES.yaml; done" >/dev/null 2>&1
    perf report -i "$W/perf.data" --comm kvmlab --children -g none --sort sym --stdio 2>/dev/null |
      grep -v '^#' | grep '%' | grep -v '\[k\]' | grep -v '\] 0x0000' | head -40 >"$OUT/perf-plan.txt"
    rm -f "$W/perf.data"
  fi
  # the daemon's CPU per call (5 calls of each; the removal between them is not counted)
  for what in up virsh; do
    total=0
    for i in 1 2 3 4 5; do
      a=$(cpu_of "$DPID")
      if [ $what = up ]; then kv -q up "$W/lab$NODES.yaml"; else sh "$VV" batch up "$URI" "$VPOOL" "$V"; fi
      b=$(cpu_of "$DPID")
      total=$((total + b - a))
      if [ $what = up ]; then kv -q down --lab "$LAB"; else sh "$VV" batch clean "$URI" "$VPOOL" "$V"; fi
    done
    echo "$what $total 5 $(getconf CLK_TCK)" >>"$OUT/daemon-cpu.txt"
  done
}
# hold the lock in this shell for the whole profile; fd 9 is closed for every child
exec 9>"$LOCK"
flock 9
profile 9>&-
exec 9>&-

# --- the machine ---------------------------------------------------------------------------------
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "libvirt=$(libvirtd --version | awk '{print $NF}')"
  echo "qemu-img=$(qemu-img --version | awk 'NR == 1 {print $3}')"
  echo "kvmlab=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench' || echo '+dirty')"
  echo "fs=$(df -T "$STATE" | awk 'NR == 2 {print $2}') (pools and store), $(df -T "$W" | awk 'NR == 2 {print $2}') (bases, virsh pool)"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "runs=$RUNS rounds=$ROUNDS nodes=$NODES"
} >"$OUT/machine.txt"
if [ "${KVB_REPORT:-1}" = 1 ] && [ ! -f "$HERE/results/updown.json" ]; then
  log "no network results in $HERE/results (bench/run.sh writes them): RESULTS.md left as it is"
elif [ "${KVB_REPORT:-1}" = 1 ]; then
  python3 "$HERE/lib/report.py" "$HERE/results" "$HERE/RESULTS.md"
  log "wrote $HERE/RESULTS.md"
fi
