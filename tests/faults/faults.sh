#!/bin/sh
# Crash safety through the real binary, for networks (both backends: kvmlab's own bridges and
# dnsmasq too) and storage (pool, shared image, volumes): `up` and `down` killed (SIGKILL) or interrupted (SIGINT)
# at random points, a cold `up` killed in its first milliseconds (while it makes the namespace),
# the sandbox's libvirtd killed while `up` starts networks, and two runs on one lab. After each
# fault the next `up` must converge, `plan` must show no change and `down` must leave nothing: no
# namespace, no daemon of the lab (by PID and by namespace), no state directory, no lock file.
# Root only. TAP output.
#   faults.sh KVMLAB_BINARY
# Environment: KVMLAB_FAULTS_SEED (default: the time; printed), KVMLAB_FAULTS_ROUNDS (default 20,
# half SIGKILL, half SIGINT).
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SEED=${KVMLAB_FAULTS_SEED:-$(date +%s)}
ROUNDS=${KVMLAB_FAULTS_ROUNDS:-20}
T=$(mktemp -d)
LAB=flt$(($$ % 100000))
NS=$KVMLAB_NETNS_PREFIX$LAB
SB=$KVMLAB_STATE_DIR/sandbox/$LAB
LOCK=$KVMLAB_STATE_DIR/sandbox/.$LAB.lock
HOLDER=""
cleanup() {
  [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
  "$K" -q down "$T/lab.yaml" >/dev/null 2>&1
  # the base image this run imported (the store keeps it after down)
  for i in $("$K" --json image list 2>/dev/null | tr '{' '\n' | grep -F "\"source\":\"$T/base.qcow2\"" |
    sed -n 's/^"name":"\([^"]*\)".*/\1/p'); do "$K" -q image rm "$i" >/dev/null 2>&1; done
  rm -rf "$T"
}
trap cleanup EXIT
# storage too: a pool, a base image from the shared store and five volumes (overlays and data
# disks), so the kills also land between a marker, a record and the object it describes
qemu-img create -q -f qcow2 "$T/base.qcow2" 64M
cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8: {type: nat, subnet: 192.168.209.0/24}
  vmnet1: {type: hostonly}
  vmnet2: {type: nat, backend: bridge, subnet: 192.168.219.0/24}
  vmnet3: {type: hostonly, backend: bridge}
images:
  base: {path: base.qcow2, os: debian12}
nodes:
  - {name: a, image: base, start: false, disks: [{size: 1G}, {size: 256M}, {size: 128M}], networks: [vmnet8]}
  - {name: b, image: base, start: false, count: 2, networks: [vmnet1, vmnet2]}
EOL

n=0; bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; shift
  for f in "$@"; do [ -f "$f" ] && sed 's/^/# /' "$f"; done; }

# A reproducible random sequence: R in [0, $1) from the seed (an LCG, 31 bits).
STATE=$SEED
rand() { STATE=$(( (STATE * 1103515245 + 12345) % 2147483648 )); R=$(( (STATE / 65536) % $1 )); }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The lab's processes, seen while its namespace exists (they outlive it when not ended).
PIDS=""
note_pids() {
  PIDS="$PIDS $(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')"
  [ -f "$SB/libvirtd.pid" ] && PIDS="$PIDS $(cat "$SB/libvirtd.pid" 2>/dev/null)"
}

# Whether $1 runs (a zombie does not).
alive() { st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1); [ -n "$st" ] && [ "$st" != Z ]; }

