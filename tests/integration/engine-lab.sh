#!/bin/sh
# The engine on a real sandbox, through the binary: a network inserted above a subnet-less one
# never takes its subnet; a DHCP range edited by hand with virsh is seen as drift and put back;
# a subnet change recreates the network and its NAT rules; kvmlab's NAT table text passes
# `nft -c`; a lab on a private libvirt URI (where kvmlab cannot write its table) gets libvirt's
# own NAT and refuses port forwards. Root only. TAP output.
#   engine-lab.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
LAB=eng$(($$ % 100000))
NS=$KVMLAB_NETNS_PREFIX$LAB
cleanup() {
  "$K" -q down "$T/uri.yaml" >/dev/null 2>&1
  "$K" -q down --lab "$LAB" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
# the subnet of network KEY as status --json shows it
subnet_of() { "$K" --json status "$T/lab.yaml" | tr '{' '\n' | grep "\"key\":\"$1\"" |
  sed -n 's/.*"subnet":"\([^"]*\)".*/\1/p'; }
dhcp_of() { "$K" --json status "$T/lab.yaml" | tr '{' '\n' | grep "\"key\":\"$1\"" |
  sed -n 's/.*"dhcp":"\([^"]*\)".*/\1/p'; }

echo "TAP version 13"

# --- a network inserted above a subnet-less one that is up
cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet1: {type: hostonly}
EOL
check "up with one subnet-less network" 0 "$K" up "$T/lab.yaml"
s1=$(subnet_of vmnet1)
cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet2: {type: hostonly}
  vmnet1: {type: hostonly}
EOL
check "plan with vmnet2 inserted above" 0 "$K" plan "$T/lab.yaml"
grep_out "vmnet1 stays as it is" out "=   network  $LAB-vmnet1 .*unchanged"
check "up with vmnet2 inserted above" 0 "$K" up "$T/lab.yaml"
s1b=$(subnet_of vmnet1); s2=$(subnet_of vmnet2)
check "vmnet1 keeps its subnet $s1" 0 test -n "$s1" -a "$s1" = "$s1b"
check "vmnet2 gets another subnet ($s2)" 0 test -n "$s2" -a "$s2" != "$s1"

# --- a DHCP range edited by hand (metadata kept): drift, shown and put back
URI="qemu+unix:///system?socket=$("$K" --json status "$T/lab.yaml" | sed -n 's/.*"uri":"qemu+unix:\/\/\/system?socket=\([^"]*\)".*/\1/p')"
net=${s1%.0/24}
check "virsh deletes the range" 0 virsh -c "$URI" net-update "$LAB-vmnet1" delete ip-dhcp-range \
  "<range start='$net.128' end='$net.254'/>" --live --config
check "virsh adds another range" 0 virsh -c "$URI" net-update "$LAB-vmnet1" add ip-dhcp-range \
  "<range start='$net.200' end='$net.254'/>" --live --config
check "status shows the hand-made range" 0 test "$(dhcp_of vmnet1)" = "$net.200-$net.254"
check "plan after the hand edit" 0 "$K" plan "$T/lab.yaml"
grep_out "plan shows the repair as drift naming the field" out "$LAB-vmnet1 .*drift: dhcp"
grep_out "plan counts the repair as a change" out "1 change for lab"
check "plan --json after the hand edit" 0 "$K" --json plan "$T/lab.yaml"
grep_out "plan --json carries drift" out "\"drift\":true"
check "up repairs it" 0 "$K" up "$T/lab.yaml"
check "status shows VMware's range again" 0 test "$(dhcp_of vmnet1)" = "$net.128-$net.254"
check "plan after the repair" 0 "$K" --json plan "$T/lab.yaml"
grep_out "nothing left to change" out '"changes":0'

# --- a subnet change recreates the network and its NAT rules
cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8: {type: nat, subnet: 192.168.208.0/24}
EOL
check "up with a NAT network" 0 "$K" up "$T/lab.yaml"
sed -i 's|192.168.208.0/24|192.168.209.0/24|' "$T/lab.yaml"
check "plan with another subnet" 0 "$K" plan "$T/lab.yaml"
grep_out "plan recreates the network for its subnet" out "-/+ network  $LAB-vmnet8 .*recreate .*subnet"
check "up with another subnet" 0 "$K" up "$T/lab.yaml"
check "status shows the new subnet" 0 test "$(subnet_of vmnet8)" = "192.168.209.0/24"
check "the NAT table masquerades the new subnet" 0 ip netns exec "$NS" nft list table ip "kvmlab-$LAB"
grep_out "masquerade for 192.168.209.0/24" out "ip saddr 192.168.209.0/24"
no_grep_out "no masquerade for the old subnet" out "192.168.208.0/24"

# --- kvmlab's NAT table text is what nft accepts (its goldens, checked by nft itself)
for f in "$SRC"/tests/data/nft/*.out; do
  check "nft -c accepts $(basename "$f")" 0 ip netns exec "$NS" nft -c -f "$f"
done

# --- a lab on a private URI: libvirt's own NAT, port forwards refused at plan time
cat > "$T/uri.yaml" <<EOL
lab: ${LAB}u
connect: "$URI"
networks:
  vmnet8: {type: nat, subnet: 10.77.0.0/24}
EOL
check "plan on a private URI" 0 "$K" plan "$T/uri.yaml"
grep_out "plan says port forwards from outside are not available" out "port forwards from outside the host are not available"
check "up on a private URI" 0 "$K" up "$T/uri.yaml"
check "virsh sees the network" 0 virsh -c "$URI" net-dumpxml "${LAB}u-vmnet8"
grep_out "it is libvirt's own NAT" out "<forward mode='nat'"
check "it runs" 0 sh -c "virsh -c '$URI' net-info '${LAB}u-vmnet8' | grep -q 'Active: *yes'"
check "a second up changes nothing" 0 "$K" --json plan "$T/uri.yaml"
grep_out "converged on the private URI" out '"changes":0'
cat > "$T/fwd.yaml" <<EOL
lab: ${LAB}u
connect: "$URI"
networks:
  vmnet8:
    type: nat
    subnet: 10.77.0.0/24
    port_forwards: [{host_port: 2222, node: cp, port: 22}]
images: {base: {build: debian-12}}
nodes: [{name: cp, image: base, networks: [vmnet8]}]
EOL
check "port forwards on a private URI are refused" 1 "$K" plan "$T/fwd.yaml"
grep_out "the refusal names the URI" err "'$URI'"
check "down on the private URI" 0 "$K" down "$T/uri.yaml"
check "the network is gone" 1 virsh -c "$URI" net-info "${LAB}u-vmnet8"
check "the sandbox lab is untouched" 0 "$K" --json plan "$T/lab.yaml"
grep_out "the sandbox lab has nothing to change" out '"changes":0'

check "down" 0 "$K" down "$T/lab.yaml"
check "no namespace left" 1 sh -c "ip netns list | awk '{print \$1}' | grep -qx '$NS'"
echo "1..$n"
[ "$bad" = 0 ]
