#!/bin/sh
# The README's main job through the real binary: plan, up, up again, status, down, in a sandbox
# (a private libvirtd in the lab's own namespaces). Root only. TAP output.
#   cli-lab.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
T=$(mktemp -d)
LAB=cli$(($$ % 100000))
NS=$KVMLAB_NETNS_PREFIX$LAB
cleanup() {
  "$K" -q down "$T/lab.yaml" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8: {type: nat, subnet: 192.168.208.0/24}
  vmnet1: {type: hostonly}
EOL
n=0; bad=0
. "${KVMLAB_SOURCE_ROOT:?}/tests/lib/tap.sh"
no_ns() { ! ip netns list | awk '{print $1}' | grep -qx "$NS"; }

echo "TAP version 13"
check "plan before up" 0 "$K" plan "$T/lab.yaml"
grep_out "plan lists the NAT network" out "+   network  $LAB-vmnet8 .*create"
grep_out "plan says which subnet it picked" out "vmnet1.*picked"
check "plan starts no sandbox" 0 no_ns
check "up" 0 "$K" up "$T/lab.yaml"
grep_out "up started the sandbox" out "sandbox for lab '$LAB': started"
grep_out "up is done" out "Lab '$LAB' is up."
check "the sandbox namespace exists" 0 ip netns exec "$NS" true
# a second lab on the same machine never picks the first lab's subnet
cat > "$T/lab2.yaml" <<EOL
lab: ${LAB}b
connect: sandbox
networks:
  vmnet1: {type: hostonly}
EOL
check "plan of a second lab" 0 "$K" plan "$T/lab2.yaml"
sub1=$("$K" --json status "$T/lab.yaml" | grep -o '"key":"vmnet1"[^}]*"subnet":"[^"]*"' | sed 's/.*"subnet":"//; s/"//')
n=$((n + 1))
if [ -n "$sub1" ] && ! grep -qF "$sub1" "$T/out"; then echo "ok $n - the second lab picks another subnet than $sub1"; else
  bad=$((bad + 1)); echo "not ok $n - second lab's plan reuses '$sub1'"; sed 's/^/# /' "$T/out"; fi
check "second up" 0 "$K" up "$T/lab.yaml"
grep_out "second up changes nothing" out "is up to date: nothing changed"
check "plan after up" 0 "$K" --json plan "$T/lab.yaml"
grep_out "plan --json has no changes" out '"changes":0'
check "status" 0 "$K" status "$T/lab.yaml"
grep_out "status shows the NAT gateway" out "$LAB-vmnet8 .*nat .*192.168.208.0/24 .*192.168.208.1 .*192.168.208.2 .*192.168.208.128-192.168.208.254 .*yes"
# host-only: a host address N.1 and no gateway ("-" in the GATEWAY column, the header's 6th)
n=$((n + 1))
if awk -v net="$LAB-vmnet1" '$1 == "NETWORK" && $6 == "GATEWAY" { h = 1 }
    h && $1 == net && $2 == "hostonly" && $5 ~ /^[0-9.]+\.1$/ && $6 == "-" { ok = 1 }
    END { exit !ok }' "$T/out"; then echo "ok $n - status shows host-only without a gateway"; else
  bad=$((bad + 1)); echo "not ok $n - status shows a gateway for host-only, or no host-only row"
  sed 's/^/# /' "$T/out"; fi
check "status --json" 0 "$K" --json status "$T/lab.yaml"
grep_out "status --json lists vmnet8 active" out "\"name\":\"$LAB-vmnet8\".*\"active\":true"
grep_out "status --json gives vmnet8 its gateway" out '"key":"vmnet8"[^}]*"gateway":"192.168.208.2"'
grep_out "status --json gives host-only no gateway" out '"key":"vmnet1"[^}]*"gateway":null'
check "down" 0 "$K" down "$T/lab.yaml"
grep_out "down deleted the networks" out "deleted network '$LAB-vmnet8'"
grep_out "down removed the sandbox" out "removed the sandbox of lab '$LAB'"
check "no namespace left" 0 no_ns
check "no state left" 1 test -e "$KVMLAB_STATE_DIR/sandbox/$LAB"
check "down again is fine" 0 "$K" down "$T/lab.yaml"
check "up for down --lab" 0 "$K" up "$T/lab.yaml"
rm "$T/lab.yaml"
check "down --lab without the file" 0 "$K" down --lab "$LAB"
grep_out "down --lab deleted the networks" out "deleted network '$LAB-vmnet8'"
check "no namespace left after down --lab" 0 no_ns
check "down --lab with a bad name" 2 "$K" down --lab "Bad_Name"
cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8: {type: nat, subnet: 192.168.208.0/24}
EOL
check "status when down" 0 "$K" status "$T/lab.yaml"
grep_out "status says not up" out "is not up"
echo "1..$n"
[ "$bad" = 0 ]