# What is left of the lab, one word per kind; empty when nothing.
leftovers() {
  left=""
  ip netns list | awk '{print $1}' | grep -qx "$NS" && left="$left namespace"
  [ -e "$SB" ] && left="$left state-dir"
  [ -e "$KVMLAB_STATE_DIR/labs/$LAB" ] && left="$left lab-state"
  [ -e "$KVMLAB_STATE_DIR/sysctl/$NS" ] && [ -n "$(ls "$KVMLAB_STATE_DIR/sysctl/$NS" 2>/dev/null)" ] && left="$left sysctl-holds"
  [ -e "$KVMLAB_STATE_DIR/bridged/$NS" ] && [ -n "$(ls "$KVMLAB_STATE_DIR/bridged/$NS" 2>/dev/null)" ] && left="$left bridged-records"
  [ -e "$LOCK" ] && left="$left lock-file"
  # (a zombie has ended: only its parent, here init, has yet to reap it)
  for p in $(echo $PIDS | tr ' ' '\n' | sort -u); do
    c=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    alive "$p" || continue
    case $c in libvirtd|dnsmasq|qemu-system-*) left="$left $c:$p";; esac
  done
  for p in $(pgrep -f -- "$SB/"); do alive "$p" && left="$left daemon-by-path:$p"; done
  hostns=$(readlink /proc/1/ns/net)
  for p in $(pgrep -x dnsmasq); do
    alive "$p" || continue
    ns=$(readlink "/proc/$p/ns/net" 2>/dev/null) || continue
    [ "$ns" != "$hostns" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "/$LAB-" &&
      left="$left dnsmasq:$p"
  done
  echo "$left"
}

# After a fault: up converges, plan shows nothing to do, down leaves nothing.
converge() {
  what=$1
  note_pids
  if ! "$K" -q up "$T/lab.yaml" >"$T/out" 2>"$T/err"; then
    notok "$what: the next up converges" "$T/err"; "$K" -q down "$T/lab.yaml" >/dev/null 2>&1
    PIDS=""; return 1; fi
  note_pids
  "$K" --json plan "$T/lab.yaml" >"$T/out" 2>"$T/err"
  if ! grep -q '"changes":0' "$T/out"; then
    notok "$what: plan after up shows no change" "$T/out" "$T/err"; "$K" -q down "$T/lab.yaml" >/dev/null 2>&1
    PIDS=""; return 1; fi
  if ! "$K" -q down "$T/lab.yaml" >"$T/out" 2>"$T/err"; then
    notok "$what: down" "$T/err"; PIDS=""; return 1; fi
  left=$(leftovers)
  PIDS=""
  if [ -n "$left" ]; then notok "$what: down leaves nothing (left:$left)"; return 1; fi
  ok "$what: up converges, plan is empty, down leaves nothing"
}

# Start `$K $1 lab.yaml` and send it $2 after $3 ms; its exit status in ST, stderr in $T/kerr.
# (a shell starts background jobs with SIGINT ignored, which kvmlab honours: reset it)
fault() {
  env --default-signal=INT "$K" -q "$1" "$T/lab.yaml" >/dev/null 2>"$T/kerr" &
  pid=$!
  sleep_ms "$3"
  note_pids
  kill "-$2" "$pid" 2>/dev/null
  wait "$pid"; ST=$?
}

echo "TAP version 13"
echo "# seed $SEED (KVMLAB_FAULTS_SEED=$SEED reproduces this run), $ROUNDS rounds"
"$K" -q down "$T/lab.yaml" >/dev/null 2>&1

# how long a cold up and a down take here: the random points fall inside them
t0=$(now_ms)
if ! "$K" -q up "$T/lab.yaml" >/dev/null 2>"$T/err"; then notok "a plain up works" "$T/err"; fi
t1=$(now_ms)
note_pids
"$K" -q down "$T/lab.yaml" >/dev/null 2>&1
t2=$(now_ms)
UP_MS=$((t1 - t0)); DOWN_MS=$((t2 - t1))
echo "# cold up ${UP_MS} ms, down ${DOWN_MS} ms"
left=$(leftovers); PIDS=""
if [ -z "$left" ]; then ok "a plain up and down leave nothing"; else notok "a plain down leaves nothing (left:$left)"; fi

# 1. The namespace is claimed in the first few tens of milliseconds of a cold up: kill it there,
#    in steps of 5 ms, so the moment between `ip netns add` and the marker is hit on any machine.
good=0; tries=0
for ms in 10 20 30 35 40 45 50 60; do
  tries=$((tries + 1))
  fault up KILL "$ms"
  converge "SIGKILL ${ms} ms into a cold up" && good=$((good + 1))
done
echo "# early SIGKILL: $good/$tries converged"

