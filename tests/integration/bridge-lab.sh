#!/bin/sh
# The bridge backend through the binary, in a sandbox (its own network namespace): NAT,
# host-only and isolated networks become kvmlab's own Linux bridges with VMware's addresses, its
# own dnsmasq and the lab's nft table; a client on the bridge gets its reservation with router
# N.2 and DNS from dnsmasq; a second up re-adopts dnsmasq (same PID); dnsmasq killed by hand is
# drift that up starts again; a Docker-like FORWARD policy DROP is reported by plan, drops the
# lab's traffic to a WAN namespace without --allow-firewall and passes with it, and down leaves
# the ruleset as it was; down removes bridge, dnsmasq, table and its files. Root only. TAP.
#   bridge-lab.sh KVMLAB_BINARY
set -u
K=$(realpath "$1")
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
export KVMLAB_STATE_DIR=${KVMLAB_BUILD_ROOT:?}/test-state
export KVMLAB_NETNS_PREFIX=${KVMLAB_NETNS_PREFIX:-kvt-}
SRC=${KVMLAB_SOURCE_ROOT:?}
T=$(mktemp -d)
chmod 755 "$T"
LAB=brl$(($$ % 100000))
NS=$KVMLAB_NETNS_PREFIX$LAB
CL=kbrc-$$   # a client on the lab's NAT bridge
WAN=kbrw-$$  # beyond the sandbox: what NAT reaches
MAC=52:54:00:77:00:50
cleanup() {
  [ -n "${UDHCPC:-}" ] && kill "$UDHCPC" 2>/dev/null
  [ -n "${LISTENER:-}" ] && kill "$LISTENER" 2>/dev/null
  "$K" -q down "$T/lab.yaml" >/dev/null 2>&1
  ip netns del "$CL" 2>/dev/null
  ip netns del "$WAN" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
n=0; bad=0
. "$SRC/tests/lib/tap.sh"
json() { "$K" --json status "$T/lab.yaml"; }
# a process that runs (a zombie waiting for its reaper is gone)
alive() { [ -r /proc/"$1"/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/"$1"/stat; }
# a field of network KEY in status --json
net_field() { json | tr '{' '\n' | grep "\"key\":\"$1\"" | sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
in_ns() { ip netns exec "$NS" "$@"; }

echo "TAP version 13"

cat > "$T/lab.yaml" <<EOL
lab: $LAB
connect: sandbox
networks:
  vmnet8:
    type: nat
    backend: bridge
    subnet: 10.91.8.0/24
    dhcp: {lease: 600}
    reservations: [{mac: "$MAC", ip: 10.91.8.50}]
  vmnet1: {type: hostonly, backend: bridge, subnet: 10.91.1.0/24}
  vmnet2: {type: isolated, backend: bridge}
EOL
check "validate" 0 "$K" validate "$T/lab.yaml"
check "plan" 0 "$K" plan "$T/lab.yaml"
grep_out "plan makes the NAT network as a bridge" out "bridge *$LAB-vmnet8"
check "up" 0 "$K" up "$T/lab.yaml"
BR8=$(net_field vmnet8 bridge); BR1=$(net_field vmnet1 bridge); BR2=$(net_field vmnet2 bridge)
check "status names the bridges ($BR8 $BR1 $BR2)" 0 test -n "$BR8" -a -n "$BR1" -a -n "$BR2"
check "the NAT bridge exists in the sandbox" 0 in_ns ip -4 -o addr show dev "$BR8"
grep_out "it has the host address N.1" out "inet 10.91.8.1/24"
grep_out "it has the NAT gateway N.2" out "inet 10.91.8.2/24"
check "the bridge is a bridge" 0 in_ns ip -d link show dev "$BR8"
grep_out "its kind is bridge" out "bridge forward_delay"
grep_out "it carries the lab's alias" out "alias kvmlab lab=$LAB key=vmnet8"
check "the host-only bridge has N.1 only" 0 in_ns ip -4 -o addr show dev "$BR1"
grep_out "host-only N.1" out "inet 10.91.1.1/24"
no_grep_out "no gateway on host-only" out "inet 10.91.1.2/"
check "the isolated bridge has no address" 0 in_ns ip -4 -o addr show dev "$BR2"
no_grep_out "isolated: no inet" out "inet "
P8=$(net_field vmnet8 dnsmasq_pid)
check "dnsmasq runs for vmnet8 (PID $P8)" 0 alive "$P8"
check "it runs in the sandbox's namespace" 0 test "$(readlink /proc/"$P8"/ns/net)" = "$(in_ns readlink /proc/self/ns/net)"
check "its argv names its own configuration" 0 grep -q "labs/$LAB/net/vmnet8/dnsmasq.conf" /proc/"$P8"/cmdline
check "the host-only network's dnsmasq runs too" 0 alive "$(net_field vmnet1 dnsmasq_pid)"
check "the isolated network has none" 0 test "$(net_field vmnet2 dnsmasq_pid)" = 0
check "the lab's NAT table masquerades vmnet8" 0 in_ns nft list table ip "kvmlab-$LAB"
grep_out "masquerade 10.91.8.0/24" out "ip saddr 10.91.8.0/24"
check "forwarding is on in the sandbox" 0 test "$(in_ns cat /proc/sys/net/ipv4/ip_forward)" = 1

# --- re-adopted: a second up changes nothing and keeps the same dnsmasq
check "second up" 0 "$K" up "$T/lab.yaml"
grep_out "nothing changed" out "up to date"
check "same dnsmasq PID after the second up" 0 test "$(net_field vmnet8 dnsmasq_pid)" = "$P8"

# --- a client on the NAT bridge: its reservation, router N.2, DNS N.2, the lease time
ip netns add "$CL"
ip link add kbrc0 netns "$CL" address "$MAC" type veth peer name kbrp$$ netns "$NS"
in_ns ip link set kbrp$$ master "$BR8" up
ip netns exec "$CL" ip link set lo up
ip netns exec "$CL" ip link set kbrc0 up
cat > "$T/udhcpc.sh" <<'EOS'
#!/bin/sh
[ "$1" = bound ] || exit 0
echo "ip=$ip router=$router dns=$dns lease=$lease" > "$(dirname "$0")/lease.txt"
ip addr add "$ip/$mask" dev "$interface"
ip route add default via "$router"
EOS
chmod +x "$T/udhcpc.sh"
check "the client gets a lease" 0 ip netns exec "$CL" busybox udhcpc -i kbrc0 -n -q -f -t 5 -T 2 -s "$T/udhcpc.sh"
check "lease recorded" 0 cp "$T/lease.txt" "$T/out"
grep_out "its reservation" out "ip=10.91.8.50 "
grep_out "router N.2" out "router=10.91.8.2 "
grep_out "DNS N.2" out "dns=10.91.8.2 "
grep_out "lease 600 s" out "lease=600"
check "status counts the lease" 0 test "$(net_field vmnet8 leases)" = 1

# --- dnsmasq killed by hand: drift, and up starts it again
kill "$P8"; i=0; while alive "$P8" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "plan after dnsmasq was killed" 0 "$K" plan "$T/lab.yaml"
grep_out "plan shows dnsmasq's death as drift" out "$LAB-vmnet8 .*drift: .*dnsmasq"
check "up repairs it" 0 "$K" up "$T/lab.yaml"
P8b=$(net_field vmnet8 dnsmasq_pid)
check "a new dnsmasq runs (PID $P8b)" 0 test "$P8b" != 0 -a "$P8b" != "$P8"
check "and it is alive" 0 alive "$P8b"
check "nothing left to change" 0 "$K" --json plan "$T/lab.yaml"
grep_out "converged" out '"changes":0'

# --- a Docker-like host firewall: FORWARD policy DROP with a DOCKER-USER chain
ip netns add "$WAN"
ip link add kbrw0 netns "$WAN" type veth peer name kbrx$$ netns "$NS"
in_ns ip addr add 10.92.0.1/24 dev kbrx$$
in_ns ip link set kbrx$$ up
ip netns exec "$WAN" ip addr add 10.92.0.2/24 dev kbrw0
ip netns exec "$WAN" ip link set kbrw0 up
ip netns exec "$WAN" ip link set lo up
printf '#!/bin/sh\necho hello-from-wan\n' > "$T/hello.sh"
chmod +x "$T/hello.sh"
ip netns exec "$WAN" busybox nc -ll -p 8080 -e "$T/hello.sh" >/dev/null 2>&1 &
LISTENER=$!
sleep 0.3
reach() { ip netns exec "$CL" busybox timeout 5 busybox nc -w 3 10.92.0.2 8080 </dev/null 2>/dev/null | grep -q hello-from-wan; }
check "without a host firewall the client reaches the WAN through NAT" 0 reach
in_ns iptables -N DOCKER-USER
in_ns iptables -A DOCKER-USER -j RETURN
in_ns iptables -A FORWARD -j DOCKER-USER
in_ns iptables -P FORWARD DROP
in_ns nft -s list ruleset > "$T/ruleset.before"
check "Docker's FORWARD DROP drops the lab's traffic" 1 reach
check "plan with the Docker-like firewall" 0 "$K" plan "$T/lab.yaml"
grep_out "plan names Docker" out "Docker"
grep_out "plan gives the rule for DOCKER-USER" out "DOCKER-USER.*iifname \"$BR8\" accept"
check "up without --allow-firewall" 0 "$K" up "$T/lab.yaml"
check "still dropped" 1 reach
check "up --allow-firewall" 0 "$K" up --allow-firewall "$T/lab.yaml"
check "the lab's rules are in DOCKER-USER" 0 in_ns nft list chain ip filter DOCKER-USER
grep_out "allow rule with the lab's comment" out "kvmlab-allow lab=$LAB"
check "now the client reaches the WAN" 0 reach
check "a second up --allow-firewall changes nothing" 0 "$K" --json plan --allow-firewall "$T/lab.yaml"
grep_out "the allowed lab has converged" out '"changes":0'

check "up without --allow-firewall takes the lab's rules out again" 0 "$K" up "$T/lab.yaml"
in_ns nft -s list ruleset > "$T/ruleset.after"
check "the host's ruleset is byte for byte as before" 0 cmp "$T/ruleset.before" "$T/ruleset.after"
check "dropped again" 1 reach

check "down" 0 "$K" down "$T/lab.yaml"
check "dnsmasq is gone" 1 alive "$P8b"
check "no state of the lab's networks is left" 1 test -e "$KVMLAB_STATE_DIR/labs/$LAB/net"
check "the sandbox's namespace is gone" 1 sh -c "ip netns list | awk '{print \$1}' | grep -qx '$NS'"
echo "1..$n"
[ "$bad" = 0 ]
