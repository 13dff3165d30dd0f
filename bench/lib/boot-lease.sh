#!/bin/sh
# One boot of the e2e test guest (tests/guest) to its DHCP lease, for bench/bridge.sh.
#   boot-lease.sh start URI DOMAIN CONSOLE TIMEOUT LOG
#     `virsh start DOMAIN`, then poll CONSOLE every 0.05 s until it holds the guest's
#     `KVMLAB-E2E: LEASE` line; append one line to LOG:
#       DOMAIN start=S lease=S uptime=S modules=S
#     (start: seconds `virsh start` took; lease: seconds from before `virsh start` to the LEASE
#     line seen; uptime: the guest's own uptime on the LEASE line; modules: its uptime on the
#     MODULES line, just before udhcpc runs). Exit 1 after TIMEOUT seconds without a lease.
#   boot-lease.sh stop URI DOMAIN CONSOLE
#     destroy DOMAIN if it runs and remove CONSOLE (libvirt opens it again on start).
set -eu
what=$1 uri=$2 dom=$3 console=$4
now() { date +%s.%N; }
CR=$(printf '\r') # the serial console ends its lines with CR LF: a line without it is still being written
case $what in
stop)
  if [ "$(virsh -q -c "$uri" domstate "$dom" 2>/dev/null)" = running ]; then
    virsh -q -c "$uri" destroy "$dom" >/dev/null
  fi
  rm -f "$console"
  ;;
start)
  timeout=$5 log=$6
  t0=$(now)
  virsh -q -c "$uri" start "$dom" >/dev/null
  t1=$(now)
  end=$(($(date +%s) + timeout))
  while :; do
    line=$(grep -a -m1 "KVMLAB-E2E: LEASE .* uptime=[0-9.]*$CR" "$console" 2>/dev/null || true)
    [ -n "$line" ] && break
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "boot-lease.sh: no LEASE line from '$dom' in ${timeout} s; its console:" >&2
      grep -a 'KVMLAB-E2E: ' "$console" >&2 || true
      exit 1
    fi
    sleep 0.05
  done
  t2=$(now)
  up=$(echo "$line" | sed -n 's/.* uptime=\([0-9.]*\).*/\1/p')
  [ -n "$up" ] || { echo "boot-lease.sh: no uptime in '$line'" >&2; exit 1; }
  mod=$(grep -a -m1 'KVMLAB-E2E: MODULES ' "$console" | sed -n 's/.* uptime=\([0-9.]*\).*/\1/p')
  awk -v d="$dom" -v a="$t0" -v b="$t1" -v c="$t2" -v u="$up" -v m="$mod" \
    'BEGIN { printf "%s start=%.3f lease=%.3f uptime=%s modules=%s\n", d, b - a, c - a, u, m }' >>"$log"
  ;;
*) echo "boot-lease.sh: unknown step '$what'" >&2; exit 2 ;;
esac
