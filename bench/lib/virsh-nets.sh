#!/bin/sh
# The virsh side of the benchmarks: make or remove, with plain virsh, the same networks (and, when
# DIR/nat.nft exists, the same NAT table) that kvmlab made, on the same daemon.
#   virsh-nets.sh per-command|batch up|down|clean URI NETNS DIR
# DIR holds NAME.xml per network (kvmlab's own definitions, renamed, metadata removed) and
# optionally nat.nft (kvmlab's table, renamed 'kvbv-nat'), loaded in NETNS with nft -f.
#   per-command: one virsh process per step, as a person or a shell script does it:
#                net-define, net-start, net-autostart per network; net-destroy, net-undefine.
#   batch:       all steps in one virsh process (one connection): the fastest virsh can be.
#   clean:       down, ignoring what is not there.
set -eu
mode=$1 action=$2 uri=$3 ns=$4 dir=$5
names=""
for f in "$dir"/*.xml; do names="$names $(basename "$f" .xml)"; done

run_steps() { # run_steps STEP... where STEP is "verb:name"; per-command or batch
  if [ "$mode" = batch ]; then
    cmds=""
    for s; do
      verb=${s%%:*} arg=${s#*:}
      cmds="$cmds $verb $arg;"
    done
    virsh -q -c "$uri" "$cmds" >/dev/null
  else
    for s; do
      virsh -q -c "$uri" "${s%%:*}" "${s#*:}" >/dev/null
    done
  fi
}

case $action in
up)
  set --
  for n in $names; do set -- "$@" "net-define:$dir/$n.xml" "net-start:$n" "net-autostart:$n"; done
  run_steps "$@"
  if [ -f "$dir/nat.nft" ]; then ip netns exec "$ns" nft -f "$dir/nat.nft"; fi
  ;;
down)
  if [ -f "$dir/nat.nft" ]; then ip netns exec "$ns" nft delete table ip kvbv-nat; fi
  set --
  for n in $names; do set -- "$@" "net-destroy:$n" "net-undefine:$n"; done
  run_steps "$@"
  ;;
clean)
  ip netns exec "$ns" nft delete table ip kvbv-nat 2>/dev/null || true
  active=$(virsh -q -c "$uri" net-list --name)
  all=$(virsh -q -c "$uri" net-list --all --name)
  set --
  for n in $names; do
    if echo "$active" | grep -qx "$n"; then set -- "$@" "net-destroy:$n"; fi
    if echo "$all" | grep -qx "$n"; then set -- "$@" "net-undefine:$n"; fi
  done
  mode=batch
  if [ $# -gt 0 ]; then run_steps "$@"; fi
  ;;
*) echo "usage: $0 per-command|batch up|down|clean URI NETNS DIR" >&2; exit 2 ;;
esac
