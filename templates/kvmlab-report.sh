#!/bin/sh
{{! The in-guest report (templates/README.md, "The report"): installed as
    /usr/local/sbin/kvmlab-report, run by kvmlab-report.service on every boot. Values arrive
    shell-quoted (*_sh). }}
# kvmlab-report: wait for cloud-init, then print this node's state on the serial console
# (lines "KVMLAB-REPORT: ...") and into /run/kvmlab/report. Written by kvmlab.
set -u
NODE={{node_sh}}
ROLE={{role}}
BOOTSTRAP={{#bootstrap}}1{{/bootstrap}}{{^bootstrap}}0{{/bootstrap}}
INSTALL_PACKAGES={{install_packages}}
STATE=/var/lib/kvmlab
OUT=/run/kvmlab/report

mkdir -p /run/kvmlab
# "status: done" after the dots --wait prints while it waits
ci=$(cloud-init status --wait 2>/dev/null | sed -n 's/^status: //p')
tmp=$(mktemp /run/kvmlab/report.XXXXXX) || exit 1

emit() {
    printf 'KVMLAB-REPORT: %s\n' "$1" >>"$tmp"
}

# check NAME OK(1|0|warn) DETAIL
check() {
    emit "check=$1 ok=$2 detail=$3"
}

emit "begin boot=$(cat /proc/sys/kernel/random/boot_id)"
emit "cloud_init=${ci:-unknown}"
emit "hostname=$(hostname)"
emit "product_uuid=$(tr 'A-F' 'a-f' 2>/dev/null </sys/class/dmi/id/product_uuid)"
# NICs backed by a device: not lo, bridges, veths or the CNI's interfaces
for dev in /sys/class/net/*; do
    [ -e "$dev/device" ] || continue
    emit "mac=$(tr 'A-F' 'a-f' <"$dev/address")"
done
for dev in /sys/class/net/*; do
    [ -e "$dev/device" ] || continue
    ip -4 -o addr show dev "${dev##*/}" 2>/dev/null | while read -r _ _ _ cidr _; do
        case $cidr in
        127.*) ;;
        *) emit "address=${cidr%%/*}" ;;
        esac
    done
done

if [ "$(hostname)" = "$NODE" ]; then
    check hostname 1 "$NODE"
else
    check hostname 0 "the hostname is '$(hostname)', not '$NODE'"
fi

if [ "$ROLE" != none ]; then
    active=$(tail -n +2 /proc/swaps | wc -l)
    if grep -Eq '^[^#]*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null; then
        check swap 0 "/etc/fstab lists swap; $active swap areas active"
    elif [ "$active" -ne 0 ]; then
        check swap 0 "$active swap areas active"
    else
        check swap 1 "no swap active or in /etc/fstab"
    fi

    v=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null)
    if [ "$v" = 1 ]; then
        check ip_forward 1 "net.ipv4.ip_forward = 1"
    else
        check ip_forward 0 "net.ipv4.ip_forward = ${v:-missing}"
    fi

    missing=""
    for m in overlay br_netfilter; do
        # a module built into the kernel has no /sys/module entry unless it takes parameters
        [ -d "/sys/module/$m" ] ||
            grep -q "/$m.ko" "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null ||
            missing="$missing $m"
    done
    if [ -z "$missing" ]; then
        check modules 1 "overlay br_netfilter"
    else
        check modules 0 "not loaded:$missing"
    fi

    v=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)
    if [ "$v" = 1 ]; then
        check bridge_nf 1 "net.bridge.bridge-nf-call-iptables = 1"
    else
        check bridge_nf 0 "net.bridge.bridge-nf-call-iptables = ${v:-missing}"
    fi

    if ! systemctl is-active --quiet containerd; then
        check containerd 0 "containerd is $(systemctl is-active containerd)"
    elif [ ! -S /run/containerd/containerd.sock ]; then
        check containerd 0 "no socket /run/containerd/containerd.sock"
    elif ! containerd config dump 2>/dev/null | grep -q '^[[:space:]]*SystemdCgroup = true'; then
        check containerd 0 "runc does not use the systemd cgroup driver (SystemdCgroup)"
    else
        check containerd 1 "active, /run/containerd/containerd.sock, SystemdCgroup = true"
    fi

    # kubeadm's preflight: a control plane needs all four, a worker only kubelet's port
    if [ "$ROLE" = control-plane ]; then ports="6443 10250 2379 2380"; else ports="10250"; fi
    listening=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    busy=""
    for p in $ports; do
        if printf '%s\n' "$listening" | grep -qx "$p"; then busy="$busy $p"; fi
    done
    if [ -z "$busy" ]; then
        check ports 1 "free: $ports"
    elif [ -e /etc/kubernetes/admin.conf ] || [ -e /etc/kubernetes/kubelet.conf ]; then
        check ports 1 "held by the cluster:$busy"
    else
        check ports 0 "in use:$busy"
    fi

    cpus=$(nproc)
    if [ "$ROLE" = control-plane ] && [ "$cpus" -lt 2 ]; then
        check cpus 0 "$cpus CPUs; a control plane needs 2"
    else
        check cpus 1 "$cpus CPUs"
    fi

    mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    if [ "$ROLE" = control-plane ] && [ "$mib" -lt 1700 ]; then
        check memory 0 "$mib MB; a control plane needs 1700"
    else
        check memory 1 "$mib MB"
    fi

    # kvmlab-k8s's results: "installed ...", "skipped", "unreachable REASON", "failed REASON"
    res=$(cat "$STATE/packages" 2>/dev/null)
    case $res in
    installed*) check packages 1 "$res" ;;
    skipped*) check packages 1 "skipped (install_packages: false)" ;;
    unreachable*)
        if [ "$INSTALL_PACKAGES" = auto ]; then
            check packages warn "skipped: ${res#unreachable }"
        else
            check packages 0 "${res#unreachable }"
        fi
        ;;
    "") check packages 0 "the package step did not run" ;;
    *) check packages 0 "${res#failed }" ;;
    esac

    if [ "$BOOTSTRAP" = 1 ]; then
        res=$(cat "$STATE/bootstrap" 2>/dev/null)
        if [ "$res" = ok ] && ! systemctl is-active --quiet kubelet; then
            check bootstrap 0 "kubelet is $(systemctl is-active kubelet)"
        elif [ "$res" = ok ]; then
            check bootstrap 1 "kubelet is active"
        else
            check bootstrap 0 "${res:-the bootstrap step did not run}"
        fi
    fi
fi

emit end
chmod 0644 "$tmp"
mv -f "$tmp" "$OUT"
# the whole report in one write, so kernel messages do not land inside it
cat "$OUT" >/dev/ttyS0 2>/dev/null
exit 0
