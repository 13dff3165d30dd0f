#!/bin/sh
# Acceptance: a real two-node lab from the debian-12 image kvmlab builds, in a sandbox, under
# TCG. `up` is killed (SIGKILL) while its nodes boot and run again: it converges. Then, from
# inside the guests through `kvmlab ssh`: no swap, ip_forward=1, overlay and br_netfilter
# loaded, containerd active with the systemd cgroup driver; from `status --json`: distinct
# hostnames, MACs and product_uuids, every preflight check green. A second `up` changes
# nothing; `down` leaves no domain, volume, network, namespace or process. Then accel auto on a
# host where kvm accepts a guest but never runs it (a second binary, tests/lib/fault-kvm.c):
# the node is restarted under tcg with the warning and becomes ready; its packages come from a
# repository it cannot reach (install_packages auto): up still succeeds and says so per node.
# Root only. TAP output.
#   nodes.sh KVMLAB_BINARY KVMLAB_NOKVM_BINARY
set -u
K=$(realpath "$1")
KN=$(realpath "$2")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
# the image store is shared with the other acceptance tests of this build: one image per run
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
LAB=acc$(($$ % 100000))
LAB2=akv$(($$ % 100000))
UPPID=""
cleanup() {
  [ -n "$UPPID" ] && kill -9 "$UPPID" 2>/dev/null
  "$K" -q down --lab "$LAB" >/dev/null 2>&1
  "$K" -q down --lab "$LAB2" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; }
is() { # DESC GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else notok "$1 (got '$2', wanted '$3')"; fi
}
# `kvmlab ssh NODE -- CMD...` output, trimmed
on() { node=$1; shift; "$K" ssh -f "$T/lab.yaml" "$node" -- "$@" 2>"$T/ssh.err" | tr -d '\r'; }
# one value of status --json, with python3 (a JSON parser independent of kvmlab)
js() { python3 -c "import json,sys; d=json.load(open('$T/status.json')); print($1)"; }

echo "TAP version 13"
t0=$(date +%s)
check "the debian-12 image is built (or already in the store)" 0 "$K" image build debian-12
echo "# image ready after $(( $(date +%s) - t0 )) s"

cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
accel: tcg
networks:
  vmnet8: {type: nat}
  vmnet1: {type: hostonly}
images:
  debian12: {build: debian-12}
nodes:
  - {name: cp, role: control-plane, image: debian12, cpus: 2, memory: 2048, networks: [vmnet8, vmnet1]}
  - {name: worker, role: worker, image: debian12, cpus: 1, memory: 1536, networks: [vmnet8, vmnet1]}
kubernetes: {version: "1.31", install_packages: false}
EOL

# --- killed while the nodes boot, then run again: converges ---------------------------------
t0=$(date +%s)
"$K" up -f "$T/lab.yaml" >"$T/up1.out" 2>&1 &
UPPID=$!
i=0
while [ $i -lt 600 ] && ! grep -q "Waiting for the nodes" "$T/up1.out"; do sleep 0.5; i=$((i + 1)); done
sleep 3
kill -9 "$UPPID" 2>/dev/null
wait "$UPPID" 2>/dev/null
UPPID=""
grep_out "the first up made the nodes and was waiting for them when it was killed" up1.out "Waiting for the nodes"
check "up again after the kill converges: every node ready" 0 "$K" up -f "$T/lab.yaml" --timeout 900
grep_out "up says the lab is up" out "is up"
no_grep_out "the second run made no node again (they were made, not half-made)" out "create node"
echo "# boot to ready: $(( $(date +%s) - t0 )) s"

# --- from inside the guests --------------------------------------------------------------------
for node in cp worker; do
  is "$node: no active swap" "$(on $node sh -c 'tail -n +2 /proc/swaps | wc -l')" 0
  is "$node: no swap in fstab" "$(on $node sh -c 'grep -c "[[:space:]]swap[[:space:]]" /etc/fstab || true')" 0
  is "$node: ip_forward is 1" "$(on $node cat /proc/sys/net/ipv4/ip_forward)" 1
  is "$node: bridge-nf-call-iptables is 1" "$(on $node cat /proc/sys/net/bridge/bridge-nf-call-iptables)" 1
  is "$node: overlay is loaded" "$(on $node sh -c 'test -d /sys/module/overlay && echo yes')" yes
  is "$node: br_netfilter is loaded" "$(on $node sh -c 'test -d /sys/module/br_netfilter && echo yes')" yes
  is "$node: containerd is active" "$(on $node systemctl is-active containerd)" active
  is "$node: containerd uses the systemd cgroup driver" \
    "$(on $node sh -c 'sudo containerd config dump | grep -c "SystemdCgroup = true"')" 1
  is "$node: its hostname is its name" "$(on $node hostname)" "$node"
  is "$node: the user is kvmlab with passwordless sudo" "$(on $node sudo -n id -un)" root
  is "$node: /etc/hosts names every node" "$(on $node sh -c 'getent hosts cp worker | wc -l')" 2
done
check "ssh exits with the command's status" 3 "$K" ssh -f "$T/lab.yaml" cp -- sh -c 'exit 3'
is "ssh passes the command's words as given" "$(on cp printf '%s|' 'a b' "it's")" "a b|it's|"

