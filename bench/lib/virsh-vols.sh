#!/bin/sh
# The virsh side of the storage benchmarks: make or remove, with plain virsh, the same pool and
# volumes that kvmlab made for a lab, on the same daemon.
#   virsh-vols.sh per-command|batch up|vols|clean|clean-vols URI POOL DIR
# DIR holds pool.xml (kvmlab's pool definition, renamed POOL, its own directory) and volumes.txt,
# one volume a line: "NAME CAPACITY-BYTES BACKING-PATH" (BACKING-PATH "-" for none), the volumes
# kvmlab made, read back from the daemon.
#   up:    pool-define, pool-build (makes the directory), pool-start, pool-autostart, then one
#          vol-create-as per volume (qcow2, allocation 0, the backing file as a qcow2 backing
#          volume), as kvmlab's volume XML has them.
#   vols:  only the volumes, in the running pool.
#   clean: delete the volumes and the pool, ignoring what is not there (one virsh batch).
#   clean-vols: delete every volume of the running pool, keep the pool.
#   per-command: one virsh process per step, as a shell script does it.
#   batch:       all steps in one virsh process (one connection): the fastest virsh can be.
set -eu
mode=$1 action=$2 uri=$3 pool=$4 dir=$5

run_steps() { # run_steps STEP...: each STEP one virsh command line (words, no quoting needed)
  if [ "$mode" = batch ]; then
    cmds=""
    for s; do cmds="$cmds $s;"; done
    virsh -q -c "$uri" "$cmds" >/dev/null
  else
    for s; do
      # shellcheck disable=SC2086 # a step is split into its words on purpose
      virsh -q -c "$uri" $s >/dev/null
    done
  fi
}

vol_steps() {
  while read -r name cap backing; do
    if [ "$backing" = - ]; then
      set -- "$@" "vol-create-as $pool $name $cap --allocation 0 --format qcow2"
    else
      set -- "$@" "vol-create-as $pool $name $cap --allocation 0 --format qcow2 --backing-vol $backing --backing-vol-format qcow2"
    fi
  done <"$dir/volumes.txt"
  if [ $# -gt 0 ]; then run_steps "$@"; fi
}

case $action in
up)
  run_steps "pool-define $dir/pool.xml" "pool-build $pool" "pool-start $pool" "pool-autostart $pool"
  vol_steps
  ;;
vols)
  vol_steps
  ;;
clean)
  all=$(virsh -q -c "$uri" pool-list --all --name | awk '{print $1}')
  echo "$all" | grep -qx "$pool" || exit 0
  active=$(virsh -q -c "$uri" pool-list --name | awk '{print $1}')
  set --
  if echo "$active" | grep -qx "$pool"; then
    for v in $(virsh -q -c "$uri" vol-list "$pool" | awk '{print $1}'); do
      set -- "$@" "vol-delete --pool $pool $v"
    done
    set -- "$@" "pool-destroy $pool"
  fi
  # the pool's directory goes with it (pool-delete) so the next 'up' builds it again
  set -- "$@" "pool-delete $pool" "pool-undefine $pool"
  mode="batch"
  run_steps "$@"
  ;;
clean-vols)
  set --
  for v in $(virsh -q -c "$uri" vol-list "$pool" | awk '{print $1}'); do
    set -- "$@" "vol-delete --pool $pool $v"
  done
  mode="batch"
  if [ $# -gt 0 ]; then run_steps "$@"; fi
  ;;
*) echo "usage: $0 per-command|batch up|vols|clean|clean-vols URI POOL DIR" >&2; exit 2 ;;
esac
