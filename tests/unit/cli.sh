#!/bin/sh
# The command line without a host: help, version, validate and exit codes. TAP output.
#   cli.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
ROOT=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
n=0; bad=0
. "$ROOT/tests/lib/tap.sh"
echo "TAP version 13"
check "--version" 0 "$K" --version;                    grep_out "version printed" out "^kvmlab [0-9]"
check "--help" 0 "$K" --help;                          grep_out "help lists up" out "up .*Make the lab real"
check "help validate" 0 "$K" help validate;            grep_out "command help" out "FILE:LINE:COL"
check "no command" 2 "$K"
check "unknown command" 2 "$K" frobnicate;             grep_out "unknown command named" err "unknown command 'frobnicate'"
check "unknown option" 2 "$K" --frob;                  grep_out "unknown option named" err "unknown option '--frob'"
check "unknown subcommand option" 2 "$K" validate --frob x.yaml
check "help for unknown command" 2 "$K" help frobnicate
check "validate the README example" 0 "$K" validate "$ROOT/examples/kvmlab.yaml"
grep_out "example summary" out "lab 'cka' is valid: 4 networks, 1 image, 4 nodes"
check "validate the networks example" 0 "$K" validate "$ROOT/examples/networks.yaml"
check "README example is examples/kvmlab.yaml" 0 sh -c \
  "sed -n '/^lab: cka/,/^pool:/p' '$ROOT/README.md' | diff - '$ROOT/examples/kvmlab.yaml'"
check "invalid file exits 2" 2 "$K" validate "$ROOT/tests/data/lab-parse/many-problems.yaml"
grep_out "located diagnostics" err "many-problems.yaml:3:1: unknown key 'netwroks' in the lab; did you mean 'networks'?"
grep_out "count of problems" err "has 17 problems"
check "missing file exits 1" 1 "$K" validate "$T/nope.yaml"
grep_out "missing file named" err "nope.yaml"
check "init writes a starter" 0 "$K" init "$T/lab.yaml"
check "the starter is valid" 0 "$K" validate "$T/lab.yaml"
check "init never overwrites" 1 "$K" init "$T/lab.yaml"
check "an option after the file" 2 "$K" validate "$ROOT/examples/networks.yaml" --frob
grep_out "unknown option named after the file" err "unknown option '--frob'"
check "--state-dir without a value" 2 "$K" validate "$ROOT/examples/networks.yaml" --state-dir
check "down --lab with a quote" 2 "$K" down --lab "a'b"
check "down --lab needs a value" 2 "$K" down --lab
check "--json after the command" 0 "$K" validate --json "$ROOT/examples/networks.yaml"
check "plan of an invalid file exits 2" 2 "$K" plan "$ROOT/tests/data/lab-parse/many-problems.yaml"
check "default file kvmlab.yaml" 1 sh -c "cd '$T' && '$K' validate"
grep_out "default file named" err "kvmlab.yaml"

# storage on libvirt's test driver (which has a pool of its own, 'default-pool'): plan works
export KVMLAB_STATE_DIR="$T/state"
qemu-img create -q -f qcow2 "$T/base.qcow2" 64M
printf 'lab: tdrv\nconnect: "test:///default"\nimages: {b: {path: base.qcow2, os: debian12}}\nnodes: [{name: n, image: b, disks: [{size: 1G}, {size: 1500000}]}]\n' > "$T/tdrv.yaml"
check "plan on test:///default with a node" 0 "$K" plan "$T/tdrv.yaml"
grep_out "plan makes the pool there" out "^+ *pool *tdrv-pool "
grep_out "the odd size is planned as libvirt makes it (whole KiB)" out "n-1.qcow2 .*data disk, 1.4 MiB"
grep_out "plan names each disk's serial" out "^  n (machine q35): buses chosen at up"
check "plan --json on test:///default" 0 "$K" --json plan "$T/tdrv.yaml"
grep_out "plan --json lists the disks (the test driver has no domain capabilities)" out '"disks":\[{"node":"n","serial":"n-0","machine":"q35","bus":null,"controller":null,"reason":"chosen at up"}'
mkdir -p "$T/state/cache/domcaps"
# (the cache is named after this machine's QEMU binary: its time and size, in hex)
QKEY=$(printf 'local-%x-%x' $(stat -c '%Y %s' /usr/bin/qemu-system-x86_64))
cp "$ROOT/tests/data/domcaps/qemu-q35.xml" "$T/state/cache/domcaps/$QKEY-q35.xml"
check "plan --json with the hypervisor's answer cached" 0 "$K" --json plan "$T/tdrv.yaml"
no_grep_out "  ... the buses come from the cache (test:/// is a local daemon)" out '"bus":null'
grep_out "  ... debian12 on virtio" out '"serial":"n-0","machine":"q35","bus":"virtio","controller":null'

