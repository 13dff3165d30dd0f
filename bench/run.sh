#!/bin/sh
# Re-run every benchmark in bench/README.md on one sandbox daemon and rewrite bench/RESULTS.md.
# Root only; Debian 12; run bench/setup.sh once first. Each heavy step takes the shared lock
# /tmp/kvmlab-heavy.lock on its own (flock -o: a daemon started under it never inherits it).
#   bench/run.sh
# Environment: KVB_LAB (lab name, default kvb), KVB_STATE_DIR (default bench/.state),
# KVB_RUNS_UPDOWN (10), KVB_RUNS_NOOP (30), KVB_RUNS_SCALE (3), KVB_SIZES ("10 50 200"),
# KVB_KVMLAB (the binary, default build/cli/kvmlab); the storage benchmarks' own knobs are in
# bench/storage.sh (KVB_STORAGE=0 skips them).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
K=${KVB_KVMLAB:-$ROOT/build/cli/kvmlab}
LAB=${KVB_LAB:-kvb}
STATE=${KVB_STATE_DIR:-$HERE/.state}
RUNS_UPDOWN=${KVB_RUNS_UPDOWN:-10}
RUNS_NOOP=${KVB_RUNS_NOOP:-30}
RUNS_SCALE=${KVB_RUNS_SCALE:-3}
SIZES=${KVB_SIZES:-10 50 200}
LOCK=/tmp/kvmlab-heavy.lock
OUT=$HERE/results
NS=${KVMLAB_NETNS_PREFIX:-kvmlab-}$LAB
SOCK=$STATE/sandbox/$LAB/sock/libvirt-sock
URI="qemu+unix:///system?socket=$SOCK"
VN=$HERE/lib/virsh-nets.sh

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (sandboxes are network namespaces)" >&2; exit 1; }
for t in hyperfine virsh strace perf python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench/run.sh: '$t' is missing; run bench/setup.sh" >&2; exit 1; }
done
[ -x "$K" ] || { echo "bench/run.sh: '$K' is missing; run bench/setup.sh" >&2; exit 1; }
mkdir -p "$STATE" "$OUT"
rm -rf "${OUT:?}"/*
W=$(mktemp -d /tmp/kvb-run.XXXXXX)

log() { echo "bench: $(date -u +%T) $*" >&2; }
heavy() { flock -o "$LOCK" "$@"; }
hf() { # hf ARGS...: one hyperfine run under the lock; its exact command line goes to commands.txt
  { printf 'hyperfine'; for a; do printf " '%s'" "$a"; done; printf '\n\n'; } >>"$OUT/commands.txt"
  heavy hyperfine "$@"
}
kv() { "$K" --state-dir "$STATE" "$@"; }
vclean() { # vclean DIR...: remove the virsh side's networks and table, whatever is there
  for d; do [ -d "$d" ] && sh "$VN" batch clean "$URI" "$NS" "$d"; done; return 0; }

cleanup() {
  set +e
  if [ -S "$SOCK" ]; then
    vclean "$W"/v*
    virsh -q -c "$URI" net-undefine "$LAB-keep" >/dev/null 2>&1
  fi
  kv -q down --lab "$LAB"
  rm -rf "$W"
  if ip netns list | awk '{print $1}' | grep -qx "$NS"; then log "namespace '$NS' is still there"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the lab files ----------------------------------------------------------------------------
cat >"$W/four.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8:
    type: nat
    subnet: 192.168.208.0/24
    port_forwards: [{proto: tcp, host_port: 2222, node: n1, port: 22}]
  vmnet1: {type: hostonly, subnet: 192.168.201.0/24}
  vmnet2: {type: isolated}
  vmnet5: {type: nat, subnet: 10.55.0.0/24}
images:
  img: {build: debian-12}   # since the nodes issue kvmlab builds it and makes the node (start: false): see RESULTS.md
nodes:
  - {name: n1, image: img, start: false, networks: [{network: vmnet8, ip: 192.168.208.10}]}
EOL
for n in $SIZES; do
  { echo "lab: $LAB"; echo "connect: sandbox"; echo "networks:"
    i=10; while [ $i -lt $((10 + n)) ]; do echo "  vmnet$i: {type: hostonly}"; i=$((i + 1)); done
  } >"$W/n$n.yaml"
done
cp "$W"/*.yaml "$OUT/"

# dump_virsh DIR [TABLE]: kvmlab's live definitions (and NAT table), renamed for plain virsh
dump_virsh() {
  mkdir -p "$1"
  for net in $(virsh -q -c "$URI" net-list --all --name | grep "^$LAB-vmnet"); do
    virsh -q -c "$URI" net-dumpxml --inactive "$net"
  done | python3 "$HERE/lib/virsh-xml.py" "$1" "${LAB}v" >/dev/null
  if [ $# -gt 1 ]; then
    ip netns exec "$NS" nft list table ip "$2" | sed "s/^table ip $2 /table ip kvbv-nat /" >"$1/nat.nft"
  fi
}

# --- one sandbox daemon for everything ----------------------------------------------------------
log "starting the sandbox of lab '$LAB' (up of the four-network lab)"
heavy "$K" -q --state-dir "$STATE" up "$W/four.yaml"
# a network kvmlab did not make keeps the sandbox alive through `kvmlab down` (defined, never
# started: it costs both sides one more entry in every network list)
echo "<network><name>$LAB-keep</name><bridge name='${LAB}keep' stp='off' delay='0'/></network>" >"$W/keep.xml"
virsh -q -c "$URI" net-define "$W/keep.xml" >/dev/null
dump_virsh "$W/v4" "kvmlab-$LAB"
cp -r "$W/v4" "$OUT/virsh-four"
kv -q down "$W/four.yaml"
[ -S "$SOCK" ] || { log "the sandbox did not survive 'down'"; exit 1; }
DPID=$(cat "$STATE/sandbox/$LAB/libvirtd.pid")

# --- 1: up+down of four networks -----------------------------------------------------------------
log "benchmark 1: up+down, kvmlab against virsh"
KQ="$K -q --state-dir $STATE"
hf --warmup 1 --runs "$RUNS_UPDOWN" --export-json "$OUT/updown.json" \
  -n "kvmlab up + kvmlab down" "$KQ up $W/four.yaml && $KQ down $W/four.yaml" \
  -n "virsh, one process per step, + nft -f" \
  "sh $VN per-command up '$URI' $NS $W/v4 && sh $VN per-command down '$URI' $NS $W/v4" \
  -n "virsh, one batch process, + nft -f" \
  "sh $VN batch up '$URI' $NS $W/v4 && sh $VN batch down '$URI' $NS $W/v4" \
  >"$OUT/updown.txt"

# --- 2: no-op up and plan against virsh net-list --------------------------------------------------
log "benchmark 2: no-op up and plan against virsh net-list"
heavy "$K" -q --state-dir "$STATE" up "$W/four.yaml"
hf -N --warmup 3 --runs "$RUNS_NOOP" --export-json "$OUT/noop.json" \
  -n "kvmlab up (no-op)" "$K --state-dir $STATE up $W/four.yaml" \
  -n "kvmlab plan (no-op)" "$K --state-dir $STATE plan $W/four.yaml" \
  -n "kvmlab --version (start-up only)" "$K --version" \
  -n "virsh --version (start-up only)" "virsh --version" \
  -n "virsh net-list" "virsh -c '$URI' net-list" \
  >"$OUT/noop.txt"

log "profiling the no-op up"
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime+stime, clock ticks
profile() {
  strace -c -f -o "$OUT/strace-c-up.txt" "$K" -q --state-dir "$STATE" up "$W/four.yaml"
  strace -c -f -o "$OUT/strace-c-netlist.txt" virsh -c "$URI" net-list >/dev/null
  strace -f -tt -T -o "$OUT/strace-tt-up.txt" "$K" -q --state-dir "$STATE" up "$W/four.yaml"
  strace -f -tt -T -o "$OUT/strace-tt-netlist.txt" virsh -c "$URI" net-list >/dev/null
  perf record -q -F 20000 -g -o "$W/perf.data" -- sh -c \
    "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do $K -q --state-dir $STATE up $W/four.yaml; done" \
    >/dev/null 2>&1
  perf report -i "$W/perf.data" --no-children -g none --percent-limit 0.4 --sort dso,sym --stdio 2>/dev/null |
    grep -v '^#' | grep '%' | head -40 >"$OUT/perf-up.txt"
  perf report -i "$W/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null |
    grep -v '^#' | grep '%' | head -20 >"$OUT/perf-up-dso.txt"
  # kvmlab's main thread against the short-lived threads that run libnftables in the namespace
  perf script -i "$W/perf.data" -F comm,pid,tid 2>/dev/null | awk '$1 == "kvmlab" {
      split($2, a, "/"); n++; if (a[1] == a[2]) m++; else o++ }
    END { printf "main %.4f\nnft %.4f\nsamples %d\n", m / n, o / n, n }' >"$OUT/perf-threads.txt"
  # the daemon's CPU per call: 20 calls of each
  for what in up net-list; do
    a=$(cpu_of "$DPID")
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      if [ $what = up ]; then "$K" -q --state-dir "$STATE" up "$W/four.yaml"; else virsh -c "$URI" net-list >/dev/null; fi
    done
    b=$(cpu_of "$DPID")
    echo "$what $((b - a)) $(getconf CLK_TCK)" >>"$OUT/daemon-cpu.txt"
  done
}
# hold the lock in this shell for the whole profile; fd 9 is closed for every child
exec 9>"$LOCK"
flock 9
profile 9>&-
exec 9>&-

kv -q down "$W/four.yaml"

# --- 3: 10, 50, 200 networks ---------------------------------------------------------------------
log "benchmark 3: scaling ($SIZES networks)"
for n in $SIZES; do
  vclean "$W"/v*
  kv -q down "$W/n$n.yaml"
  heavy /usr/bin/time -v -o "$OUT/time-up-$n.txt" "$K" -q --state-dir "$STATE" up "$W/n$n.yaml"
  heavy /usr/bin/time -v -o "$OUT/time-plan-$n.txt" "$K" -q --state-dir "$STATE" plan "$W/n$n.yaml"
  dump_virsh "$W/v$n"
  kv -q down "$W/n$n.yaml"
done
LIST=$(echo $SIZES | tr ' ' ,)
hf --runs "$RUNS_SCALE" -L n "$LIST" --export-json "$OUT/scale-up.json" \
  --prepare "$KQ down $W/n{n}.yaml && sh $VN batch clean '$URI' $NS $W/v{n}" \
  "$KQ up $W/n{n}.yaml" \
  "sh $VN batch up '$URI' $NS $W/v{n}" \
  >"$OUT/scale-up.txt"
vclean "$W"/v*
hf --warmup 1 --runs "$RUNS_NOOP" -L n "$LIST" --export-json "$OUT/scale-plan.json" \
  --prepare "$KQ up $W/n{n}.yaml" \
  "$K --state-dir $STATE plan $W/n{n}.yaml" \
  "virsh -c '$URI' net-list" \
  >"$OUT/scale-plan.txt"
heavy "$K" -q --state-dir "$STATE" down "$W/n${SIZES##* }.yaml" # every network of the lab

# --- 4: storage (bench/storage.sh: its own lab, kvbs, and sandbox) ------------------------------------
if [ "${KVB_STORAGE:-1}" = 1 ]; then
  log "benchmark 4: storage (bench/storage.sh)"
  KVB_REPORT=0 KVB_KVMLAB="$K" KVB_STATE_DIR="$STATE" sh "$HERE/storage.sh" || log "bench/storage.sh failed"
fi

# --- the machine and the report ---------------------------------------------------------------
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "kernel=$(uname -r)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "libvirt=$(libvirtd --version | awk '{print $NF}')"
  echo "virsh=$(virsh --version)"
  echo "hyperfine=$(hyperfine --version | awk '{print $2}')"
  echo "kvmlab=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench' || echo '+dirty')"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "runs=updown:$RUNS_UPDOWN noop:$RUNS_NOOP scale:$RUNS_SCALE"
} >"$OUT/machine.txt"
python3 "$HERE/lib/report.py" "$OUT" "$HERE/RESULTS.md"
log "wrote $HERE/RESULTS.md"