# The state such a kill leaves, made by hand: the claim written, the namespace made, nothing
# more. up adopts it; a namespace of that name that is in use (lo up, as nobody's fresh `ip netns
# add` leaves it) is never taken, even with the claim there.
mkdir -p "$SB"; echo pending > "$SB/netns-inode"; ip netns add "$NS"
converge "a fresh namespace claimed just before a crash"
mkdir -p "$SB"; echo pending > "$SB/netns-inode"; ip netns add "$NS"; ip -n "$NS" link set lo up
"$K" -q up "$T/lab.yaml" >"$T/out" 2>"$T/err"; st=$?
if [ "$st" = 1 ] && grep -q "not made by kvmlab" "$T/err"; then ok "up refuses a claimed namespace that is in use"
else notok "up refuses a claimed namespace that is in use (exit $st)" "$T/err"; fi
"$K" -q down "$T/lab.yaml" >"$T/out" 2>"$T/err"
if ip netns list | awk '{print $1}' | grep -qx "$NS" && ip -n "$NS" -o link show lo | grep -q "UP"; then
  ok "down leaves a namespace in use alone"
else notok "down leaves a namespace in use alone" "$T/err"; fi
ip netns delete "$NS" 2>/dev/null
"$K" -q down "$T/lab.yaml" >/dev/null 2>&1
left=$(leftovers); PIDS=""
if [ -z "$left" ]; then ok "down after the foreign namespace is gone leaves nothing"
else notok "down after the foreign namespace is gone leaves nothing (left:$left)"; fi

# 2. SIGKILL and SIGINT at random points of up, then of down (from a lab that is up).
good=0; interrupted=0
i=0
while [ "$i" -lt "$ROUNDS" ]; do
  i=$((i + 1))
  if [ $((i % 2)) = 1 ]; then sig=KILL; else sig=INT; fi
  rand $((UP_MS + UP_MS / 5 + 1)); ms=$R
  fault up "$sig" "$ms"
  if [ "$sig" = INT ] && [ "$ST" != 0 ]; then
    interrupted=$((interrupted + 1))
    # stopped at a safe point: the exit says so and the cold lab is as before (nothing)
    if [ "$ST" = 130 ] && [ ! -s "$T/kerr" ]; then
      # it came before main() set its handlers (the first millisecond or so): then nothing may
      # have been made either
      left=$(leftovers)
      if [ -n "$left" ]; then notok "SIGINT ${ms} ms into up, before the handlers, left:$left"
      else ok "SIGINT ${ms} ms into up came before kvmlab started: nothing made"; fi
    elif [ "$ST" != 1 ] || ! grep -q "Interrupted by SIGINT" "$T/kerr"; then
      notok "SIGINT ${ms} ms into up: exit 1 saying 'Interrupted by SIGINT' (exit $ST)" "$T/kerr"
    else
      left=$(leftovers)
      if [ -n "$left" ]; then notok "SIGINT ${ms} ms into up undoes it (left:$left)" "$T/kerr"
      else ok "SIGINT ${ms} ms into up: exit 1, everything undone"; fi
    fi
  fi
  # and the same signal into a down of a lab that is up
  if "$K" -q up "$T/lab.yaml" >/dev/null 2>"$T/err"; then
    rand $((DOWN_MS + 1)); dms=$R
    fault down "$sig" "$dms"
    # (exit 130 with nothing said: the signal came before main() set its handlers; the
    #  converge check below still proves nothing was half-done)
    if [ "$sig" = INT ] && [ "$ST" != 0 ] && ! { [ "$ST" = 130 ] && [ ! -s "$T/kerr" ]; } &&
      { [ "$ST" != 1 ] || ! grep -q "Interrupted by SIGINT" "$T/kerr"; }; then
      notok "SIGINT ${dms} ms into down: exit 1 saying 'Interrupted by SIGINT' (exit $ST)" "$T/kerr"
    fi
  else
    notok "round $i: up after the fault" "$T/err"; dms=-
  fi
  converge "round $i: SIG$sig ${ms} ms into up, ${dms} ms into down" && good=$((good + 1))
done
echo "# random faults: $good/$ROUNDS converged ($interrupted up runs stopped by SIGINT)"