# nodes on libvirt's test driver: defined (start: false) without waiting; a started node that
# never reports is named at the timeout with what it waited for, and the nodes stay made
printf 'lab: tdrv\nconnect: "test:///default"\nimages: {b: {path: base.qcow2, os: debian12}}\nnodes: [{name: n, image: b, start: false}]\n' > "$T/tstop.yaml"
check "up of a node with start: false" 0 "$K" up "$T/tstop.yaml"
grep_out "  ... defines its domain" out "create node 'tdrv-n': done"
no_grep_out "  ... and does not wait for it" out "Waiting for the nodes"
printf 'lab: tdrv\nconnect: "test:///default"\nimages: {b: {path: base.qcow2, os: debian12}}\nnodes: [{name: n, image: b}]\n' > "$T/tstart.yaml"
check "up of a node that never reports, --timeout 2" 1 "$K" up --timeout 2 "$T/tstart.yaml"
grep_out "  ... names the node and what it waited for" err "Node 'n' was not ready in time: booting"
grep_out "  ... and where its console is" err "nodes/n/console.log"
check "up --start-only makes it without waiting" 0 "$K" up --start-only "$T/tstart.yaml"
no_grep_out "  ... no wait" out "Waiting for the nodes"
check "up --timeout needs seconds" 2 "$K" up --timeout soon "$T/tstart.yaml"
check "ssh needs a node" 2 "$K" ssh
check "ssh of an unknown node names the lab's nodes" 2 "$K" ssh -f "$T/tstart.yaml" nope
grep_out "  ... listing them" err "lab 'tdrv' has no node 'nope'; its nodes: n"
check "console without a terminal says where the log is" 1 "$K" console -f "$T/tstart.yaml" n </dev/null
grep_out "  ... it needs a terminal" err "'console' needs a terminal"
check "ssh to a node that does not run (test:/// forgets between runs)" 1 "$K" ssh -f "$T/tstart.yaml" n -- true
grep_out "  ... says so" err "node 'n' does not run"
check "two lab files (-f and an argument) are refused" 2 "$K" -f "$T/tstart.yaml" validate "$T/tstop.yaml"

printf 'lab: tdrv\nconnect: "test:///default"\nimages: {b: {path: missing.qcow2}}\nnodes: [{name: n, image: b}]\n' > "$T/missing.yaml"
check "a path image that cannot be read is refused at plan" 1 "$K" plan "$T/missing.yaml"
grep_out "  ... at its line" err "missing.yaml:3:10: image 'b': cannot read '.*missing.qcow2'"
# the facts of an os: id are kept after the first look (osinfo-db takes 0.4 s to load)
check "validate with an os: id" 0 "$K" validate "$T/tdrv.yaml"
check "  ... keeps its facts in the cache" 0 sh -c "ls '$T'/state/cache/osinfo/f*-*/debian12"
check "  ... the cached facts read" 0 sh -c "grep -q '^osinfo_id=debian11' '$T'/state/cache/osinfo/f*-*/debian12 && grep -q '^virtio_blk=1' '$T'/state/cache/osinfo/f*-*/debian12"
check "  ... and a cached answer gives the same plan" 0 "$K" --json plan "$T/tdrv.yaml"
grep_out "  ... virtio for debian12 again" out '"serial":"n-0","machine":"q35","bus":"virtio","controller":null'
for f in "$T"/state/cache/osinfo/f*-*/debian12; do sed -i 's/^virtio_blk=1$/virtio_blk=maybe/' "$f"; done
check "  ... a damaged cache file is a miss" 0 "$K" --json plan "$T/tdrv.yaml"
grep_out "  ... (virtio still, from osinfo-db itself)" out '"serial":"n-0","machine":"q35","bus":"virtio","controller":null'
printf 'lab: tdrv\npool: ~/vms\n' > "$T/tilde.yaml"
check "pool: ~ is refused" 2 "$K" validate "$T/tilde.yaml"
grep_out "  ... saying why" err "tilde.yaml:2:7: pool '~/vms' starts with '~'"
printf 'lab: tdrv\nimages: {b: {path: b.qcow2, os: debain12}}\nnodes: [{name: n, image: b}]\n' > "$T/os.yaml"
check "an unknown os is refused by validate" 2 "$K" validate "$T/os.yaml"
grep_out "  ... at its line with a did-you-mean" err "os.yaml:2:33: .*debain12.*did you mean 'debian12'"
echo "1..$n"
[ "$bad" = 0 ]