# --- status --json: what kvmlab compares across nodes ----------------------------------------
"$K" status --json -f "$T/lab.yaml" >"$T/status.json" 2>"$T/err"
is "status --json parses" "$(js "len(d['nodes'])")" 2
is "both nodes run" "$(js "','.join(x['state'] for x in d['nodes'])")" "running,running"
is "cloud-init is done on both" "$(js "','.join(x['cloud_init'] for x in d['nodes'])")" "done,done"
is "hostnames are distinct" "$(js "len(set(x['hostname'] for x in d['nodes']))")" 2
is "MACs are distinct" "$(js "len(set(m for x in d['nodes'] for m in x['macs']))")" 4
is "product_uuids are distinct" "$(js "len(set(x['product_uuid'] for x in d['nodes']))")" 2
is "every preflight check passed" "$(js "[c['check'] for x in d['nodes'] for c in x['preflight'] if not c['ok']]")" "[]"
is "the control plane ran the kubeadm checks" \
  "$(js "sorted(c['check'] for c in d['nodes'][0]['preflight'])")" \
  "['bridge_nf', 'containerd', 'cpus', 'hostname', 'ip_forward', 'memory', 'modules', 'packages', 'ports', 'swap']"
is "packages were skipped as asked" \
  "$(js "[c['detail'] for c in d['nodes'][0]['preflight'] if c['check']=='packages'][0].split()[0]")" skipped
is "the guest's product_uuid is the domain's SMBIOS uuid" \
  "$(js "d['nodes'][0]['product_uuid']")" \
  "$(virsh -c "qemu+unix:///system?socket=$KVMLAB_STATE_DIR/sandbox/$LAB/sock/libvirt-sock" domuuid "$LAB-cp" | head -1)"

check "a second up changes nothing" 0 "$K" up -f "$T/lab.yaml"
grep_out "it says so" out "nothing changed"
SEED=$(ls $KVMLAB_STATE_DIR/labs/$LAB/nodes/cp/seed-*.iso)
is "one seed per node, named after its content, 0600" "$(stat -c %a $SEED)" 600
is "the node's directory lets the daemon's QEMU user through, nobody list it" \
  "$(stat -c %a "$KVMLAB_STATE_DIR/labs/$LAB/nodes/cp")" 711
is "the lab's secrets are 0700" "$(stat -c %a "$KVMLAB_STATE_DIR/labs/$LAB/secrets")" 700

# --- down leaves nothing -----------------------------------------------------------------------
NS=${KVMLAB_NETNS_PREFIX}$LAB
check "down" 0 "$K" down -f "$T/lab.yaml"
is "no namespace is left" "$(ip netns list | awk '{print $1}' | grep -cx "$NS")" 0
is "no QEMU of the lab is left" "$(pgrep -f "guest=$LAB-" | wc -l)" 0
is "no state of the lab is left" "$(ls -A "$KVMLAB_STATE_DIR/labs/$LAB" 2>/dev/null | wc -l)" 0
is "the image stays in the store" "$("$K" image list | grep -c '^debian-12-')" 1

# --- accel auto where kvm never runs the guest -------------------------------------------------
cat > "$T/lab2.yaml" <<EOL
lab: $LAB2
connect: sandbox
networks:
  vmnet8: {type: nat}
images:
  debian12: {build: debian-12}
nodes:
  - {name: vm, role: worker, image: debian12, cpus: 1, memory: 1536, networks: [vmnet8]}
# packages by default (auto) from a repository no guest can reach: said, not fatal
kubernetes: {version: "1.31", repository: "http://192.0.2.1/k8s/", repository_key: none}
EOL
# the host has not seen a silent kvm yet (a rerun of this test on one build directory)
rm -f "$KVMLAB_STATE_DIR"/cache/kvm-silent-*
t0=$(date +%s)
check "accel auto: up becomes ready though kvm never ran the guest" 0 "$KN" up -f "$T/lab2.yaml" --timeout 900
t1=$(date +%s)
grep_out "the plan said kvm" out "q35, kvm"
grep_out "the node was restarted under tcg" out "restarted under tcg"
grep_out "with a warning that says why" err "kvm never ran the guest"
echo "# accel auto with a silent kvm: up to ready in $((t1 - t0)) s (the fallback waits 20 s)"
grep_out "up's summary says the packages were not installed, per node" err "node 'vm': .*packages: skipped"
"$K" status --json -f "$T/lab2.yaml" >"$T/status.json" 2>"$T/err"
is "status shows the packages check as a warning" \
  "$(js "[(c['ok'], c['warn']) for c in d['nodes'][0]['preflight'] if c['check']=='packages']")" \
  "[(True, True)]"
is "and why" "$(js "[c['detail'] for c in d['nodes'][0]['preflight'] if c['check']=='packages'][0].startswith('skipped:')")" True
check "the fallback is remembered: a second up changes nothing" 0 "$KN" up -f "$T/lab2.yaml"
grep_out "it says so" out "nothing changed"
check "down" 0 "$KN" down -f "$T/lab2.yaml"
check "the host remembers that kvm does not run guests here" 0 sh -c "ls '$KVMLAB_STATE_DIR'/cache/kvm-silent-*"
check "plan of the same lab again" 0 "$KN" plan -f "$T/lab2.yaml"
grep_out "  ... starts it under tcg at once" out "q35, tcg, worker"

# --- accel kvm insists: the same silent kvm is an error with the reason --------------------
sed -e 's/^connect: sandbox$/connect: sandbox\naccel: kvm/' "$T/lab2.yaml" > "$T/lab3.yaml"
check "accel kvm: up fails when kvm never runs the guest" 1 "$KN" up -f "$T/lab3.yaml" --timeout 120
grep_out "  ... saying why and what would work" err "kvm never ran the guest.*accel: kvm insists"
grep_out "  ... naming the node" err "Node 'vm' failed"
check "down" 0 "$KN" down -f "$T/lab3.yaml"

echo "1..$n"
[ "$bad" = 0 ]