# 3. The sandbox's libvirtd killed while up starts the networks (a bridge exists, the network is
#    not yet recorded as started), three times.
good=0
for k in 1 2 3; do
  "$K" -q up "$T/lab.yaml" >/dev/null 2>"$T/kerr" &
  pid=$!
  killed=""
  for w in $(seq 1 1000); do
    if ip -n "$NS" -o link show type bridge 2>/dev/null | grep -q .; then
      d=$(cat "$SB/libvirtd.pid" 2>/dev/null)
      if [ -n "$d" ] && [ "$(cat "/proc/$d/comm" 2>/dev/null)" = libvirtd ]; then
        note_pids; kill -KILL "$d"; killed=$d; break
      fi
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.005
  done
  wait "$pid"; st=$?
  if [ -z "$killed" ]; then notok "libvirtd kill $k: a bridge appeared while up ran" "$T/kerr"; continue; fi
  echo "# libvirtd $killed killed; up exited with $st"
  converge "libvirtd killed during up ($k)" && good=$((good + 1))
done
echo "# libvirtd killed: $good/3 converged"

# 4. One run per lab at a time. A holder that is not kvmlab (flock(1)) writing its PID as kvmlab
#    does: up refuses at once naming it; up --wait waits until it lets go.
mkdir -p "$KVMLAB_STATE_DIR/sandbox"
flock "$LOCK" sh -c "echo \$\$ > '$LOCK'; exec sleep 2" &
HOLDER=$!
for w in $(seq 1 100); do [ -s "$LOCK" ] && break; sleep 0.02; done
HPID=$(cat "$LOCK")
t0=$(now_ms)
"$K" -q up "$T/lab.yaml" >"$T/out" 2>"$T/err"; st=$?
t1=$(now_ms)
if [ "$st" = 1 ] && grep -q "PID $HPID " "$T/err" && [ $((t1 - t0)) -lt 1000 ]; then
  ok "a second up refuses at once (exit 1, $((t1 - t0)) ms) naming the holder's PID"
else
  notok "a second up refuses at once naming PID $HPID (exit $st, $((t1 - t0)) ms)" "$T/err"
fi
"$K" -q up --wait "$T/lab.yaml" >"$T/out" 2>"$T/err"; st=$?
t2=$(now_ms)
wait "$HOLDER"; HOLDER=""
if [ "$st" = 0 ] && [ $((t2 - t1)) -ge 1000 ]; then
  ok "up --wait waits for the holder ($((t2 - t1)) ms) and then runs"
else
  notok "up --wait waits for the holder (exit $st, $((t2 - t1)) ms)" "$T/err"
fi
"$K" -q down "$T/lab.yaml" >/dev/null 2>&1

# ... and two real runs: a second up while the first (cold) up holds the lock
"$K" -q up "$T/lab.yaml" >/dev/null 2>"$T/kerr" &
first=$!
for w in $(seq 1 200); do [ "$(cat "$LOCK" 2>/dev/null)" = "$first" ] && break; sleep 0.005; done
"$K" -q up "$T/lab.yaml" >"$T/out" 2>"$T/err"; st=$?
if kill -0 "$first" 2>/dev/null || [ "$st" != 0 ]; then
  if [ "$st" = 1 ] && grep -q "PID $first " "$T/err"; then ok "up while another up runs: exit 1 naming PID $first"
  else notok "up while another up runs: exit 1 naming PID $first (exit $st)" "$T/err"; fi
else
  ok "# SKIP the first up ended before the second started"
fi
wait "$first" || notok "the first up succeeds" "$T/kerr"
note_pids
"$K" -q down "$T/lab.yaml" >/dev/null 2>&1
left=$(leftovers); PIDS=""
if [ -z "$left" ]; then ok "down after the lock tests leaves nothing"; else notok "down after the lock tests leaves nothing (left:$left)"; fi

# 5. down of a lab that never existed makes nothing (no lock file either)
"$K" -q down --lab "${LAB}x" >/dev/null 2>"$T/err"; st=$?
if [ "$st" = 0 ] && [ ! -e "$KVMLAB_STATE_DIR/sandbox/.${LAB}x.lock" ] && [ ! -e "$KVMLAB_STATE_DIR/sandbox/${LAB}x" ]; then
  ok "down --lab of an unknown lab leaves no lock file"
else
  notok "down --lab of an unknown lab leaves no lock file (exit $st)" "$T/err"
fi

echo "1..$n"
[ "$bad" = 0 ]
